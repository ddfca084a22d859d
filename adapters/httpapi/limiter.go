package httpapi

import (
	"container/list"
	"sync"
	"time"
)

// limiter is a sliding-window log per key: at most limit reservations per
// key within any window. It keeps the time of each reservation still in
// the window, so a key costs at most limit timestamps, and it holds at
// most maxKeys keys: when full, the least recently used key is forgotten
// (and idle keys, whose every reservation left the window, are swept a
// few at a time on each call). Forgetting a key forgives its attempts;
// flooding the table to achieve that takes maxKeys fresh keys, which the
// per-address limit makes slow. Safe for concurrent use.
//
// Reservations can be cancelled: the login handler reserves a slot for
// the handle before checking the password, so that parallel guesses are
// counted, and gives it back when the attempt did not fail on the
// password.
type limiter struct {
	limit   int
	window  time.Duration
	maxKeys int

	mu     sync.Mutex // guards everything below
	keys   map[string]*list.Element
	lru    *list.List // of *limitEntry, most recently used at the front
	nextID uint64
}

type limitEntry struct {
	key   string
	slots []slot // oldest first; at most limit
}

type slot struct {
	at time.Time
	id uint64
}

// newLimiter returns a limiter; limit <= 0 disables it (every reservation
// succeeds and nothing is kept).
func newLimiter(limit int, window time.Duration, maxKeys int) *limiter {
	return &limiter{limit: limit, window: window, maxKeys: max(1, maxKeys),
		keys: map[string]*list.Element{}, lru: list.New()}
}

// reservation is a slot taken by reserve; cancel gives it back. The zero
// reservation cancels nothing.
type reservation struct {
	l   *limiter
	key string
	id  uint64
}

// reserve takes a slot for key at now, or reports how long until one
// frees up.
func (l *limiter) reserve(key string, now time.Time) (reservation, time.Duration, bool) {
	if l == nil || l.limit <= 0 {
		return reservation{}, 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now, 2)
	var e *limitEntry
	if el, ok := l.keys[key]; ok {
		e = el.Value.(*limitEntry)
		l.lru.MoveToFront(el)
		l.prune(e, now)
	} else {
		for len(l.keys) >= l.maxKeys {
			l.remove(l.lru.Back())
		}
		e = &limitEntry{key: key}
		l.keys[key] = l.lru.PushFront(e)
	}
	if len(e.slots) >= l.limit {
		return reservation{}, e.slots[0].at.Add(l.window).Sub(now), false
	}
	l.nextID++
	e.slots = append(e.slots, slot{at: now, id: l.nextID})
	return reservation{l: l, key: key, id: l.nextID}, 0, true
}

// cancel gives the slot back, if it is still held.
func (r reservation) cancel() {
	if r.l == nil {
		return
	}
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.keys[r.key]
	if !ok {
		return
	}
	e := el.Value.(*limitEntry)
	for i, s := range e.slots {
		if s.id == r.id {
			e.slots = append(e.slots[:i], e.slots[i+1:]...)
			break
		}
	}
	if len(e.slots) == 0 {
		l.remove(el)
	}
}

// prune drops the slots that left the window.
func (l *limiter) prune(e *limitEntry, now time.Time) {
	i := 0
	for i < len(e.slots) && now.Sub(e.slots[i].at) >= l.window {
		i++
	}
	e.slots = append(e.slots[:0], e.slots[i:]...)
}

// sweep forgets up to n least recently used keys whose slots all left the
// window, so that idle keys do not wait for the table to fill.
func (l *limiter) sweep(now time.Time, n int) {
	for ; n > 0; n-- {
		el := l.lru.Back()
		if el == nil {
			return
		}
		e := el.Value.(*limitEntry)
		if len(e.slots) > 0 && now.Sub(e.slots[len(e.slots)-1].at) < l.window {
			return
		}
		l.remove(el)
	}
}

func (l *limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*limitEntry).key)
	l.lru.Remove(el)
}

// size is the number of keys held (for tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
