package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/eventstore"
)

// Checkpoint keeps the position of the last record the forwarder handed
// over, so that a restart resumes after it instead of replaying the log.
// Positions only grow; 0 means nothing was forwarded.
type Checkpoint interface {
	// Load returns the saved position, 0 if none was saved.
	Load(ctx context.Context) (uint64, error)
	// Save records position; once it returns, a crash keeps it.
	Save(ctx context.Context, position uint64) error
}

// MemoryCheckpoint is a Checkpoint in memory: it survives a restart of the
// bus but not of the process. The zero value is at position 0. Safe for
// concurrent use.
type MemoryCheckpoint struct {
	mu  sync.Mutex
	pos uint64
}

func (c *MemoryCheckpoint) Load(context.Context) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos, nil
}

func (c *MemoryCheckpoint) Save(_ context.Context, position uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = position
	return nil
}

// FileCheckpoint is a Checkpoint in a file holding the position in
// decimal. A save replaces the file atomically (a temporary file in the
// same directory, fsync, rename, fsync of the directory), so a crash
// leaves either the old position or the new one, never a torn file.
// Safe for concurrent use.
type FileCheckpoint struct {
	path string
	mu   sync.Mutex
}

// NewFileCheckpoint returns the checkpoint kept in the file at path. The
// directory must exist; the file is created on the first Save.
func NewFileCheckpoint(path string) *FileCheckpoint { return &FileCheckpoint{path: path} }

// Load returns the saved position; 0 if the file does not exist. A file
// that does not hold a position is an error rather than a silent replay
// from the start.
func (c *FileCheckpoint) Load(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("commands: checkpoint: %w", err)
	}
	pos, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("commands: checkpoint %s is corrupt: %w", c.path, err)
	}
	return pos, nil
}

// Save writes position durably.
func (c *FileCheckpoint) Save(ctx context.Context, position uint64) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dir := filepath.Dir(c.path)
	f, err := os.CreateTemp(dir, filepath.Base(c.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("commands: checkpoint: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("commands: checkpoint: %w", err)
		}
	}()
	if _, err = f.WriteString(strconv.FormatUint(position, 10) + "\n"); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, c.path); err != nil {
		return err
	}
	// The rename is durable only once the directory is.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Event is a record of the log as reactors receive it: the record itself
// (ID, stream, type, revision, position, data, metadata) and the decoded
// domain event. Records arrive in commit order, at least once.
type Event struct {
	eventstore.Record
	// Domain is the decoded event; nil for a type this version of
	// Switchboard does not know, which a reactor skips.
	Domain domain.Event
}

// The metadata of an event message, beside Watermill's correlation_id
// (the record's correlation id, so that middleware.CorrelationID and the
// command bus carry it on). The UUID of the message is the record's ID and
// the payload its data.
const (
	metaType        = "type"
	metaStream      = "stream"
	metaPosition    = "position"
	metaRevision    = "revision"
	metaCausationID = "causation_id"
	metaUser        = "user"
	metaTime        = "time"
	metaCommitted   = "committed"
)

// recordMessage turns a record into the message the forwarder publishes.
func recordMessage(rec eventstore.Record) *message.Message {
	msg := message.NewMessage(rec.ID.String(), message.Payload(rec.Data))
	md := msg.Metadata
	md.Set(metaType, rec.Type)
	md.Set(metaStream, rec.Stream)
	md.Set(metaPosition, strconv.FormatUint(rec.Position, 10))
	md.Set(metaRevision, strconv.FormatUint(rec.Revision, 10))
	if id := rec.Metadata.CorrelationID; id != uuid.Nil {
		md.Set(middleware.CorrelationIDMetadataKey, id.String())
	}
	if id := rec.Metadata.CausationID; id != uuid.Nil {
		md.Set(metaCausationID, id.String())
	}
	if rec.Metadata.User != "" {
		md.Set(metaUser, rec.Metadata.User)
	}
	if !rec.Metadata.Time.IsZero() {
		md.Set(metaTime, rec.Metadata.Time.Format(time.RFC3339Nano))
	}
	if !rec.Committed.IsZero() {
		md.Set(metaCommitted, rec.Committed.Format(time.RFC3339Nano))
	}
	return msg
}

// messageRecord rebuilds a record from its message. The data is the
// caller's own copy: subscribers share a message's payload.
func messageRecord(msg *message.Message) (eventstore.Record, error) {
	var (
		rec  eventstore.Record
		errs []error
	)
	parseUUID := func(key, s string) uuid.UUID {
		if s == "" {
			return uuid.Nil
		}
		id, err := uuid.Parse(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return id
	}
	parseUint := func(key string) uint64 {
		n, err := strconv.ParseUint(msg.Metadata.Get(key), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return n
	}
	parseTime := func(key string) time.Time {
		s := msg.Metadata.Get(key)
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return t
	}
	rec.ID = parseUUID("uuid", msg.UUID)
	rec.Stream = msg.Metadata.Get(metaStream)
	rec.Type = msg.Metadata.Get(metaType)
	rec.Data = bytes.Clone(msg.Payload)
	rec.Position = parseUint(metaPosition)
	rec.Revision = parseUint(metaRevision)
	rec.Committed = parseTime(metaCommitted)
	rec.Metadata = eventstore.Metadata{
		CorrelationID: parseUUID(middleware.CorrelationIDMetadataKey, msg.Metadata.Get(middleware.CorrelationIDMetadataKey)),
		CausationID:   parseUUID(metaCausationID, msg.Metadata.Get(metaCausationID)),
		User:          msg.Metadata.Get(metaUser),
		Time:          parseTime(metaTime),
	}
	if rec.ID == uuid.Nil || rec.Type == "" || rec.Stream == "" {
		errs = append(errs, errors.New("no record ID, type or stream"))
	}
	if err := errors.Join(errs...); err != nil {
		return eventstore.Record{}, permanentError{fmt.Errorf("commands: message %s is not a record: %w", msg.UUID, err)}
	}
	return rec, nil
}

// eventName is the cqrs name of every message on the events topic: every
// event handler receives every record.
const eventName = "switchboard.Event"

// eventMarshaler is the cqrs marshaler of the events topic: it rebuilds an
// *Event from a record's message. Every message has the same name, so
// that cqrs gives each handler every record rather than filtering by Go
// type.
type eventMarshaler struct{}

func (eventMarshaler) Marshal(v any) (*message.Message, error) {
	switch e := v.(type) {
	case *Event:
		return recordMessage(e.Record), nil
	case Event:
		return recordMessage(e.Record), nil
	}
	return nil, fmt.Errorf("commands: cannot marshal %T as an event", v)
}

// Unmarshal fills v, an *Event. A type the codec does not know leaves
// Domain nil; malformed data is a permanent error (to the poison topic,
// without retries).
func (eventMarshaler) Unmarshal(msg *message.Message, v any) error {
	e, ok := v.(*Event)
	if !ok {
		return fmt.Errorf("commands: cannot unmarshal an event into %T", v)
	}
	rec, err := messageRecord(msg)
	if err != nil {
		return err
	}
	ev, err := codec.Decode(rec.Type, rec.Data)
	if err != nil && !errors.Is(err, codec.ErrUnknownType) {
		return permanentError{fmt.Errorf("commands: record %d: %w", rec.Position, err)}
	}
	*e = Event{Record: rec, Domain: ev}
	return nil
}

func (eventMarshaler) Name(any) string                         { return eventName }
func (eventMarshaler) NameFromMessage(*message.Message) string { return eventName }

// eventFromRecord decodes a record as reactors see it.
func eventFromRecord(rec eventstore.Record) (*Event, error) {
	ev, err := codec.Decode(rec.Type, rec.Data)
	if err != nil && !errors.Is(err, codec.ErrUnknownType) {
		return nil, fmt.Errorf("commands: record %d: %w", rec.Position, err)
	}
	return &Event{Record: rec, Domain: ev}, nil
}

// forwarder publishes the store's ordered feed onto the events topic, one
// message per record, and keeps a checkpoint of what it published.
//
// Delivery is at least once. Publish returns once the pub/sub has the
// record safe (GoChannel: every reactor handled it; a broker: persisted),
// and only then does the position count as forwarded. The checkpoint is
// saved every `every` records, `interval` after an unsaved record, and on
// stop; a crash in between forwards the unsaved records again.
type forwarder struct {
	store    eventstore.Store
	pub      message.Publisher
	topic    string
	cp       Checkpoint
	every    int
	interval time.Duration
	logger   watermill.LoggerAdapter

	// observers see every record before it is published (set by Run).
	observers []Observer
	// selectors choose the records to publish; selectAll: some reactor
	// takes every record (set by Run).
	selectors []Selector
	selectAll bool

	// aborted: the bus is tearing the pub/sub down under a Publish in
	// flight, which may then return without the record being handled.
	aborted atomic.Bool
}

// abort tells the forwarder that the Publish in flight, if any, may end
// without its record being handled: it must not count as forwarded.
// Called before the pub/subs close.
func (f *forwarder) abort() { f.aborted.Store(true) }

// run forwards the records after position from until ctx ends or
// forwarding fails, and saves the checkpoint before returning.
func (f *forwarder) run(ctx context.Context, from uint64) (err error) {
	sub, err := f.store.Subscribe(ctx, from)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("commands: forwarder: %w", err)
	}
	defer sub.Close()

	pos, saved := from, from
	var unsavedSince time.Time
	save := func(ctx context.Context) error {
		if pos == saved {
			return nil
		}
		if err := f.cp.Save(ctx, pos); err != nil {
			return err
		}
		saved = pos
		return nil
	}
	defer func() {
		if serr := save(context.WithoutCancel(ctx)); serr != nil {
			err = errors.Join(err, fmt.Errorf("commands: forwarder: save checkpoint %d: %w", pos, serr))
		}
	}()

	// While a position is unsaved, Next waits with a deadline at which
	// to save if no record comes (a Next ended by its context loses
	// nothing).
	var saveBy deadlineCtx
	defer saveBy.stop()
	for {
		next := ctx
		if pos != saved {
			next = saveBy.at(ctx, unsavedSince.Add(f.interval))
		}
		rec, err := sub.Next(next)
		switch {
		case ctx.Err() != nil:
			// Stopping; a record Next may have returned is not published,
			// so it is not forwarded: the next run starts with it.
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			if err := save(ctx); err != nil {
				f.logger.Error("Saving the checkpoint failed; retrying later", err, watermill.LogFields{"position": pos})
				unsavedSince = time.Now()
			}
			continue
		case err != nil:
			return fmt.Errorf("commands: forwarder: %w", err)
		}
		if rec.Position <= pos {
			continue // never from a conforming store; harmless to skip
		}
		if err := f.observe(ctx, rec); err != nil {
			return err
		}
		if f.selects(rec) {
			if err := f.pub.Publish(f.topic, recordMessage(rec)); err != nil {
				return fmt.Errorf("commands: forwarder: publish position %d: %w", rec.Position, err)
			}
			if f.aborted.Load() {
				return nil
			}
		}
		if pos == saved {
			unsavedSince = time.Now()
		}
		pos = rec.Position
		if pos-saved >= uint64(f.every) {
			if err := save(ctx); err != nil {
				f.logger.Error("Saving the checkpoint failed; retrying later", err, watermill.LogFields{"position": pos})
			}
		}
	}
}

// observe hands a record to the observers. A record the codec cannot
// decode reaches them without its domain event (they ignore it), as it
// reaches the handlers: one bad record must not stop the feed.
func (f *forwarder) observe(ctx context.Context, rec eventstore.Record) error {
	if len(f.observers) == 0 {
		return nil
	}
	e := &Event{Record: rec}
	if f.decodes(rec.Type) {
		var err error
		if e, err = eventFromRecord(rec); err != nil {
			f.logger.Error("Undecodable record: observers see it without its event", err, watermill.LogFields{"position": rec.Position, "type": rec.Type})
			e = &Event{Record: rec}
		}
	}
	for _, o := range f.observers {
		if err := o.Observe(ctx, e); err != nil {
			return fmt.Errorf("commands: forwarder: observer %T at position %d: %w", o, rec.Position, err)
		}
	}
	return nil
}

// decodes reports whether some observer reads records of type typ.
func (f *forwarder) decodes(typ string) bool {
	for _, o := range f.observers {
		if tf, ok := o.(TypeFilter); !ok || tf.Observes(typ) {
			return true
		}
	}
	return false
}

// selects reports whether some reactor takes rec.
func (f *forwarder) selects(rec eventstore.Record) bool {
	if f.selectAll {
		return true
	}
	for _, sel := range f.selectors {
		if sel.Selects(rec) {
			return true
		}
	}
	return false
}

// selectorsOf returns the reactors' selectors, and whether some reactor
// is no Selector and so takes every record.
func selectorsOf(reactors []cqrs.EventHandler) (sels []Selector, all bool) {
	for _, r := range reactors {
		sel, ok := r.(Selector)
		if !ok {
			return nil, true
		}
		sels = append(sels, sel)
	}
	return sels, false
}

// deadlineCtx is a context with a deadline that serves every wait until the
// deadline moves: one context per unsaved stretch, not one per record.
type deadlineCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
	when   time.Time
}

// at returns a context of parent that ends at when.
func (d *deadlineCtx) at(parent context.Context, when time.Time) context.Context {
	if d.ctx == nil || !when.Equal(d.when) {
		d.stop()
		d.ctx, d.cancel = context.WithDeadline(parent, when)
		d.when = when
	}
	return d.ctx
}

func (d *deadlineCtx) stop() {
	if d.cancel != nil {
		d.cancel()
	}
}
