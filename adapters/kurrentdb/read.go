package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"switchboard/eventstore"
)

// ReadStream implements eventstore.Store. A read the index can answer
// (a stream it knows, every record covered in its cache, up to the last
// revision it has seen) is served from memory; any other is a stream read
// of the server, with positions from the index, waiting for a record
// another process just appended until the log follower has seen it.
// Either way the read includes every record this store appended.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.Record, error) {
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if dir != eventstore.Forwards && dir != eventstore.Backwards {
		return nil, fmt.Errorf("eventstore: invalid direction %d", dir)
	}
	// KurrentDB revisions are signed 64-bit: nothing lies beyond.
	if limit <= 0 || (dir == eventstore.Forwards && from > math.MaxInt64) {
		return nil, nil
	}
	if recs, ok := s.idx.cachedStream(stream, dir == eventstore.Backwards, from, limit); ok {
		return recs, nil
	}
	name := s.prefix + stream
	var events []*esdb.RecordedEvent
	err := s.do(ctx, false, func(ctx context.Context, c *esdb.Client) error {
		events = events[:0]
		opts := esdb.ReadStreamOptions{From: esdb.Revision(from)}
		if dir == eventstore.Backwards {
			opts.Direction = esdb.Backwards
			// Not every server starts a backwards read from a revision
			// past the end at the last record; read from the end then.
			end := from > math.MaxInt64
			if !end {
				last, err := s.lastRevision(ctx, c, stream)
				if err != nil || last < 0 {
					return err
				}
				end = from >= uint64(last)
			}
			if end {
				opts.From = esdb.End{}
			}
		}
		rs, err := c.ReadStream(ctx, name, opts, uint64(limit))
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case isNotFound(err):
				events = events[:0]
				return nil
			case err != nil:
				return err
			}
			if e := ev.Event; e != nil && s.ours(e) {
				events = append(events, e)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.Record, 0, len(events))
	for _, e := range events {
		pos, err := s.idx.positionOf(ctx, stream, e.EventNumber)
		if err != nil {
			return nil, s.closedOr(err)
		}
		if pos == 0 {
			return nil, fmt.Errorf("%w: kurrentdb: revision %d of %q is missing from $all", eventstore.ErrCorrupt, e.EventNumber, stream)
		}
		out = append(out, s.record(e, pos))
	}
	return out, nil
}

// ReadAll implements eventstore.Store: records still in the index's
// cache come from memory; otherwise the index says which KurrentDB
// positions records from..from+limit-1 have, and a read of $all from the
// record before them fetches them, skipping events that are not the
// store's. It returns what the index holds (see Head).
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int) ([]eventstore.Record, error) {
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	from = max(from, 1)
	head, err := s.idx.head()
	if err != nil {
		return nil, s.closedOr(err)
	}
	if limit <= 0 || from > head {
		return nil, nil
	}
	to := head
	if uint64(limit) < to-from+1 {
		to = from + uint64(limit) - 1
	}
	if recs, ok := s.idx.cachedRange(from, to); ok {
		return recs, nil
	}
	want, before, hasBefore := s.idx.span(from, to)
	out := make([]eventstore.Record, 0, len(want))
	err = s.do(ctx, false, func(ctx context.Context, c *esdb.Client) error {
		out = out[:0]
		// Read from the record before: whether a read from a position
		// includes the event there or not, skipping what is not after
		// it gives the same result.
		var start esdb.AllPosition = esdb.Start{}
		if hasBefore {
			start = before
		}
		for len(out) < len(want) {
			page := uint64(min(len(want)-len(out)+32, 4096))
			rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: start}, page)
			if err != nil {
				return err
			}
			n, last, done, err := s.collect(rs, want, &out, before, hasBefore, from)
			rs.Close()
			if err != nil || done {
				return err
			}
			if n < page {
				return fmt.Errorf("%w: kurrentdb: $all ends before position %d, which the index holds", eventstore.ErrCorrupt, from+uint64(len(out)))
			}
			start, before, hasBefore = last, last, true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// collect reads one page of $all into out: the store's records after
// `after` (if hasAfter), which must be exactly at the positions want
// lists. It returns how many events the page had and the position of the
// last, and whether out is full.
func (s *Store) collect(rs *esdb.ReadStream, want []esdb.Position, out *[]eventstore.Record, after esdb.Position, hasAfter bool, from uint64) (uint64, esdb.Position, bool, error) {
	n, last := uint64(0), after
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, last, false, nil
		}
		if err != nil {
			return n, last, false, err
		}
		n++
		e := ev.Event
		if e == nil || (hasAfter && !lessPos(after, e.Position)) {
			continue
		}
		last = e.Position
		if !s.ours(e) {
			continue
		}
		k := len(*out)
		if e.Position != want[k] {
			return n, last, false, fmt.Errorf("%w: kurrentdb: $all has a record at %+v where the index expects position %d at %+v", eventstore.ErrCorrupt, e.Position, from+uint64(k), want[k])
		}
		*out = append(*out, s.record(e, from+uint64(k)))
		if len(*out) == len(want) {
			return n, last, true, nil
		}
	}
}

// closedOr reports ErrClosed for an index error caused by Close.
func (s *Store) closedOr(err error) error {
	if s.isClosed() {
		return eventstore.ErrClosed
	}
	return err
}
