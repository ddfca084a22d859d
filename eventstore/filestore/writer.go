package filestore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

type appendReq struct {
	stream   string
	expected eventstore.Expected
	records  []eventstore.Proposed
	size     int
	res      eventstore.AppendResult
	err      error
	done     chan struct{}
}

var reqPool = sync.Pool{New: func() any { return &appendReq{done: make(chan struct{}, 1)} }}

// Append implements eventstore.Store. It returns once the records are on
// stable storage (written and fdatasync'd); concurrent appends share one
// sync. If ctx ends first, the append may still commit: retry with the
// same record IDs to learn the outcome.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, records []eventstore.Proposed) (eventstore.AppendResult, error) {
	if s.closed.Load() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if s.opts.ReadOnly {
		return eventstore.AppendResult{}, fmt.Errorf("%w: store opened read-only", eventstore.ErrUnavailable)
	}
	if err := eventstore.ValidateAppend(stream, expected, records); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	req := reqPool.Get().(*appendReq)
	req.stream, req.expected, req.records = stream, expected, records
	req.size = 0
	for i := range records {
		req.size += frameSize(stream, &records[i])
	}
	select {
	case s.reqs <- req:
	case <-s.closing:
		return eventstore.AppendResult{}, eventstore.ErrClosed
	case <-ctx.Done():
		return eventstore.AppendResult{}, ctx.Err()
	}
	select {
	case <-req.done:
	case <-s.done:
		// The writer stopped; it answered req if it took it.
		select {
		case <-req.done:
		default:
			return eventstore.AppendResult{}, eventstore.ErrClosed
		}
	case <-ctx.Done():
		// The writer still owns req; it is not returned to the pool.
		return eventstore.AppendResult{}, ctx.Err()
	}
	res, err := req.res, req.err
	*req = appendReq{done: req.done}
	reqPool.Put(req)
	return res, err
}

// writer is the only goroutine that writes the log. It takes every append
// queued while the previous sync ran and commits them together: one write,
// one fdatasync (group commit).
func (s *Store) writer() {
	defer close(s.done)
	var batch []*appendReq
	for {
		batch = batch[:0]
		select {
		case req := <-s.reqs:
			batch = append(batch, req)
		case <-s.closing:
			s.drain(batch)
			return
		}
		size := batch[0].size
	more:
		for size < s.opts.MaxBatchBytes {
			select {
			case req := <-s.reqs:
				batch = append(batch, req)
				size += req.size
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

// drain answers the appends still queued at Close: they are committed,
// since their callers may already count on them.
func (s *Store) drain(batch []*appendReq) {
	for {
		select {
		case req := <-s.reqs:
			batch = append(batch, req)
		default:
			if len(batch) > 0 {
				s.commit(batch)
			}
			return
		}
	}
}

// pendingRec is a record placed in the batch being built.
type pendingRec struct {
	stream string
	pos    uint64
	rev    uint64
	rec    *eventstore.Proposed
}

// commit validates, writes and syncs one batch, then publishes it to the
// index and wakes subscribers. Appends that fail a check get their error
// without affecting the others.
func (s *Store) commit(batch []*appendReq) {
	s.mu.RLock()
	failed := s.failed
	head := s.head
	s.mu.RUnlock()
	if failed != nil {
		for _, req := range batch {
			s.finish(req, eventstore.AppendResult{}, fmt.Errorf("%w: %v", eventstore.ErrUnavailable, failed))
		}
		return
	}

	committed := time.Now().UnixNano()
	buf := s.batchBuf[:0]
	var recs []pendingRec
	lastRev := map[string]int64{}        // streams touched by this batch
	batchIDs := map[uuid.UUID]int{}      // index into recs
	accepted := make([]bool, len(batch)) // appends that write records
	next := head + 1
	for bi, req := range batch {
		cur, ok := lastRev[req.stream]
		if !ok {
			cur = s.streamRevision(req.stream)
		}
		// Idempotency first: a retry of a committed (or batched) append
		// answers with the original result.
		if res, dup, err := s.checkIDs(req, batchIDs, recs); dup || err != nil {
			if err != nil {
				s.finish(req, eventstore.AppendResult{}, err)
			} else {
				req.res = res // nothing to write; the original result stands
				accepted[bi] = true
			}
			continue
		}
		if err := eventstore.CheckExpected(req.stream, req.expected, cur); err != nil {
			s.finish(req, eventstore.AppendResult{}, err)
			continue
		}
		for i := range req.records {
			r := &req.records[i]
			cur++
			recs = append(recs, pendingRec{stream: req.stream, pos: next, rev: uint64(cur), rec: r})
			batchIDs[r.ID] = len(recs) - 1
			buf = appendFrame(buf, req.stream, r, next, uint64(cur), committed, i == len(req.records)-1)
			next++
		}
		lastRev[req.stream] = cur
		req.res = eventstore.AppendResult{Revision: uint64(cur), Position: next - 1}
		accepted[bi] = true
	}
	s.batchBuf = buf

	if len(recs) > 0 {
		if err := s.write(buf, head+1); err != nil {
			for bi, req := range batch {
				if accepted[bi] {
					s.finish(req, eventstore.AppendResult{}, err)
				}
			}
			return
		}
		s.publish(buf, recs)
	}
	for bi, req := range batch {
		if accepted[bi] {
			s.finish(req, req.res, nil)
		}
	}
}

func (s *Store) finish(req *appendReq, res eventstore.AppendResult, err error) {
	req.res, req.err = res, err
	req.done <- struct{}{}
}

// streamRevision returns the last committed revision of a stream, or
// NoRevision.
func (s *Store) streamRevision(name string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st := s.streams[name]; st != nil {
		return int64(len(st.positions)) - 1
	}
	return eventstore.NoRevision
}

// checkIDs looks for the append's record IDs in the log and in the batch.
// None found: not a duplicate. All found, consecutive in the same stream,
// with the same type and data: a duplicate with the original result. Any
// other overlap: ErrIDConflict.
func (s *Store) checkIDs(req *appendReq, batchIDs map[uuid.UUID]int, recs []pendingRec) (eventstore.AppendResult, bool, error) {
	type found struct {
		pos    uint64
		batchI int // -1 when committed
	}
	var hits []found
	s.mu.RLock()
	for i := range req.records {
		id := req.records[i].ID
		if p, ok := s.lookupID(id); ok {
			hits = append(hits, found{p, -1})
		} else if bi, ok := batchIDs[id]; ok {
			hits = append(hits, found{recs[bi].pos, bi})
		}
	}
	s.mu.RUnlock()
	if len(hits) == 0 {
		return eventstore.AppendResult{}, false, nil
	}
	conflict := func(why string) (eventstore.AppendResult, bool, error) {
		return eventstore.AppendResult{}, false, fmt.Errorf("%w: %s", eventstore.ErrIDConflict, why)
	}
	if len(hits) != len(req.records) {
		return conflict(fmt.Sprintf("%d of the %d record IDs were appended before", len(hits), len(req.records)))
	}
	var res eventstore.AppendResult
	var prevRev uint64
	for i, h := range hits {
		var stream, typ string
		var data []byte
		var rev uint64
		if h.batchI >= 0 {
			pr := recs[h.batchI]
			stream, typ, data, rev = pr.stream, pr.rec.Type, pr.rec.Data, pr.rev
		} else {
			got, err := s.readPositions([]uint64{h.pos})
			if err != nil {
				return eventstore.AppendResult{}, false, err
			}
			stream, typ, data, rev = got[0].Stream, got[0].Type, got[0].Data, got[0].Revision
		}
		p := &req.records[i]
		switch {
		case stream != req.stream:
			return conflict(fmt.Sprintf("record %s belongs to stream %q", p.ID, stream))
		case typ != p.Type || !bytes.Equal(data, p.Data):
			return conflict(fmt.Sprintf("record %s was appended with other contents", p.ID))
		case i > 0 && rev != prevRev+1:
			return conflict("the records were not appended together")
		}
		prevRev = rev
		res = eventstore.AppendResult{Revision: rev, Position: h.pos}
	}
	return res, true, nil
}

// write puts the batch at the end of the active segment (starting a new one
// when it is full) and syncs it. On failure the segment is cut back to
// where it was, so nothing partial remains.
func (s *Store) write(buf []byte, first uint64) error {
	seg := s.segments[len(s.segments)-1]
	if seg.size >= s.opts.SegmentSize && len(seg.offsets) > 0 {
		// A sealed segment ends with its last record: the space
		// preallocated beyond goes first (durably, before the next
		// segment exists).
		if err := s.trim(seg); err != nil {
			return s.writeErr(err, false)
		}
		if err := s.newSegment(first); err != nil {
			return s.writeErr(err, false)
		}
		s.idx.add(seg, nil) // sealed: index it in the background
		seg = s.segments[len(s.segments)-1]
	}
	end := seg.size + int64(len(buf))
	if end > seg.alloc {
		s.preallocate(seg, end)
	}
	_, err := seg.f.WriteAt(buf, seg.size)
	if err == nil {
		err = seg.f.Sync()
	}
	if err == nil {
		seg.alloc = max(seg.alloc, end)
		return nil
	}
	// Cut back and make the cut durable. If that fails too, the file no
	// longer matches the index: stop writing (fsync errors are not
	// retried, see RELIABILITY: fsyncgate).
	seg.alloc = seg.size
	if terr := seg.f.Truncate(seg.size); terr != nil {
		return s.writeErr(fmt.Errorf("%v; cutting back failed: %v", err, terr), true)
	}
	if serr := seg.f.Sync(); serr != nil && !isNoSpace(serr) {
		return s.writeErr(fmt.Errorf("%v; syncing the cut failed: %v", err, serr), true)
	}
	return s.writeErr(err, false)
}

// preallocStep is how much space the writer reserves ahead of its writes
// (at most the segment size).
const preallocStep = 4 << 20

// preallocate reserves space in the active segment up to past end, so
// that the writes which fill it do not grow the file: an fdatasync that
// need not also record a new file size and allocate blocks took a third
// less time and half the CPU on the development machine (docs/STORAGE.md).
// Durability is unchanged: fdatasync makes the written blocks' extents
// durable as written, as it must for the data to be read back. The space
// reads as zeros; an open after a crash cuts it off like a torn tail, and
// the writer trims it before sealing the segment and at Close. A failure
// (a file system without fallocate, a full disk) only means writes grow
// the file, as without preallocation; it is tried again a second later.
func (s *Store) preallocate(seg *segment, end int64) {
	a, ok := seg.f.(allocator)
	if !ok || time.Now().Before(s.allocRetryAt) {
		return
	}
	to := end + min(preallocStep, s.opts.SegmentSize)
	if err := a.Allocate(seg.alloc, to-seg.alloc); err != nil {
		s.allocRetryAt = time.Now().Add(time.Second)
		return
	}
	seg.alloc = to
}

// trim cuts the space preallocated after seg's last record off, durably.
func (s *Store) trim(seg *segment) error {
	if seg.alloc <= seg.size {
		return nil
	}
	if err := seg.f.Truncate(seg.size); err != nil {
		return fmt.Errorf("eventstore: trim %s: %w", seg.path, err)
	}
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("eventstore: trim %s: %w", seg.path, err)
	}
	seg.alloc = seg.size
	return nil
}

// writeErr classifies a failed write. A fatal error stops the writer:
// every later append fails with ErrUnavailable until the store is reopened
// (and the log re-verified).
func (s *Store) writeErr(err error, fatal bool) error {
	if fatal {
		s.mu.Lock()
		if s.failed == nil {
			s.failed = err
		}
		s.mu.Unlock()
	} else if isNoSpace(err) {
		return fmt.Errorf("%w: %v", eventstore.ErrStorageFull, err)
	}
	return fmt.Errorf("%w: %v", eventstore.ErrUnavailable, err)
}

// publish adds a synced batch to the index and wakes subscribers.
func (s *Store) publish(buf []byte, recs []pendingRec) {
	// The cache gets its own copy of the bytes; buf is reused.
	own := bytes.Clone(buf)
	s.mu.Lock()
	seg := s.segments[len(s.segments)-1]
	off := seg.size
	for _, pr := range recs {
		r, n, _ := decodeRecord(own[off-seg.size:], nil)
		seg.offsets = append(seg.offsets, off)
		off += int64(n)
		st := s.streams[pr.stream]
		if st == nil {
			st = &stream{name: pr.stream}
			s.streams[pr.stream] = st
		}
		r.Stream = st.name
		st.positions = append(st.positions, pr.pos)
		seg.addID(pr.rec.ID, pr.pos)
		s.cache.add(r)
	}
	seg.size = off
	s.head = recs[len(recs)-1].pos
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// recordCache keeps the newest records decoded, for subscribers that
// follow the head: they read from memory, not from disk.
type recordCache struct {
	ring  []eventstore.Record
	first uint64 // position of the oldest cached record (0: empty)
	n     int
}

func (c *recordCache) init(size int) { c.ring = make([]eventstore.Record, size) }

func (c *recordCache) add(r eventstore.Record) {
	if c.n == 0 {
		c.first = r.Position
	}
	c.ring[r.Position%uint64(len(c.ring))] = r
	if c.n < len(c.ring) {
		c.n++
	} else {
		c.first++
	}
}

func (c *recordCache) get(p uint64) (eventstore.Record, bool) {
	if c.n == 0 || p < c.first || p >= c.first+uint64(c.n) {
		return eventstore.Record{}, false
	}
	return c.ring[p%uint64(len(c.ring))], true
}

func (c *recordCache) rangeCopy(from, to uint64, out []eventstore.Record) ([]eventstore.Record, bool) {
	if c.n == 0 || from < c.first || to >= c.first+uint64(c.n) {
		return nil, false
	}
	// Readers get their own copy of the data: nothing they do to it can
	// reach the cache or another reader.
	out = slices.Grow(out[:0], int(to-from+1))
	size := 0
	for p := from; p <= to; p++ {
		size += len(c.ring[p%uint64(len(c.ring))].Data)
	}
	buf := make([]byte, 0, size)
	for p := from; p <= to; p++ {
		r := c.ring[p%uint64(len(c.ring))]
		start := len(buf)
		buf = append(buf, r.Data...)
		r.Data = buf[start:len(buf):len(buf)]
		out = append(out, r)
	}
	return out, true
}
