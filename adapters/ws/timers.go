package ws

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// deadlines runs the timeouts of every socket of a gateway on one timer:
// the hello and idle timeouts, the write watchdog and the session expiry.
// A socket keeps each of its deadlines in an atomic, so that setting one on
// the hot paths (every frame read moves the idle deadline, every write arms
// the watchdog) is a store rather than a timer operation. The heap holds
// each socket once, at the time it must be looked at next — at or before
// its earliest deadline; a socket whose deadline moved later meanwhile is
// put back at the new one when its time comes. Only a deadline set earlier
// than that time takes the lock.
type deadlines struct {
	epoch time.Time

	mu    sync.Mutex
	heap  timerHeap
	timer *time.Timer // fires at armed; nil until first needed
	armed int64       // 0: not armed
}

// timed is what deadlines schedules: a socket.
type timed interface {
	// timerEntry is the item's place in the heap.
	timerEntry() *timerEntry
	// expire acts on the item's deadlines that have come by now and
	// returns its next one (0: none).
	expire(now int64) (next int64)
}

// timerEntry is an item's place in a deadlines heap.
type timerEntry struct {
	due  atomic.Int64 // when it is looked at next; 0: not in the heap
	pos  int          // 1 + its index in the heap; 0: not in it (mu)
	gone bool         // removed for good (mu)
}

func newDeadlines() *deadlines { return &deadlines{epoch: time.Now()} }

// now is the deadlines' clock: monotonic nanoseconds, always positive (0
// means "no deadline").
func (d *deadlines) now() int64 { return int64(time.Since(d.epoch)) + 1 }

// after is the deadline dur from now.
func (d *deadlines) after(dur time.Duration) int64 { return d.now() + int64(dur) }

// schedule makes sure t is looked at no later than at. It takes the lock
// only if t is not already due by then.
func (d *deadlines) schedule(t timed, at int64) {
	if due := t.timerEntry().due.Load(); due != 0 && due <= at {
		return
	}
	d.mu.Lock()
	d.scheduleLocked(t, at)
	d.mu.Unlock()
}

func (d *deadlines) scheduleLocked(t timed, at int64) {
	e := t.timerEntry()
	switch {
	case e.gone:
		return
	case e.pos == 0:
		e.due.Store(at)
		heap.Push(&d.heap, t)
	case at < e.due.Load():
		e.due.Store(at)
		heap.Fix(&d.heap, e.pos-1)
	default:
		return
	}
	if e.pos == 1 && (d.armed == 0 || at < d.armed) {
		d.armLocked(at)
	}
}

// remove takes t out for good: it is not looked at again.
func (d *deadlines) remove(t timed) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := t.timerEntry()
	e.gone = true
	if e.pos > 0 {
		heap.Remove(&d.heap, e.pos-1)
		e.due.Store(0)
	}
	if len(d.heap) == 0 && d.timer != nil {
		d.timer.Stop()
		d.armed = 0
	}
}

func (d *deadlines) armLocked(at int64) {
	d.armed = at
	dur := time.Duration(at - d.now())
	if d.timer == nil {
		d.timer = time.AfterFunc(dur, d.fire)
	} else {
		d.timer.Reset(dur)
	}
}

// fire takes out every item whose time has come, lets each act on its
// deadlines (outside the lock) and puts it back at its next one.
func (d *deadlines) fire() {
	d.mu.Lock()
	d.armed = 0
	now := d.now()
	var due []timed
	for len(d.heap) > 0 && d.heap[0].timerEntry().due.Load() <= now {
		t := heap.Pop(&d.heap).(timed)
		// due goes to 0 before expire reads the item's deadlines: a
		// deadline set meanwhile either is seen by expire or finds the
		// item out of the heap and schedules it itself.
		t.timerEntry().due.Store(0)
		due = append(due, t)
	}
	if len(d.heap) > 0 {
		d.armLocked(d.heap[0].timerEntry().due.Load())
	}
	d.mu.Unlock()
	for _, t := range due {
		if next := t.expire(now); next != 0 {
			d.schedule(t, next)
		}
	}
}

// timerHeap orders items by when they are due (container/heap).
type timerHeap []timed

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	return h[i].timerEntry().due.Load() < h[j].timerEntry().due.Load()
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].timerEntry().pos = i + 1
	h[j].timerEntry().pos = j + 1
}
func (h *timerHeap) Push(x any) {
	t := x.(timed)
	t.timerEntry().pos = len(*h) + 1
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.timerEntry().pos = 0
	return t
}

// takeDue clears a deadline that has come by now and reports whether it
// had; a deadline moved meanwhile (a frame read, a write done) has not.
func takeDue(d *atomic.Int64, now int64) bool {
	at := d.Load()
	return at != 0 && at <= now && d.CompareAndSwap(at, 0)
}

// earliest is the earliest of the deadlines set (0: none).
func earliest(ds ...*atomic.Int64) int64 {
	var next int64
	for _, d := range ds {
		if at := d.Load(); at != 0 && (next == 0 || at < next) {
			next = at
		}
	}
	return next
}
