package projections

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
)

// Errors a Listener reports through Err once its channel is closed.
var (
	// ErrResync: the listener fell too far behind (its buffer was full
	// when a notice arrived) and was dropped. Notices were lost: re-read
	// what you show from the projections and listen again.
	ErrResync = errors.New("projections: listener too slow, resync")
	// ErrClosed: the listener or its hub was closed.
	ErrClosed = errors.New("projections: closed")
)

// DefaultListenerBuffer is the buffer of a listener created with a buffer
// of zero or less.
const DefaultListenerBuffer = 256

type topicKind uint8

const (
	roomTopic topicKind = iota + 1
	userTopic
	presenceTopic
	directoryTopic
	allTopic
)

// Topic is what a listener listens to. Compare topics with ==.
type Topic struct {
	kind topicKind
	id   string
}

// RoomTopic carries what happens in one room: messages, membership
// changes, read markers, the room's creation.
func RoomTopic(id string) Topic { return Topic{roomTopic, id} }

// UserTopic carries what concerns one user outside their rooms' topics:
// their own membership changes (joined, left, invited, also from another
// tab), rooms created with them in it, the end of their sessions.
func UserTopic(handle string) Topic { return Topic{userTopic, handle} }

// PresenceTopic carries every user's presence and profile changes, and new
// users. Notices carry the true status: the listener applies Visible.
func PresenceTopic() Topic { return Topic{kind: presenceTopic} }

// DirectoryTopic carries new users, new public rooms and the bot kill
// switch.
func DirectoryTopic() Topic { return Topic{kind: directoryTopic} }

// AllTopic carries every notice, in log order: for a gateway that fans
// out to all its sockets from one listener.
func AllTopic() Topic { return Topic{kind: allTopic} }

func (t Topic) String() string {
	switch t.kind {
	case roomTopic:
		return "room:" + t.id
	case userTopic:
		return "user:" + t.id
	case presenceTopic:
		return "presence"
	case directoryTopic:
		return "directory"
	case allTopic:
		return "all"
	}
	return "invalid"
}

// Hub fans change notices out to listeners. The Runner publishes; the
// gateway listens, typically one Listener per socket.
//
// Publishing never blocks: each listener has a bounded buffer, and a
// listener whose buffer is full when a notice arrives is dropped (its
// channel closed, Err returning ErrResync), so one slow socket never
// delays the projections or anyone else. A listener gets each notice at
// most once, however many of its topics the notice was published to, and
// gets the notices of one publisher in publication order (the Runner's is
// log order).
//
// Listeners are indexed by topic, so a notice costs nothing for listeners
// of other topics.
//
// A sink (Attach) is the other way to hear notices: a function called
// with every notice on the publisher's goroutine, with no buffer and no
// hand-off, for a consumer that is quick and must see each notice as the
// projections stand right after it (the gateway's fan-out).
//
// Lock order: Hub.mu is the only lock; Listener fields other than the
// channel are guarded by it. Sinks are called with no lock held.
type Hub struct {
	mu        sync.Mutex
	topics    map[Topic]map[*Listener]struct{}
	listeners atomic.Int64 // listeners and sinks
	seq       uint64       // publications, to deliver a notice once per listener
	closed    bool
	sinks     []*sink // replaced, never changed in place
}

type sink struct{ fn func(Notice) }

// NewHub returns a hub without listeners.
func NewHub() *Hub {
	return &Hub{topics: make(map[Topic]map[*Listener]struct{})}
}

// Listener receives the notices of its topics on C until it is closed,
// dropped for being slow, or the hub closes; then C is closed and Err says
// why.
type Listener struct {
	h      *Hub
	c      chan Notice
	topics map[Topic]struct{} // guarded by h.mu
	err    error              // guarded by h.mu; set before c closes
	mark   uint64             // guarded by h.mu: the last publication sent
}

// Listen returns a listener of topics (more can be added later) with a
// buffer of buffer notices (DefaultListenerBuffer if zero or less). On a
// closed hub the listener is closed already, with ErrClosed.
func (h *Hub) Listen(buffer int, topics ...Topic) *Listener {
	if buffer <= 0 {
		buffer = DefaultListenerBuffer
	}
	l := &Listener{h: h, c: make(chan Notice, buffer), topics: make(map[Topic]struct{}, len(topics))}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		l.err = ErrClosed
		close(l.c)
		return l
	}
	h.listeners.Add(1)
	for _, t := range topics {
		h.add(l, t)
	}
	return l
}

func (h *Hub) add(l *Listener, t Topic) {
	if _, ok := l.topics[t]; ok {
		return
	}
	l.topics[t] = struct{}{}
	set := h.topics[t]
	if set == nil {
		set = make(map[*Listener]struct{})
		h.topics[t] = set
	}
	set[l] = struct{}{}
}

func (h *Hub) remove(l *Listener, t Topic) {
	if _, ok := l.topics[t]; !ok {
		return
	}
	delete(l.topics, t)
	if set := h.topics[t]; set != nil {
		delete(set, l)
		if len(set) == 0 {
			delete(h.topics, t)
		}
	}
}

// drop ends l with err (h.mu held). Idempotent.
func (h *Hub) drop(l *Listener, err error) {
	if l.err != nil {
		return
	}
	for t := range l.topics {
		h.remove(l, t)
	}
	l.err = err
	close(l.c)
	h.listeners.Add(-1)
}

// Active reports whether the hub has any listener; the Runner builds no
// notices while it has none.
func (h *Hub) Active() bool { return h.listeners.Load() > 0 }

// Listening reports whether any listener listens to one of topics (a
// sink hears every topic), so a publisher can skip building a notice
// nobody would get.
func (h *Hub) Listening(topics ...Topic) bool {
	if !h.Active() {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sinks) > 0 || len(h.topics[AllTopic()]) > 0 {
		return true
	}
	for _, t := range topics {
		if len(h.topics[t]) > 0 {
			return true
		}
	}
	return false
}

// Publish delivers n to every listener of any of topics, once each,
// without blocking: a listener whose buffer is full is dropped with
// ErrResync. Then it calls every sink with n, on this goroutine.
func (h *Hub) Publish(n Notice, topics ...Topic) {
	if !h.Active() {
		return
	}
	h.mu.Lock()
	h.seq++
	for _, t := range topics {
		h.deliver(n, t)
	}
	h.deliver(n, AllTopic())
	sinks := h.sinks
	h.mu.Unlock()
	for _, s := range sinks {
		s.fn(n)
	}
}

// Attach adds a sink: fn is called with every notice published from now
// on, on the publisher's goroutine, in publication order (the Runner's is
// log order), right after the projections applied the record that caused
// it and before they apply the next. fn must be quick and must not wait
// for the Runner (Sync), which waits for fn. detach removes the sink; it
// is idempotent. On a closed hub nothing is attached.
func (h *Hub) Attach(fn func(Notice)) (detach func()) {
	s := &sink{fn: fn}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return func() {}
	}
	h.sinks = append(slices.Clip(h.sinks), s)
	h.listeners.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.removeSink(s)
		})
	}
}

// removeSink removes s if attached (h.mu held).
func (h *Hub) removeSink(s *sink) {
	if i := slices.Index(h.sinks, s); i >= 0 {
		h.sinks = slices.Delete(slices.Clone(h.sinks), i, i+1)
		h.listeners.Add(-1)
	}
}

// deliver sends n to the listeners of t that have not had it (h.mu held).
func (h *Hub) deliver(n Notice, t Topic) {
	for l := range h.topics[t] {
		if l.mark == h.seq {
			continue
		}
		l.mark = h.seq
		select {
		case l.c <- n:
		default:
			h.drop(l, ErrResync)
		}
	}
}

// Close closes every listener with ErrClosed; later listeners are born
// closed. Idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, set := range h.topics {
		for l := range set {
			h.drop(l, ErrClosed)
		}
	}
	for len(h.sinks) > 0 {
		h.removeSink(h.sinks[0])
	}
}

// C returns the channel of notices. It is closed when the listener ends;
// read Err then.
func (l *Listener) C() <-chan Notice { return l.c }

// Err is nil while the listener is open; after C is closed it is
// ErrResync (dropped for being slow) or ErrClosed.
func (l *Listener) Err() error {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	return l.err
}

// Add makes the listener listen to more topics (a socket joined a room).
// Notices published before Add returns are not delivered for them.
func (l *Listener) Add(topics ...Topic) {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	if l.err != nil {
		return
	}
	for _, t := range topics {
		l.h.add(l, t)
	}
}

// Remove stops listening to topics. Notices already buffered stay.
func (l *Listener) Remove(topics ...Topic) {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	for _, t := range topics {
		l.h.remove(l, t)
	}
}

// Topics returns the topics the listener listens to, in no particular
// order.
func (l *Listener) Topics() []Topic {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	out := make([]Topic, 0, len(l.topics))
	for t := range l.topics {
		out = append(out, t)
	}
	return out
}

// Close ends the listener: C is closed (after the notices already
// buffered) and Err returns ErrClosed, unless it had ended already.
// Idempotent.
func (l *Listener) Close() {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	l.h.drop(l, ErrClosed)
}
