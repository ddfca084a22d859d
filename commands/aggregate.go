package commands

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/eventstore"
)

// ErrIDReused: a client reused a command id for a different command on the
// same aggregate, so its events collide with the original's.
var ErrIDReused = errors.New("commands: command id already used for another command")

// ErrConflict: the aggregate kept changing under the command (other nodes
// writing to the same stream) through every retry. Retryable.
var ErrConflict = errors.New("commands: too much contention, try again")

// maxAttempts bounds the optimistic-concurrency retries of one command.
// Conflicts come only from other nodes (commands of one aggregate are
// serialised on a node), so a loser retries against at most a few
// writers; the jittered backoff below lets it through.
const maxAttempts = 32

// Meta is who and what caused a command. It becomes the metadata of the
// events it appends and determines their IDs.
type Meta struct {
	// User is the acting user's handle; empty for the system.
	User string
	// CommandID identifies the command: the events it produces get IDs
	// derived from it and the stream, so repeating the command appends
	// nothing. Derive it with ClientCommandID or ReactionID.
	CommandID uuid.UUID
	// CorrelationID ties the events to the outside request; zero means the
	// command id.
	CorrelationID uuid.UUID
	// CausationID is the event or request that caused the command.
	CausationID uuid.UUID
	// At is when the command was decided (the handler's clock).
	At time.Time
}

// namespaces of the UUIDv5 derivations (random, fixed forever: changing them
// breaks idempotency across versions).
var (
	nsClient   = uuid.MustParse("6f2b8f8e-4c2a-4b8e-9a53-5d8f3f0a7c11")
	nsReaction = uuid.MustParse("0c7e3a52-9d1b-4f6e-8b2a-3e5f7a9c1d24")
	nsSystem   = uuid.MustParse("b4d1c9e7-2a6f-4c83-9e05-7f1a2b3c4d5e")
)

// ClientCommandID derives a command's id from the acting user and the id
// the client chose for it (the `id` of a WebSocket frame). The scope of a
// client id is one user.
func ClientCommandID(user, clientID string) uuid.UUID {
	return nameUUID(nsClient, user, "\x00", clientID)
}

// ReactionID derives the id of a command a reactor issues in response to
// an event, so a redelivered event never acts twice. what distinguishes
// several reactions to one event ("reserve", "reply").
func ReactionID(trigger uuid.UUID, what string) uuid.UUID {
	return nameUUID(nsReaction, string(trigger[:]), what)
}

// SystemCommandID derives the id of a command the system issues on its own
// account (seeding, sweeping) from a description that is unique to it.
func SystemCommandID(what string) uuid.UUID {
	return nameUUID(nsSystem, what)
}

// eventID derives the ID of the i-th event a command appends to a stream.
func eventID(cmd uuid.UUID, stream string, i int) uuid.UUID {
	return nameUUID(cmd, stream, "\x00", strconv.Itoa(i))
}

// nameUUID is uuid.NewSHA1(space, name), name being the concatenation of
// parts, without allocating when the name is short: every command and
// event ID is one, so this is on the path of every message.
func nameUUID(space uuid.UUID, parts ...string) uuid.UUID {
	var arr [192]byte
	b := append(arr[:0], space[:]...)
	for _, p := range parts {
		b = append(b, p...)
	}
	sum := sha1.Sum(b)
	var u uuid.UUID
	copy(u[:], sum[:])
	u[6] = u[6]&0x0f | 0x50 // version 5 (name-based, SHA-1)
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}

// kind describes one aggregate type to the shared loop.
type kind[S, C any] struct {
	// initial is the state of an aggregate with no events; nil means S's
	// zero value.
	initial func() S
	stream  func(id string) string
	decide  func(S, C, domain.Policy) ([]domain.Event, error)
	evolve  func(S, domain.Event) S
}

// entry is a cached aggregate. mu serialises the commands of one aggregate
// on this node (so they do not conflict with each other) and guards the
// fields.
type entry[S any] struct {
	mu     sync.Mutex
	state  S
	rev    int64 // last revision folded into state; NoRevision for none
	loaded bool
}

// repo runs commands against one aggregate type: load (from the cache, or
// by folding the stream), decide, append with the expected revision, and on
// a conflict fold only the new events and decide again.
type repo[S, C any] struct {
	k      kind[S, C]
	store  eventstore.Store
	policy domain.Policy
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*entry[S]
	max     int

	// shared: other processes append to the store (Config.Shared).
	shared bool
}

func newRepo[S, C any](k kind[S, C], store eventstore.Store, policy domain.Policy, maxCached int, shared bool) *repo[S, C] {
	return &repo[S, C]{k: k, store: store, policy: policy, entries: map[string]*entry[S]{}, max: maxCached, shared: shared}
}

// outcome is what a command did.
type outcome struct {
	// Events are the events appended, or nil when the command changed
	// nothing (or was a duplicate).
	Events []domain.Event
	// Result is where the events landed; zero when nothing was appended.
	Result eventstore.AppendResult
}

// entry returns the cache entry of id, evicting others when the cache is
// full. Eviction skips entries in use (their lock is held).
func (r *repo[S, C]) entry(id string) *entry[S] {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[id]
	if e == nil {
		if len(r.entries) >= r.max {
			n := 0
			for k, old := range r.entries { // random order: random eviction
				if old.mu.TryLock() {
					delete(r.entries, k)
					old.loaded = false // a holder of a stale pointer reloads
					old.mu.Unlock()
					if n++; n >= r.max/8+1 {
						break
					}
				}
			}
		}
		e = &entry[S]{rev: eventstore.NoRevision}
		r.entries[id] = e
	}
	return e
}

// execute runs one command against aggregate id. decide sees the current
// state; the events it returns are appended atomically after the state's
// revision. A *domain.DuplicateError from decide is returned as it is:
// callers answer it with the original outcome.
func (r *repo[S, C]) execute(ctx context.Context, id string, cmd C, meta Meta) (outcome, error) {
	e := r.entry(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	stream := r.k.stream(id)
	caughtUp := !r.shared
	if !e.loaded {
		if err := r.load(ctx, e, stream, true); err != nil {
			return outcome{}, err
		}
		caughtUp = true
	}
	for attempt := 1; ; attempt++ {
		events, err := r.k.decide(e.state, cmd, r.policy)
		if err != nil || len(events) == 0 {
			if !caughtUp {
				// Another node may have appended since the cache was
				// filled: a refusal or a no-op stands only against the
				// stream's newest records.
				caughtUp = true
				before := e.rev
				if lerr := r.load(ctx, e, stream, false); lerr != nil {
					return outcome{}, lerr
				}
				if e.rev != before {
					continue
				}
			}
			return outcome{}, err
		}
		recs, err := encode(events, stream, meta)
		if err != nil {
			return outcome{}, err
		}
		expected := eventstore.NoStream
		if e.rev != eventstore.NoRevision {
			expected = eventstore.Exact(uint64(e.rev))
		}
		res, err := r.store.Append(ctx, stream, expected, recs)
		switch {
		case err == nil:
			if res.Revision != uint64(e.rev+int64(len(events))) {
				// An idempotent retry of an append whose outcome we did not
				// learn: the log has it, our state does not. Fold it in and
				// decide again, which now sees the duplicate.
				if err := r.load(ctx, e, stream, false); err != nil {
					return outcome{}, err
				}
				continue
			}
			for _, ev := range events {
				e.state = r.k.evolve(e.state, ev)
			}
			e.rev = int64(res.Revision)
			return outcome{Events: events, Result: res}, nil
		case errors.Is(err, eventstore.ErrWrongExpectedVersion):
			if attempt >= maxAttempts {
				return outcome{}, ErrConflict
			}
			if err := r.load(ctx, e, stream, false); err != nil {
				return outcome{}, err
			}
			// Back off a little, with jitter, so that contending nodes
			// do not retry in lockstep.
			backoff := min(time.Duration(attempt)*time.Millisecond, 10*time.Millisecond)
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(backoff)))):
			case <-ctx.Done():
				return outcome{}, ctx.Err()
			}
		case errors.Is(err, eventstore.ErrIDConflict):
			// Either the events of an earlier attempt landed without our
			// knowing (fold them in and decide again: the decider sees the
			// duplicate), or the client reused its id for another command.
			if attempt >= 2 {
				return outcome{}, ErrIDReused
			}
			if err := r.load(ctx, e, stream, false); err != nil {
				return outcome{}, err
			}
		default:
			// Unknown outcome (unavailable, full, cancelled): the append may
			// or may not have landed, so reload before the next command.
			e.loaded = false
			return outcome{}, err
		}
	}
}

// read runs fn on the current state of aggregate id (loading it if needed),
// under the aggregate's lock: fn must not keep the state.
func (r *repo[S, C]) read(ctx context.Context, id string, fn func(S)) error {
	e := r.entry(id)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded {
		if err := r.load(ctx, e, r.k.stream(id), true); err != nil {
			return err
		}
	} else if r.shared {
		if err := r.load(ctx, e, r.k.stream(id), false); err != nil {
			return err
		}
	}
	fn(e.state)
	return nil
}

// load folds the stream into e: all of it when fresh, else only the events
// after e.rev.
func (r *repo[S, C]) load(ctx context.Context, e *entry[S], stream string, fresh bool) error {
	if fresh {
		var zero S
		if r.k.initial != nil {
			zero = r.k.initial()
		}
		e.state, e.rev = zero, eventstore.NoRevision
	}
	for {
		recs, err := r.store.ReadStream(ctx, stream, eventstore.Forwards, uint64(e.rev+1), 1000)
		if err != nil {
			e.loaded = false
			return err
		}
		for _, rec := range recs {
			ev, err := codec.Decode(rec.Type, rec.Data)
			if err != nil {
				e.loaded = false
				return fmt.Errorf("commands: %s revision %d: %w", stream, rec.Revision, err)
			}
			e.state = r.k.evolve(e.state, ev)
			e.rev = int64(rec.Revision)
		}
		if len(recs) < 1000 {
			e.loaded = true
			return nil
		}
	}
}

// encode turns events into records with IDs derived from the command.
func encode(events []domain.Event, stream string, meta Meta) ([]eventstore.Proposed, error) {
	corr := meta.CorrelationID
	if corr == uuid.Nil {
		corr = meta.CommandID
	}
	recs := make([]eventstore.Proposed, len(events))
	for i, ev := range events {
		typ, data, err := codec.Encode(ev)
		if err != nil {
			return nil, err
		}
		recs[i] = eventstore.Proposed{
			ID:   eventID(meta.CommandID, stream, i),
			Type: typ,
			Data: data,
			Metadata: eventstore.Metadata{
				CorrelationID: corr,
				CausationID:   meta.CausationID,
				User:          meta.User,
				Time:          meta.At,
			},
		}
	}
	return recs, nil
}
