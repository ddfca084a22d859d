package memstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// Store is an in-memory event log. It is safe for concurrent use.
//
// Invariants, all guarded by mu:
//   - log[i].Position == i+1: positions are contiguous from 1 in commit
//     order, so a position is also an index.
//   - streams[name][r] is the position of the record with revision r of
//     stream name: revisions are contiguous from 0.
//   - ids[id] is the position of the record with that ID; every record in
//     log is in ids exactly once.
//   - changed is closed, and replaced by a fresh channel, after every
//     commit and on Close. Subscribers wait on it instead of being pushed
//     to, so a subscriber that does not read costs the writer nothing.
//
// There is one lock and no lock order to respect. Records are copied on
// the way in and on the way out: the log never shares Data with callers.
type Store struct {
	mu      sync.Mutex
	closed  bool
	log     []eventstore.Record
	streams map[string][]uint64
	ids     map[uuid.UUID]uint64
	changed chan struct{}
}

// New returns an empty store.
func New() *Store {
	return &Store{
		streams: make(map[string][]uint64),
		ids:     make(map[uuid.UUID]uint64),
		changed: make(chan struct{}),
	}
}

// Append implements eventstore.Store. It validates the input with
// eventstore.ValidateAppend before looking at the log, resolves idempotent
// retries before the expected-revision check (a retry succeeds whatever
// expected says), and commits all records under one lock hold, so they get
// contiguous revisions and positions and readers see all or none of them.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, records []eventstore.Proposed) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, expected, records); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}

	if res, done, err := s.retried(stream, records); done || err != nil {
		return res, err
	}

	revs := s.streams[stream]
	actual := int64(len(revs)) - 1 // NoRevision (-1) for a stream with no records
	if err := eventstore.CheckExpected(stream, expected, actual); err != nil {
		return eventstore.AppendResult{}, err
	}

	committed := time.Now().Round(0) // no monotonic reading: a stored time is a wall-clock fact
	for _, p := range records {
		pos := uint64(len(s.log)) + 1
		s.log = append(s.log, eventstore.Record{
			ID:        p.ID,
			Stream:    stream,
			Type:      p.Type,
			Data:      bytes.Clone(p.Data),
			Metadata:  p.Metadata,
			Revision:  uint64(len(revs)),
			Position:  pos,
			Committed: committed,
		})
		revs = append(revs, pos)
		s.ids[p.ID] = pos
	}
	s.streams[stream] = revs

	close(s.changed)
	s.changed = make(chan struct{})

	return eventstore.AppendResult{Revision: uint64(len(revs)) - 1, Position: uint64(len(s.log))}, nil
}

// retried decides whether records were appended before. done is false when
// none of their IDs is known (a new append). When all of them are, it
// returns the result of the original append (the revision and position of
// the last of them) with done set, provided they sit consecutively and in
// order in the same stream with the same type and data; metadata is not
// compared, because a retry may be re-stamped by the caller. Anything
// else, including a partial overlap, is ErrIDConflict: the caller reused
// an ID for different content, and writing or acknowledging either way
// would hide that.
//
// It must be called with s.mu held.
func (s *Store) retried(stream string, records []eventstore.Proposed) (res eventstore.AppendResult, done bool, err error) {
	known := 0
	for _, p := range records {
		if _, ok := s.ids[p.ID]; ok {
			known++
		}
	}
	if known == 0 {
		return eventstore.AppendResult{}, false, nil
	}
	if known < len(records) {
		return eventstore.AppendResult{}, false, fmt.Errorf("%w: %d of the %d records were appended before, the others not", eventstore.ErrIDConflict, known, len(records))
	}
	var prev *eventstore.Record
	for i, p := range records {
		r := &s.log[s.ids[p.ID]-1]
		switch {
		case r.Stream != stream:
			return eventstore.AppendResult{}, false, fmt.Errorf("%w: record %d (%s) was appended to stream %q", eventstore.ErrIDConflict, i, p.ID, r.Stream)
		case prev != nil && r.Revision != prev.Revision+1:
			return eventstore.AppendResult{}, false, fmt.Errorf("%w: record %d (%s) does not follow record %d in %q", eventstore.ErrIDConflict, i, p.ID, i-1, stream)
		case r.Type != p.Type || !bytes.Equal(r.Data, p.Data):
			return eventstore.AppendResult{}, false, fmt.Errorf("%w: record %d (%s) was appended with other type or data", eventstore.ErrIDConflict, i, p.ID)
		}
		prev = r
	}
	return eventstore.AppendResult{Revision: prev.Revision, Position: prev.Position}, true, nil
}

// ReadStream implements eventstore.Store. A backwards read from any
// revision past the last record (End included) starts at the last record;
// a forwards read from past the last record is empty. A limit of zero or
// less reads nothing.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if dir != eventstore.Forwards && dir != eventstore.Backwards {
		return nil, fmt.Errorf("memstore: invalid direction %d", dir)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	revs := s.streams[stream]
	n := uint64(len(revs))
	if limit <= 0 || n == 0 {
		return nil, nil
	}

	var out []eventstore.Record
	if dir == eventstore.Forwards {
		for r := from; r < n && len(out) < limit; r++ {
			out = append(out, s.copyAt(revs[r]))
		}
		return out, nil
	}
	for r := min(from, n-1); len(out) < limit; r-- {
		out = append(out, s.copyAt(revs[r]))
		if r == 0 {
			break
		}
	}
	return out, nil
}

// ReadAll implements eventstore.Store. From 0 reads from the first record,
// as position 0 means "before the first record". A limit of zero or less
// reads nothing.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int) ([]eventstore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	var out []eventstore.Record
	for p := max(from, 1); p <= uint64(len(s.log)) && len(out) < limit; p++ {
		out = append(out, s.copyAt(p))
	}
	return out, nil
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, eventstore.ErrClosed
	}
	return uint64(len(s.log)), nil
}

// Close implements eventstore.Store. It wakes every waiting subscriber,
// whose Next then returns ErrClosed. Closing twice returns ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	s.closed = true
	s.log, s.streams, s.ids = nil, nil, nil
	close(s.changed)
	return nil
}

// copyAt returns a copy of the record at position p that shares no memory
// with the log. It must be called with s.mu held and 1 <= p <= len(s.log).
func (s *Store) copyAt(p uint64) eventstore.Record {
	r := s.log[p-1]
	r.Data = bytes.Clone(r.Data)
	return r
}
