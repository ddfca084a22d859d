package kurrentdb

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"switchboard/eventstore"
)

// index is the position map: the store's records in $all order, built by
// the log follower from a filtered catch-up subscription to $all. Record
// n (the port's position n, from 1) is the n-th event of $all that the
// store owns (see Store.ours); slots[n-1] holds its KurrentDB position,
// stream and revision. Because the numbering depends only on the order of
// $all, every process that follows the same database numbers the same
// way, and a restart rebuilds the same map.
//
// It also indexes record IDs (first occurrence wins), so that appends can
// tell a retry from a new record and refuse an ID used elsewhere, and the
// revisions of each stream, so that stream reads get their positions.
//
// Memory is about 80 bytes per record; the map is rebuilt by reading the
// store's part of $all when the store opens. Besides, it keeps the newest
// records themselves (a ring of Options.CacheRecords, data up to
// maxCachedData each), so that reads of recent records, the common case
// of a command handler reloading a stream, need no call to the server.
//
// Invariants, under mu: slots are in increasing KurrentDB position;
// streams[name].ords[r-first] is the position of revision r; every ID in
// ids maps to a slot with that ID. changed is closed and replaced after
// every change, and when err is set. Once err is set (the store closed,
// or $all contradicted the map), it never clears.
type index struct {
	mu         sync.RWMutex
	slots      []slot
	streams    map[string]*streamIndex
	byNum      []*streamIndex // streams by slot.stream
	ids        map[uuid.UUID]uint64
	cache      []eventstore.Record // cache[p % len] is record p if its Position is p
	cacheBytes int                 // bytes of data in cache
	changed    chan struct{}
	err        error
}

// The cache keeps records with at most maxCachedData bytes of data, and at
// most cacheBudget bytes of data in all.
const (
	maxCachedData = 64 << 10
	cacheBudget   = 32 << 20
)

type slot struct {
	pos    esdb.Position
	rev    uint64
	stream uint32
}

type streamIndex struct {
	name  string
	num   uint32   // index in byNum
	first uint64   // revision of ords[0]: 0 unless the stream's start is gone from $all
	ords  []uint64 // positions of revisions first, first+1, …
}

func newIndex(cacheRecords int) *index {
	return &index{
		streams: make(map[string]*streamIndex),
		ids:     make(map[uuid.UUID]uint64),
		cache:   make([]eventstore.Record, max(cacheRecords, 0)),
		changed: make(chan struct{}),
	}
}

func lessPos(a, b esdb.Position) bool {
	return a.Commit < b.Commit || (a.Commit == b.Commit && a.Prepare < b.Prepare)
}

// add appends r, the next record of $all, at KurrentDB position pos (its
// Position is set here). A record at or before the last one (a
// subscription that replayed what it had sent) is ignored. A stream whose
// revisions jump breaks the map for good: positions could no longer be
// trusted.
func (x *index) add(r eventstore.Record, pos esdb.Position) error {
	stream, rev, id := r.Stream, r.Revision, r.ID
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err != nil {
		return x.err
	}
	if n := len(x.slots); n > 0 && !lessPos(x.slots[n-1].pos, pos) {
		return nil
	}
	st := x.streams[stream]
	if st == nil {
		st = &streamIndex{name: stream, first: rev, num: uint32(len(x.byNum))}
		x.streams[stream] = st
		x.byNum = append(x.byNum, st)
	} else if want := st.first + uint64(len(st.ords)); rev != want {
		x.err = fmt.Errorf("%w: kurrentdb: $all holds revision %d of %q where %d was due (events removed by a scavenge, $maxCount or $tb? positions would shift)",
			eventstore.ErrCorrupt, rev, stream, want)
		x.notify()
		return x.err
	}
	x.slots = append(x.slots, slot{pos: pos, rev: rev, stream: st.num})
	p := uint64(len(x.slots))
	st.ords = append(st.ords, p)
	if _, dup := x.ids[id]; !dup {
		x.ids[id] = p
	}
	if n := uint64(len(x.cache)); n > 0 {
		r.Position = p
		x.cacheBytes -= len(x.cache[p%n].Data)
		if len(r.Data) > maxCachedData || x.cacheBytes+len(r.Data) > cacheBudget {
			r = eventstore.Record{} // too big to keep
		}
		x.cacheBytes += len(r.Data)
		x.cache[p%n] = r
	}
	x.notify()
	return nil
}

// fromCache returns the record at position p if the cache has it (mu held).
func (x *index) fromCache(p uint64) (eventstore.Record, bool) {
	n := uint64(len(x.cache))
	if n == 0 {
		return eventstore.Record{}, false
	}
	r := x.cache[p%n]
	if r.Position != p {
		return eventstore.Record{}, false
	}
	r.Data = append([]byte(nil), r.Data...) // the caller's own copy
	return r, true
}

// cachedRange returns records from..to if the cache has them all.
func (x *index) cachedRange(from, to uint64) ([]eventstore.Record, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.err != nil || to > uint64(len(x.slots)) {
		return nil, false
	}
	out := make([]eventstore.Record, 0, to-from+1)
	for p := from; p <= to; p++ {
		r, ok := x.fromCache(p)
		if !ok {
			return nil, false
		}
		out = append(out, r)
	}
	return out, true
}

// cachedStream answers a stream read from the map (ok true) when the map
// knows the stream and the cache has every record the read covers, up to
// the last revision the map knows.
func (x *index) cachedStream(stream string, backwards bool, from uint64, limit int) ([]eventstore.Record, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	st := x.streams[stream]
	if x.err != nil || st == nil || len(st.ords) == 0 || limit <= 0 {
		return nil, false
	}
	last := st.first + uint64(len(st.ords)) - 1
	var revs []uint64
	if !backwards {
		if from < st.first {
			return nil, false
		}
		for r := from; r <= last && len(revs) < limit; r++ {
			revs = append(revs, r)
		}
	} else {
		for r := min(from, last); len(revs) < limit; r-- {
			if r < st.first {
				return nil, false // older records are gone from $all
			}
			revs = append(revs, r)
			if r == 0 {
				break
			}
		}
	}
	out := make([]eventstore.Record, 0, len(revs))
	for _, r := range revs {
		rec, ok := x.fromCache(st.ords[r-st.first])
		if !ok {
			return nil, false
		}
		out = append(out, rec)
	}
	return out, true
}

// notify wakes everyone waiting for a change (mu held for writing).
func (x *index) notify() {
	close(x.changed)
	x.changed = make(chan struct{})
}

// fail breaks the map with err (the first error sticks) and wakes waiters.
func (x *index) fail(err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err == nil {
		x.err = err
		x.notify()
	}
}

func (x *index) head() (uint64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return uint64(len(x.slots)), x.err
}

// lastRev is the last revision of stream the map knows (mu held), or
// NoRevision.
func (x *index) lastRev(stream string) int64 {
	st := x.streams[stream]
	if st == nil || len(st.ords) == 0 {
		return eventstore.NoRevision
	}
	return int64(st.first) + int64(len(st.ords)) - 1
}

// hit is where the map holds a record ID; pos 0 means nowhere.
type hit struct {
	stream string
	rev    uint64
	pos    uint64
}

// lookup returns where the map holds each of ids, how many it holds, and
// the last revision of stream.
func (x *index) lookup(stream string, ids []uuid.UUID) ([]hit, int, int64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	hits, known := make([]hit, len(ids)), 0
	for i, id := range ids {
		if p, ok := x.ids[id]; ok {
			s := x.slots[p-1]
			hits[i] = hit{stream: x.byNum[s.stream].name, rev: s.rev, pos: p}
			known++
		}
	}
	return hits, known, x.lastRev(stream), x.err
}

// start returns where a subscription after position `after` starts in
// $all: the KurrentDB position of record `after` (exclusive), or of the
// last record when `after` is beyond it, or the start.
func (x *index) start(after uint64) (esdb.AllPosition, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := uint64(len(x.slots))
	switch {
	case x.err != nil:
		return nil, x.err
	case after == 0 || n == 0:
		return esdb.Start{}, nil
	case after <= n:
		return x.slots[after-1].pos, nil
	}
	return x.slots[n-1].pos, nil
}

// span returns the KurrentDB positions of records from..to (inclusive,
// all in the map) and of the record before from (the zero Position and
// false for the first record).
func (x *index) span(from, to uint64) ([]esdb.Position, esdb.Position, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]esdb.Position, 0, to-from+1)
	for p := from; p <= to; p++ {
		out = append(out, x.slots[p-1].pos)
	}
	if from == 1 {
		return out, esdb.Position{}, false
	}
	return out, x.slots[from-2].pos, true
}

// await waits until cond (called with mu held for reading) holds, the map
// fails, or ctx ends.
func (x *index) await(ctx context.Context, cond func() bool) error {
	for {
		x.mu.RLock()
		err, ok, ch := x.err, false, x.changed
		if err == nil {
			ok = cond()
		}
		x.mu.RUnlock()
		switch {
		case err != nil:
			return err
		case ok:
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// positionAt returns the record at KurrentDB position pos, waiting until
// the map has reached pos; 0 means the map holds no record there.
func (x *index) positionAt(ctx context.Context, pos esdb.Position) (uint64, error) {
	var p uint64
	err := x.await(ctx, func() bool {
		n := len(x.slots)
		if n == 0 || lessPos(x.slots[n-1].pos, pos) {
			return false
		}
		i := sort.Search(n, func(i int) bool { return !lessPos(x.slots[i].pos, pos) })
		if x.slots[i].pos == pos {
			p = uint64(i) + 1
		}
		return true
	})
	return p, err
}

// positionOf returns the position of revision rev of stream, waiting
// until the map holds it.
func (x *index) positionOf(ctx context.Context, stream string, rev uint64) (uint64, error) {
	var p uint64
	err := x.await(ctx, func() bool {
		st := x.streams[stream]
		if st == nil || rev >= st.first+uint64(len(st.ords)) {
			return false
		}
		if rev >= st.first {
			p = st.ords[rev-st.first]
		}
		return true
	})
	return p, err
}

// appended waits until the map holds revision rev of stream, and returns
// where the record with ID last is.
func (x *index) appended(ctx context.Context, stream string, rev uint64, last uuid.UUID) (eventstore.AppendResult, error) {
	var res eventstore.AppendResult
	found := false
	err := x.await(ctx, func() bool {
		if x.lastRev(stream) < int64(rev) {
			return false
		}
		if p, ok := x.ids[last]; ok {
			if s := x.slots[p-1]; x.byNum[s.stream].name == stream {
				res, found = eventstore.AppendResult{Revision: s.rev, Position: p}, true
			}
		}
		return true
	})
	if err == nil && !found {
		err = fmt.Errorf("kurrentdb: the server acknowledged the append to %q at revision %d, but record %s is not in the stream", stream, rev, last)
	}
	return res, err
}
