package kurrentdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"switchboard/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// Options tune a Store. The zero value is the production default.
type Options struct {
	// StreamPrefix places the store in a shared database: stream s is
	// kept as StreamPrefix+s, and the store's log (positions, Head,
	// ReadAll, Subscribe) holds the streams with that prefix only. Empty
	// (the default) means the store owns every stream of the database
	// except KurrentDB's own ($-prefixed) ones. It must not start with
	// "$", and must not change once records are written. Tests use it to
	// give each store its own log in one KurrentDB.
	StreamPrefix string
	// Timeout bounds each call to the server (an append, a read, opening a
	// subscription), within the caller's context: a server that has not
	// answered by then is reported as ErrUnavailable. Zero means 10 s.
	Timeout time.Duration
	// MaxBackoff caps the wait between attempts to reach a server that
	// stopped answering (from 50 ms, doubling). Zero means 2 s.
	MaxBackoff time.Duration
	// CacheRecords is how many of the newest records the store keeps in
	// memory (those with at most 64 KiB of data, 32 MiB of data in all),
	// to serve reads of recent records without the server. Zero means
	// 16384; negative, none.
	CacheRecords int
	// Logger receives reconnection notices, and the client's own log
	// lines at debug level. Nil discards both.
	Logger *slog.Logger
}

// Validate reports every problem with o at once.
func (o Options) Validate() error {
	var errs []error
	if strings.HasPrefix(o.StreamPrefix, "$") {
		errs = append(errs, fmt.Errorf("kurrentdb: StreamPrefix %q starts with $, which KurrentDB reserves", o.StreamPrefix))
	}
	if !utf8.ValidString(o.StreamPrefix) || strings.ContainsFunc(o.StreamPrefix, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		errs = append(errs, fmt.Errorf("kurrentdb: StreamPrefix %q is not printable UTF-8", o.StreamPrefix))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("kurrentdb: Timeout %v is negative", o.Timeout))
	}
	if o.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("kurrentdb: MaxBackoff %v is negative", o.MaxBackoff))
	}
	return errors.Join(errs...)
}

func (o *Options) defaults() {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 2 * time.Second
	}
	if o.CacheRecords == 0 {
		o.CacheRecords = 16384
	}
	o.MaxBackoff = max(o.MaxBackoff, minBackoff)
}

const (
	// appendLocks is the number of stripes of the per-stream append lock.
	appendLocks = 64
	// subscriptionBuffer is how many records a subscription reads ahead
	// of its consumer; beyond it, the server holds the rest.
	subscriptionBuffer = 64
	// closeGrace bounds how long Close waits for calls stuck in the client.
	closeGrace = 5 * time.Second
)

// Store is an eventstore.Store kept in KurrentDB. It is safe for
// concurrent use.
//
// Goroutines: the log follower (follow) keeps the index; each
// subscription has a pump; each call to the server runs on its own
// goroutine (do). All are counted in wg, which Close waits for.
//
// Lock order: an append stripe (locks) before index.mu and conn.mu; mu is
// never held while taking another lock, and guards closed and subs.
type Store struct {
	opts   Options
	prefix string
	filter *esdb.SubscriptionFilter
	conn   *conn
	idx    *index
	locks  [appendLocks]chan struct{}
	log    *slog.Logger

	base    context.Context // ends when the store closes
	cancel  context.CancelFunc
	closing chan struct{}

	mu     sync.Mutex
	closed bool
	subs   map[*subscription]struct{}
	wg     sync.WaitGroup
}

// Open connects to the KurrentDB (or EventStoreDB) node or cluster that
// connString names, and returns once the store has read its part of $all
// (the position map; see the package documentation). connString is an
// esdb:// or esdb+discover:// connection string of the client, and the
// kurrentdb:// and kurrentdb+discover:// schemes are accepted as the same:
// for example "kurrentdb://localhost:2113?tls=false". TLS is on unless
// tls=false; credentials (user:pass@) are sent only over TLS.
//
// A server that cannot be reached fails Open with an error that wraps
// eventstore.ErrUnavailable (after the client's discovery attempts,
// about a second when the port is closed), and so does ctx ending first.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.defaults()
	cfg, err := parseConnString(connString)
	if err != nil {
		return nil, err
	}
	cfg.Logger = clientLogger(opts.Logger)
	c, err := newConn(*cfg, opts.MaxBackoff)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		opts:    opts,
		prefix:  opts.StreamPrefix,
		conn:    c,
		idx:     newIndex(opts.CacheRecords),
		log:     log,
		closing: make(chan struct{}),
		subs:    make(map[*subscription]struct{}),
	}
	// Server-side, the cheapest filter that keeps every record of the
	// store; ours() then decides exactly, client-side.
	if s.prefix == "" {
		s.filter = esdb.ExcludeSystemEventsFilter()
	} else {
		s.filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{s.prefix}}
	}
	for i := range s.locks {
		s.locks[i] = make(chan struct{}, 1)
	}
	s.base, s.cancel = context.WithCancel(context.Background())

	ready := make(chan error, 1)
	s.wg.Add(1)
	go s.follow(ready)
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = fmt.Errorf("%w: %w", eventstore.ErrUnavailable, ctx.Err())
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("kurrentdb: open %s: %w", c.where, err)
	}
	return s, nil
}

// follow keeps the index: a catch-up subscription to $all from the start,
// resumed after the last event it saw whenever it drops, with backoff.
// It reports on ready once it has caught up the first time, or the error
// that stopped it before that.
func (s *Store) follow(ready chan<- error) {
	defer s.wg.Done()
	var from esdb.AllPosition = esdb.Start{}
	caughtUp, failures := false, 0
	for {
		sub, err := s.subscribeAll(s.base, s.base, true, from)
		if err == nil {
			err = s.ingest(sub, &from, &caughtUp, &failures, ready)
			sub.Close()
		}
		if s.isClosed() {
			return
		}
		if errors.Is(err, eventstore.ErrCorrupt) || !caughtUp {
			if !caughtUp {
				ready <- err
			}
			s.idx.fail(err)
			return
		}
		if failures++; failures == 1 {
			s.log.Warn("kurrentdb: lost the $all subscription; reconnecting", "server", s.conn.where, "err", err)
		}
		if !s.sleep(backoff(failures, s.opts.MaxBackoff)) {
			return
		}
	}
}

// ingest feeds the index from sub until it drops, and returns why.
func (s *Store) ingest(sub *esdbSub, from *esdb.AllPosition, caughtUp *bool, failures *int, ready chan<- error) error {
	for {
		ev := sub.Recv()
		switch {
		case ev.EventAppeared != nil:
			e := ev.EventAppeared.Event
			if e == nil {
				continue
			}
			*from = e.Position
			if s.ours(e) {
				if err := s.idx.add(s.record(e, 0), e.Position); err != nil {
					return err
				}
			}
		case ev.CaughtUp != nil:
			if *failures > 0 {
				s.log.Info("kurrentdb: $all subscription restored", "server", s.conn.where)
			}
			*failures = 0
			s.conn.ok()
			if !*caughtUp {
				*caughtUp = true
				ready <- nil
			}
		case ev.SubscriptionDropped != nil:
			err := ev.SubscriptionDropped.Error
			if err == nil {
				err = errors.New("subscription dropped")
			}
			mapped, kind := s.mapError(err)
			if kind == errUnreachable && !s.isClosed() {
				s.conn.fail(err)
			}
			return mapped
		}
	}
}

// sleep waits d and reports false if the store closed first.
func (s *Store) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return false
	}
}

// esdbSub is a client subscription with the context it lives in.
type esdbSub struct {
	*esdb.Subscription
	cancel context.CancelFunc
}

func (e *esdbSub) Close() {
	_ = e.Subscription.Close()
	e.cancel()
}

// subscribeAll opens a filtered catch-up subscription to $all after from
// (or from the start). The subscription lives until life ends or it is
// closed; ctx bounds only the opening.
func (s *Store) subscribeAll(ctx, life context.Context, probe bool, from esdb.AllPosition) (*esdbSub, error) {
	var sub *esdbSub
	err := s.do(ctx, probe, func(cctx context.Context, c *esdb.Client) error {
		lctx, cancel := context.WithCancel(life)
		stop := context.AfterFunc(cctx, cancel) // opening abandoned: drop it
		es, err := c.SubscribeToAll(lctx, esdb.SubscribeToAllOptions{From: from, Filter: s.filter})
		if !stop() {
			if es != nil {
				_ = es.Close()
			}
			return cctx.Err()
		}
		if err != nil {
			cancel()
			return err
		}
		sub = &esdbSub{Subscription: es, cancel: cancel}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// ours reports whether an event of $all is one of the store's records:
// in a stream with the prefix (with no prefix: not a $ stream), and not of
// a $ type (KurrentDB's own events: links, metadata, tombstones, stats).
// The index, ReadAll and subscriptions all decide with it, which is what
// keeps their numbering the same.
func (s *Store) ours(e *esdb.RecordedEvent) bool {
	if strings.HasPrefix(e.EventType, "$") {
		return false
	}
	if s.prefix == "" {
		return !strings.HasPrefix(e.StreamID, "$")
	}
	return len(e.StreamID) > len(s.prefix) && strings.HasPrefix(e.StreamID, s.prefix)
}

// record is the port's view of event e at position pos.
func (s *Store) record(e *esdb.RecordedEvent, pos uint64) eventstore.Record {
	return eventstore.Record{
		ID:        e.EventID,
		Stream:    strings.TrimPrefix(e.StreamID, s.prefix),
		Type:      e.EventType,
		Data:      json.RawMessage(e.Data),
		Metadata:  decodeMetadata(e.UserMetadata),
		Revision:  e.EventNumber,
		Position:  pos,
		Committed: e.CreatedDate,
	}
}

// wireMetadata is a record's Metadata as the event's custom metadata
// (JSON). Correlation and causation use KurrentDB's own keys, so its
// $by_correlation_id projection and UI understand them.
type wireMetadata struct {
	CorrelationID uuid.UUID `json:"$correlationId,omitzero"`
	CausationID   uuid.UUID `json:"$causationId,omitzero"`
	User          string    `json:"user,omitempty"`
	Time          time.Time `json:"time,omitzero"`
}

func encodeMetadata(m eventstore.Metadata) []byte {
	b, err := json.Marshal(wireMetadata{CorrelationID: m.CorrelationID, CausationID: m.CausationID, User: m.User, Time: m.Time})
	if err != nil {
		// Only a time outside years 0-9999 fails to encode.
		b, _ = json.Marshal(wireMetadata{CorrelationID: m.CorrelationID, CausationID: m.CausationID, User: m.User})
	}
	return b
}

// decodeMetadata reads custom metadata; what is not the adapter's JSON
// (an event written by another tool) reads as no metadata.
func decodeMetadata(b []byte) eventstore.Metadata {
	var w wireMetadata
	if len(b) <= len("{}") || json.Unmarshal(b, &w) != nil {
		return eventstore.Metadata{}
	}
	return eventstore.Metadata{CorrelationID: w.CorrelationID, CausationID: w.CausationID, User: w.User, Time: w.Time}
}

// enter counts a goroutine that Close must wait for, unless closed.
func (s *Store) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Head implements eventstore.Store. It is this process's view: it
// includes every append this store acknowledged, and others' appends once
// the log follower has seen them (normally within milliseconds).
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.isClosed() {
		return 0, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.idx.head()
}

// Health reports whether the server answers: nil, or an error wrapping
// eventstore.ErrUnavailable with the last failure (for a readiness check).
func (s *Store) Health() error {
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	if _, err := s.idx.head(); err != nil {
		return err
	}
	return s.conn.health()
}

// Close implements eventstore.Store: it ends every subscription, waits
// for calls in flight (at most closeGrace for calls stuck in the client)
// and closes the connection. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := make([]*subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()

	close(s.closing)
	s.cancel()
	for _, sub := range subs {
		sub.Close()
	}
	s.idx.fail(eventstore.ErrClosed)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.conn.close()
	case <-time.After(closeGrace):
		// Closing the client now could panic the calls stuck in it.
		s.log.Warn("kurrentdb: calls still blocked in the client after close; leaving its connection open", "server", s.conn.where)
	}
	return nil
}
