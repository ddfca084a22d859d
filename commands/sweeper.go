package commands

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"

	"switchboard/domain/presence"
	"switchboard/domain/session"
	"switchboard/eventstore"
)

// Sender sends a command to its handler. *Bus is the Sender of the
// reactors.
type Sender interface {
	Send(ctx context.Context, cmd any) error
}

// SweeperConfig configures a Sweeper. The zero value ticks every 5 s.
type SweeperConfig struct {
	// Interval is the time between the ticks of Run. Zero means 5 s;
	// negative means Run does not tick, and the owner calls Tick (tests
	// do, with their fake clock).
	Interval time.Duration
	// Logger receives the errors of ticks. Nil means slog.Default().
	Logger watermill.LoggerAdapter
}

// Sweeper is the reactor that ends what nobody ends explicitly: it marks a
// user offline once no heartbeat was recorded for Policy.PresenceTimeout
// (SweepPresence), and ends a session whose sliding expiry passed
// (ExpireSession).
//
// It learns the deadlines from the log: HeartbeatRecorded and
// PresenceChanged give each connected user's last recorded heartbeat,
// SessionStarted and SessionRenewed each live session's expiry,
// PresenceChanged to offline and SessionEnded retire them. It keeps them
// in memory, in a min-heap: one entry per connected user and per live
// session; besides, it remembers each user's last heartbeat. As a Primer it
// rebuilds that memory from the log up to the bus's checkpoint on start.
//
// Its ticker (Run) calls Tick, which sends a command for every deadline
// passed, at most once per deadline: the deadline leaves the heap when its
// command was sent. Each command's id is ReactionID of the event that set
// the deadline, so the same deadline always yields the same command; and
// the handlers decide from the aggregate's own state, doing nothing when
// the user is already offline, sent a heartbeat since, or the session was
// renewed or ended. Redelivered events are recognised by their position:
// the sweeper relies on in-order delivery, which the bus gives, and
// ignores any record at or below the last position it saw.
//
// It is an observer, not a handler: every node of a cluster keeps all the
// deadlines and ticks, and the same deadline passed on two nodes yields
// the same command id twice, which the broker's deduplication (by message
// id) and the handlers' idempotency turn into one effect.
//
// The clock is the handlers' (Handlers.Config.Clock), the timeout their
// Policy's. Safe for concurrent use.
type Sweeper struct {
	send     Sender
	clock    Clock
	timeout  time.Duration
	interval time.Duration
	logger   watermill.LoggerAdapter

	mu       sync.Mutex // guards the fields below
	seen     uint64     // position of the last record observed
	changed  chan struct{}
	queue    deadlines
	users    map[string]*userPresence
	sessions map[string]*deadline // live sessions with an expiry queued
}

// userPresence is what the sweeper knows of one user.
type userPresence struct {
	lastHeartbeat time.Time
	online        bool
	d             *deadline // queued, or nil
}

type deadlineKind uint8

const (
	presenceDeadline deadlineKind = iota
	sessionDeadline
)

// deadline is when something is due for sweeping, and which event said so.
type deadline struct {
	kind        deadlineKind
	key         string // user handle or session id
	at          time.Time
	trigger     uuid.UUID // the event that set the deadline
	correlation uuid.UUID // its correlation id
	index       int       // in the heap
}

// NewSweeper returns the sweeper of the handlers h, sending its commands
// through send (the bus). Add it to the bus with AddObserver.
func NewSweeper(h *Handlers, send Sender, cfg SweeperConfig) *Sweeper {
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = watermill.NewSlogLogger(slog.Default())
	}
	return &Sweeper{
		send:     send,
		clock:    h.clock,
		timeout:  h.policy.PresenceTimeout,
		interval: cfg.Interval,
		logger:   cfg.Logger,
		changed:  make(chan struct{}),
		users:    map[string]*userPresence{},
		sessions: map[string]*deadline{},
	}
}

// Observe implements Observer: it updates the deadlines, on every node.
// It never sends; Tick does.
func (s *Sweeper) Observe(_ context.Context, e *Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(e)
	return nil
}

// Observes implements TypeFilter.
func (s *Sweeper) Observes(recordType string) bool { return sweeperTypes[recordType] }

// sweeperTypes are the event types the sweeper reads.
var sweeperTypes = map[string]bool{
	"HeartbeatRecorded": true, "PresenceChanged": true,
	"SessionStarted": true, "SessionRenewed": true, "SessionEnded": true,
}

// Prime implements Primer: the sweeper learns the deadlines set before the
// checkpoint. Only the types it reads are decoded.
func (s *Sweeper) Prime(_ context.Context, rec eventstore.Record) error {
	e := &Event{Record: rec}
	if sweeperTypes[rec.Type] {
		var err error
		if e, err = eventFromRecord(rec); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(e)
	return nil
}

// observe folds one event into the deadlines. Records at or below the
// last position seen are redeliveries and change nothing.
func (s *Sweeper) observe(e *Event) {
	if e.Position <= s.seen {
		return
	}
	s.seen = e.Position
	close(s.changed)
	s.changed = make(chan struct{})

	switch d := e.Domain.(type) {
	case presence.HeartbeatRecorded:
		u := s.user(d.User)
		u.lastHeartbeat = d.At
		if u.online {
			s.armPresence(d.User, u, d.At, e)
		}
	case presence.PresenceChanged:
		u := s.user(d.User)
		if d.Status == presence.Offline {
			u.online = false
			s.disarm(u.d)
			u.d = nil
			return
		}
		u.online = true
		s.armPresence(d.User, u, d.At, e)
	case session.SessionStarted:
		s.armSession(d.Session, d.ExpiresAt, e)
	case session.SessionRenewed:
		s.armSession(d.Session, d.ExpiresAt, e)
	case session.SessionEnded:
		s.disarm(s.sessions[d.Session])
		delete(s.sessions, d.Session)
	}
}

func (s *Sweeper) user(handle string) *userPresence {
	u := s.users[handle]
	if u == nil {
		u = &userPresence{}
		s.users[handle] = u
	}
	return u
}

// armPresence (re)sets the deadline of an online user: the last recorded
// heartbeat plus the timeout, which is when the domain's Sweep starts
// deciding offline. Without a known heartbeat it counts from at.
func (s *Sweeper) armPresence(handle string, u *userPresence, at time.Time, e *Event) {
	if s.timeout <= 0 {
		return
	}
	base := u.lastHeartbeat
	if base.IsZero() {
		base = at
	}
	u.d = s.arm(u.d, presenceDeadline, handle, base.Add(s.timeout), e)
}

func (s *Sweeper) armSession(id string, expires time.Time, e *Event) {
	s.sessions[id] = s.arm(s.sessions[id], sessionDeadline, id, expires, e)
}

// arm queues a deadline set by e, updating d if it is queued.
func (s *Sweeper) arm(d *deadline, kind deadlineKind, key string, at time.Time, e *Event) *deadline {
	if d == nil {
		d = &deadline{kind: kind, key: key, index: -1}
	}
	d.at, d.trigger, d.correlation = at, e.ID, e.Metadata.CorrelationID
	if d.index >= 0 {
		heap.Fix(&s.queue, d.index)
	} else {
		heap.Push(&s.queue, d)
	}
	return d
}

func (s *Sweeper) disarm(d *deadline) {
	if d != nil && d.index >= 0 {
		heap.Remove(&s.queue, d.index)
	}
}

// Tick sends the command of every deadline at or before now: SweepPresence
// for users, ExpireSession for sessions. A deadline leaves the heap when
// its command is sent, so a second Tick does not send it again; one whose
// Send failed stays for the next Tick. It returns the Send errors.
func (s *Sweeper) Tick(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	var due []*deadline
	for len(s.queue) > 0 && !s.queue[0].at.After(now) {
		d := heap.Pop(&s.queue).(*deadline)
		switch d.kind {
		case presenceDeadline:
			if u := s.users[d.key]; u != nil && u.d == d {
				u.d = nil
			}
		case sessionDeadline:
			if s.sessions[d.key] == d {
				delete(s.sessions, d.key)
			}
		}
		due = append(due, d)
	}
	s.mu.Unlock()

	var errs []error
	for _, d := range due {
		var cmd any
		switch d.kind {
		case presenceDeadline:
			cmd = &SweepPresence{ID: ReactionID(d.trigger, "sweep-presence"), User: d.key}
		case sessionDeadline:
			cmd = &ExpireSession{ID: ReactionID(d.trigger, "expire-session"), Session: d.key}
		}
		err := s.send.Send(withCause(ctx, cause{correlation: d.correlation, causation: d.trigger}), cmd)
		if err != nil {
			errs = append(errs, err)
			s.requeue(d)
		}
	}
	return errors.Join(errs...)
}

// requeue puts back a deadline whose command was not sent, unless an event
// moved or retired it meanwhile.
func (s *Sweeper) requeue(d *deadline) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch d.kind {
	case presenceDeadline:
		if u := s.users[d.key]; u != nil && u.online && u.d == nil {
			u.d = d
			heap.Push(&s.queue, d)
		}
	case sessionDeadline:
		if s.sessions[d.key] == nil {
			s.sessions[d.key] = d
			heap.Push(&s.queue, d)
		}
	}
}

// Run implements Runner: it calls Tick with the handlers' clock every
// Interval until ctx ends. A negative Interval makes it wait for ctx only.
func (s *Sweeper) Run(ctx context.Context) error {
	if s.interval < 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Tick(ctx, s.clock.Now()); err != nil && ctx.Err() == nil {
				s.logger.Error("Sweeper tick", err, nil)
			}
		}
	}
}

// Sync waits until the sweeper has seen the record at position (from Observe
// or Prime), or ctx ends: afterwards, Tick acts on everything up to it.
func (s *Sweeper) Sync(ctx context.Context, position uint64) error {
	for {
		s.mu.Lock()
		seen, changed := s.seen, s.changed
		s.mu.Unlock()
		if seen >= position {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// deadlines is a min-heap of deadlines by time (then key, so that equal
// times pop in a fixed order).
type deadlines []*deadline

func (q deadlines) Len() int { return len(q) }
func (q deadlines) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	if q[i].kind != q[j].kind {
		return q[i].kind < q[j].kind
	}
	return q[i].key < q[j].key
}
func (q deadlines) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *deadlines) Push(x any) {
	d := x.(*deadline)
	d.index = len(*q)
	*q = append(*q, d)
}
func (q *deadlines) Pop() any {
	old := *q
	d := old[len(old)-1]
	old[len(old)-1] = nil
	d.index = -1
	*q = old[:len(old)-1]
	return d
}

var (
	_ Primer     = (*Sweeper)(nil)
	_ Runner     = (*Sweeper)(nil)
	_ Observer   = (*Sweeper)(nil)
	_ TypeFilter = (*Sweeper)(nil)
	_ Sender     = (*Bus)(nil)
)
