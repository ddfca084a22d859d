package pow

import (
	"container/heap"
	"fmt"
	"sync"
	"time"
)

// spentSet remembers spent challenges until they expire, at most max of
// them, and keeps the Verifier's notion of time monotone.
//
// Invariants, all under mu:
//   - byID and queue hold the same challenges; queue is a min-heap on expiry.
//   - Entries expiring at or before last are dead: no Verify can accept
//     them any more, and the next spend evicts them.
//   - last never decreases. Expiry checks and eviction both use it, so a
//     challenge evicted as expired can never again look unexpired, even if
//     the clock steps back; without that, a backward step after an eviction
//     would let the evicted solution be spent a second time.
type spentSet struct {
	mu    sync.Mutex
	last  time.Time // latest time seen, wall clock only
	max   int
	byID  map[[32]byte]int64 // challenge hash → expiry, Unix seconds
	queue expiryHeap
}

func newSpentSet(max int) *spentSet {
	return &spentSet{max: max, byID: make(map[[32]byte]int64)}
}

// clock returns t, or the latest time seen if t is before it.
func (s *spentSet) clock(t time.Time) time.Time {
	t = t.Round(0) // compare wall clocks: expiries come from Unix seconds
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advance(t)
}

// advance moves last forward to t and returns the new last. Callers hold mu.
func (s *spentSet) advance(t time.Time) time.Time {
	if t.After(s.last) {
		s.last = t
	}
	return s.last
}

// spend records id as spent until expiry. It fails with ErrFailed if id is
// already spent or expired by the time the lock is held (another goroutine
// may have moved the clock and evicted it meanwhile), and with
// ErrUnavailable if the set is full of unexpired entries.
func (s *spentSet) spend(id [32]byte, expiry, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = s.advance(now.Round(0))
	s.evict(now)
	if !now.Before(expiry) {
		return failed("challenge expired")
	}
	if _, ok := s.byID[id]; ok {
		return failed("challenge already spent")
	}
	if len(s.byID) >= s.max {
		return fmt.Errorf("%w: %d spent challenges awaiting expiry", ErrUnavailable, len(s.byID))
	}
	exp := expiry.Unix()
	s.byID[id] = exp
	heap.Push(&s.queue, spentEntry{expiry: exp, id: id})
	return nil
}

// evict drops the entries that expired at or before now. Callers hold mu.
func (s *spentSet) evict(now time.Time) {
	for len(s.queue) > 0 && !now.Before(time.Unix(s.queue[0].expiry, 0)) {
		e := heap.Pop(&s.queue).(spentEntry)
		delete(s.byID, e.id)
	}
}

// len returns the number of remembered challenges.
func (s *spentSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

type spentEntry struct {
	expiry int64
	id     [32]byte
}

// expiryHeap is a container/heap of spent entries, earliest expiry first.
type expiryHeap []spentEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expiry < h[j].expiry }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(spentEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
