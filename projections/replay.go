package projections

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/eventstore"
	"switchboard/projections/internal/decode"
)

// The feed, for catching up: one goroutine reads the log and decodes each
// record once; the applier (the Runner's goroutine, or the tools' loop)
// applies the decoded records to every projection whose checkpoint is
// below them. Reading and decoding overlap with applying, which on two
// cores nearly doubles the rate of a replay. Live, one record at a time,
// the Runner reads and applies on its own goroutine instead.

// feedBatch is how many records one catch-up read asks for.
const feedBatch = 1024

// maxEntries bounds how many projections one applier feeds (the set of
// projections that applied a record is a uint64 bit mask).
const maxEntries = 64

// entry is one projection fed by an applier, with its checkpoint.
type entry struct {
	p        Projection
	notifier Notifier // nil if p is not one
	// pos is the last position applied (0: none). Written by the applier
	// only; atomic for readers of checkpoints.
	pos atomic.Uint64
	// lastID is the ID of the record at pos (applier only).
	lastID uuid.UUID
	// snapPos is the position of the newest snapshot written or being
	// written; reset to 0 by the snapshot writer when a write fails.
	snapPos atomic.Uint64
}

func newEntries(ps []Projection) ([]*entry, error) {
	if len(ps) > maxEntries {
		return nil, fmt.Errorf("projections: at most %d projections per runner", maxEntries)
	}
	seen := map[string]bool{}
	out := make([]*entry, 0, len(ps))
	for _, p := range ps {
		if seen[p.Name()] {
			return nil, fmt.Errorf("projections: two projections named %q", p.Name())
		}
		seen[p.Name()] = true
		e := &entry{p: p}
		e.notifier, _ = p.(Notifier)
		out = append(out, e)
	}
	return out, nil
}

// minPos returns the lowest checkpoint: where a feed must start.
func minPos(entries []*entry) uint64 {
	m := ^uint64(0)
	for _, e := range entries {
		m = min(m, e.pos.Load())
	}
	if len(entries) == 0 {
		return 0
	}
	return m
}

// batch is a run of consecutive records and their events; evs[i] is nil
// for a record that does not decode (it is skipped by every projection).
type batch struct {
	recs []eventstore.Record
	evs  []domain.Event
	err  error
}

// decodeRecord decodes rec for the projections; nil means skip it.
func decodeRecord(d *decode.Decoder, rec eventstore.Record, logf func(string, ...any)) domain.Event {
	ev, err := d.Decode(rec.Type, rec.Data)
	if err != nil {
		// Types the projections do not know are not an error: the log
		// may hold events of newer code or other parts of the system.
		if !errors.Is(err, codec.ErrUnknownType) {
			logf("projections: record %d (%s in %s) does not decode; every projection skips it: %v", rec.Position, rec.Type, rec.Stream, err)
		}
		return nil
	}
	return ev
}

// feed sends the records after position after up to position to,
// decoded, to out, and closes out when it stops (an error if the log ends
// before to). A failure is sent as the last batch.
func feed(ctx context.Context, store eventstore.Store, after, to uint64, out chan<- batch, logf func(string, ...any)) {
	defer close(out)
	send := func(b batch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	d := decode.NewDecoder()
	for next := after + 1; next <= to; {
		recs, err := store.ReadAll(ctx, next, int(min(feedBatch, to-next+1)))
		if err != nil {
			send(batch{err: err})
			return
		}
		switch {
		case len(recs) == 0:
			send(batch{err: fmt.Errorf("projections: the log ends before position %d (wanted up to %d)", next, to)})
			return
		case recs[0].Position != next:
			send(batch{err: fmt.Errorf("projections: the log skipped from position %d to %d", next-1, recs[0].Position)})
			return
		}
		evs := make([]domain.Event, len(recs))
		for i, rec := range recs {
			evs[i] = decodeRecord(d, rec, logf)
		}
		if !send(batch{recs: recs, evs: evs}) {
			return
		}
		next = recs[len(recs)-1].Position + 1
	}
}

// applyRecord applies one record to every entry below it and returns the
// set of entries that applied it (bit i for entries[i]).
func applyRecord(entries []*entry, rec eventstore.Record, ev domain.Event) (applied uint64) {
	for i, e := range entries {
		if e.pos.Load() >= rec.Position {
			continue
		}
		if ev != nil {
			e.p.Apply(rec, ev)
		}
		e.pos.Store(rec.Position)
		e.lastID = rec.ID
		applied |= 1 << i
	}
	return applied
}

// replay applies the records after the lowest checkpoint up to position
// to, then returns: the tools' loop.
func replay(parent context.Context, store eventstore.Store, entries []*entry, to uint64, logf func(string, ...any)) error {
	from := minPos(entries)
	if from >= to {
		return nil
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	ch := make(chan batch, 4)
	go feed(ctx, store, from, to, ch, logf)
	var err error
	for b := range ch {
		if b.err != nil {
			err = b.err
			break
		}
		for i, rec := range b.recs {
			applyRecord(entries, rec, b.evs[i])
		}
	}
	cancel()
	for range ch { // let the feeder finish
	}
	if err != nil {
		return err
	}
	if at := minPos(entries); at < to {
		if err := parent.Err(); err != nil {
			return err
		}
		return fmt.Errorf("projections: replay stopped at position %d of %d", at, to)
	}
	return nil
}
