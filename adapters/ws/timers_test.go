package ws

import (
	"sync/atomic"
	"testing"
	"time"
)

// timedItem is an item of the deadlines with one deadline, which reports
// its name when the deadline comes.
type timedItem struct {
	name  string
	entry timerEntry
	at    atomic.Int64
	fired chan<- string
}

func (it *timedItem) timerEntry() *timerEntry { return &it.entry }

func (it *timedItem) expire(now int64) int64 {
	if takeDue(&it.at, now) {
		it.fired <- it.name
	}
	return it.at.Load()
}

// set arms the item's deadline dur from now.
func (it *timedItem) set(d *deadlines, dur time.Duration) {
	at := d.after(dur)
	it.at.Store(at)
	d.schedule(it, at)
}

func waitFired(t *testing.T, fired <-chan string) string {
	t.Helper()
	select {
	case name := <-fired:
		return name
	case <-time.After(20 * time.Second):
		t.Fatal("no deadline came")
		return ""
	}
}

// TestDeadlinesFireInOrder: items scheduled in any order fire once each,
// in the order of their deadlines, never before them.
func TestDeadlinesFireInOrder(t *testing.T) {
	d := newDeadlines()
	fired := make(chan string, 100)
	items := map[string]*timedItem{}
	var order []string
	for _, ms := range []int{50, 10, 40, 20, 30, 5, 45, 15, 35, 25} {
		it := &timedItem{name: time.Duration(ms * int(time.Millisecond)).String(), fired: fired}
		items[it.name] = it
		it.set(d, time.Duration(ms)*time.Millisecond)
	}
	var lastAt int64
	for range items {
		name := waitFired(t, fired)
		order = append(order, name)
		it := items[name]
		if it.at.Load() != 0 {
			t.Fatalf("%s fired but still armed", name)
		}
		// The deadline that fired is the item's due time when it left
		// the heap; check the order through the names' durations.
		dur, _ := time.ParseDuration(name)
		if int64(dur) < lastAt {
			t.Fatalf("fired out of order: %v", order)
		}
		lastAt = int64(dur)
	}
	select {
	case name := <-fired:
		t.Fatalf("%s fired twice", name)
	case <-time.After(100 * time.Millisecond):
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.heap) != 0 {
		t.Fatalf("%d items left in the heap", len(d.heap))
	}
}

// TestDeadlineMoved: a deadline moved later without scheduling (as every
// frame read moves the idle deadline) fires at its new time, once; one
// moved earlier (scheduled) fires at its new time too.
func TestDeadlineMoved(t *testing.T) {
	d := newDeadlines()
	fired := make(chan string, 10)
	later := &timedItem{name: "later", fired: fired}
	later.set(d, 10*time.Millisecond)
	moved := d.after(60 * time.Millisecond)
	later.at.Store(moved) // no schedule: the heap finds out when it looks
	earlier := &timedItem{name: "earlier", fired: fired}
	earlier.set(d, time.Hour)
	earlier.set(d, 20*time.Millisecond)

	if name := waitFired(t, fired); name != "earlier" {
		t.Fatalf("first %s", name)
	}
	if name := waitFired(t, fired); name != "later" {
		t.Fatalf("second %s", name)
	}
	if now := d.now(); now < moved {
		t.Fatalf("moved deadline fired %s early", time.Duration(moved-now))
	}
}

// TestDeadlineRemoved: a removed item never fires, even when scheduled
// again (a socket closed while its timer runs).
func TestDeadlineRemoved(t *testing.T) {
	d := newDeadlines()
	fired := make(chan string, 10)
	gone := &timedItem{name: "gone", fired: fired}
	gone.set(d, 10*time.Millisecond)
	d.remove(gone)
	gone.set(d, 20*time.Millisecond)
	sentinel := &timedItem{name: "sentinel", fired: fired}
	sentinel.set(d, 50*time.Millisecond)
	if name := waitFired(t, fired); name != "sentinel" {
		t.Fatalf("%s fired", name)
	}
}
