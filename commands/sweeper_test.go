package commands

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/domain/session"
	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
)

// sweeperSender records what the sweeper sends; fail makes the next sends
// fail.
type sweeperSender struct {
	mu   sync.Mutex
	sent []sweeperSent
	fail int
}

type sweeperSent struct {
	cmd   any
	cause cause
}

func (s *sweeperSender) Send(ctx context.Context, cmd any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("bus down")
	}
	c, _ := ctx.Value(causeKey{}).(cause)
	s.sent = append(s.sent, sweeperSent{cmd, c})
	return nil
}

// take returns what was sent since the last take.
func (s *sweeperSender) take() []sweeperSent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

// sweeperFeed makes Events with consecutive positions, as the bus would
// deliver them.
type sweeperFeed struct{ pos uint64 }

func (f *sweeperFeed) next(e domain.Event) *Event {
	f.pos++
	return &Event{
		Record: eventstore.Record{ID: uuid.New(), Type: e.EventType(), Position: f.pos, Metadata: eventstore.Metadata{CorrelationID: uuid.New()}},
		Domain: e,
	}
}

func sweeperHandle(t *testing.T, s *Sweeper, evs ...*Event) {
	t.Helper()
	for _, e := range evs {
		if err := s.Observe(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func sweeperTick(t *testing.T, s *Sweeper, at time.Time, out *sweeperSender) []sweeperSent {
	t.Helper()
	if err := s.Tick(context.Background(), at); err != nil {
		t.Fatal(err)
	}
	return out.take()
}

func TestSweeperSendsEachDeadlineOnce(t *testing.T) {
	t.Parallel()
	clock := start()
	t0 := clock.Now()
	h := newHandlers(t, memstore.New(), clock)
	out := &sweeperSender{}
	s := NewSweeper(h, out, SweeperConfig{Interval: -1})
	var f sweeperFeed

	online := f.next(presence.PresenceChanged{User: "alice", Status: presence.Online, Chosen: presence.Online, Reason: presence.ReasonConnected, At: t0})
	hb := f.next(presence.HeartbeatRecorded{User: "alice", At: t0})
	started := f.next(session.SessionStarted{Session: "s1", User: "alice", ExpiresAt: t0.Add(20 * time.Minute), At: t0})
	feed := []*Event{online, hb, started}
	sweeperHandle(t, s, feed...)
	sweeperHandle(t, s, feed...) // redelivered

	if sent := sweeperTick(t, s, t0.Add(149*time.Second), out); len(sent) != 0 {
		t.Fatalf("sent before the timeout: %+v", sent)
	}
	sent := sweeperTick(t, s, t0.Add(150*time.Second), out)
	want := &SweepPresence{ID: ReactionID(hb.ID, "sweep-presence"), User: "alice"}
	if len(sent) != 1 || *sent[0].cmd.(*SweepPresence) != *want {
		t.Fatalf("at the timeout sent %+v, want %+v", sent, want)
	}
	if c := sent[0].cause; c.causation != hb.ID || c.correlation != hb.Metadata.CorrelationID {
		t.Fatalf("cause %+v, want the heartbeat's", c)
	}
	if sent := sweeperTick(t, s, t0.Add(150*time.Second), out); len(sent) != 0 {
		t.Fatalf("a second tick sent %+v", sent)
	}
	sweeperHandle(t, s, feed...) // redelivered after the sweep
	if sent := sweeperTick(t, s, t0.Add(10*time.Minute), out); len(sent) != 0 {
		t.Fatalf("redelivered events made the sweeper send %+v", sent)
	}

	sent = sweeperTick(t, s, t0.Add(20*time.Minute), out)
	wantExp := &ExpireSession{ID: ReactionID(started.ID, "expire-session"), Session: "s1"}
	if len(sent) != 1 || *sent[0].cmd.(*ExpireSession) != *wantExp {
		t.Fatalf("at the expiry sent %+v, want %+v", sent, wantExp)
	}
	sweeperHandle(t, s, feed...)
	if sent := sweeperTick(t, s, t0.Add(time.Hour), out); len(sent) != 0 {
		t.Fatalf("sent again: %+v", sent)
	}
}

func TestSweeperFollowsTheLog(t *testing.T) {
	t.Parallel()
	clock := start()
	t0 := clock.Now()
	h := newHandlers(t, memstore.New(), clock)
	out := &sweeperSender{}
	s := NewSweeper(h, out, SweeperConfig{Interval: -1})
	var f sweeperFeed
	on := func(user string) *Event {
		return f.next(presence.PresenceChanged{User: user, Status: presence.Busy, Chosen: presence.Busy, Reason: presence.ReasonConnected, At: t0})
	}
	hbAt := func(user string, at time.Time) *Event { return f.next(presence.HeartbeatRecorded{User: user, At: at}) }

	// bob's second heartbeat moves his deadline; carol disconnects; the
	// session is renewed, then another ends.
	sweeperHandle(t, s, on("bob"), hbAt("bob", t0))
	bobLater := hbAt("bob", t0.Add(60*time.Second))
	sweeperHandle(t, s, bobLater)
	sweeperHandle(t, s, on("carol"), hbAt("carol", t0),
		f.next(presence.PresenceChanged{User: "carol", Status: presence.Offline, Chosen: presence.Busy, Reason: presence.ReasonDisconnected, At: t0.Add(time.Second)}))
	sweeperHandle(t, s, f.next(session.SessionStarted{Session: "s2", ExpiresAt: t0.Add(20 * time.Minute), At: t0}))
	renewed := f.next(session.SessionRenewed{Session: "s2", ExpiresAt: t0.Add(30 * time.Minute), At: t0.Add(10 * time.Minute)})
	sweeperHandle(t, s, renewed)
	sweeperHandle(t, s, f.next(session.SessionStarted{Session: "s3", ExpiresAt: t0.Add(20 * time.Minute), At: t0}),
		f.next(session.SessionEnded{Session: "s3", Reason: session.ReasonLogout, At: t0.Add(time.Minute)}))

	if sent := sweeperTick(t, s, t0.Add(150*time.Second), out); len(sent) != 0 {
		t.Fatalf("sent %+v before any deadline", sent)
	}
	sent := sweeperTick(t, s, t0.Add(25*time.Minute), out)
	if len(sent) != 1 || *sent[0].cmd.(*SweepPresence) != (SweepPresence{ID: ReactionID(bobLater.ID, "sweep-presence"), User: "bob"}) {
		t.Fatalf("sent %+v, want bob's sweep only", sent)
	}
	sent = sweeperTick(t, s, t0.Add(30*time.Minute), out)
	if len(sent) != 1 || *sent[0].cmd.(*ExpireSession) != (ExpireSession{ID: ReactionID(renewed.ID, "expire-session"), Session: "s2"}) {
		t.Fatalf("sent %+v, want s2's expiry at its renewed time", sent)
	}

	// A failed send is tried again at the next tick.
	sweeperHandle(t, s, on("dave"), hbAt("dave", t0.Add(time.Hour)))
	out.fail = 1
	if err := s.Tick(context.Background(), t0.Add(2*time.Hour)); err == nil {
		t.Fatal("Tick hid a failed send")
	}
	if sent := sweeperTick(t, s, t0.Add(2*time.Hour), out); len(sent) != 1 || sent[0].cmd.(*SweepPresence).User != "dave" {
		t.Fatalf("after a failed send, sent %+v", sent)
	}
}

func TestSweeperPresenceTimeoutZeroNeverSweeps(t *testing.T) {
	t.Parallel()
	clock := start()
	p := domain.DefaultPolicy()
	p.PresenceTimeout = 0
	h, err := New(memstore.New(), Config{Policy: p, Clock: clock, Hasher: cheap})
	if err != nil {
		t.Fatal(err)
	}
	out := &sweeperSender{}
	s := NewSweeper(h, out, SweeperConfig{Interval: -1})
	var f sweeperFeed
	sweeperHandle(t, s, f.next(presence.PresenceChanged{User: "eve", Status: presence.Online, Chosen: presence.Online, At: clock.Now()}),
		f.next(presence.HeartbeatRecorded{User: "eve", At: clock.Now()}))
	if sent := sweeperTick(t, s, clock.Now().Add(24*time.Hour), out); len(sent) != 0 {
		t.Fatalf("sent %+v with PresenceTimeout 0", sent)
	}
}

// sweeperSync waits for the sweeper to have seen the whole log.
func sweeperSync(t *testing.T, ctx context.Context, s *Sweeper, store eventstore.Store) {
	t.Helper()
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx, head); err != nil {
		t.Fatalf("sweeper did not reach position %d: %v", head, err)
	}
}

// TestSweeperOnTheBus: through the real bus and handlers, a user goes
// offline 150 s after the last heartbeat and a session ends at its expiry,
// once each, however often the events arrive and the ticks run.
func TestSweeperOnTheBus(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	clock := start()
	h := newHandlers(t, store, clock)
	ctx := busContext(t)
	if _, _, err := h.RegisterUser(ctx, RegisterUser{Handle: "alice", DisplayName: "Alice", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}

	hn := newTestBus(t, h, store, BusConfig{})
	sw := NewSweeper(h, hn.bus, SweeperConfig{Interval: -1})
	hn.observe(t, sw)
	sweeps, err := hn.ps.get(ChannelCommands).Subscribe(ctx, "commands.SweepPresence")
	if err != nil {
		t.Fatal(err)
	}
	var sweepMsgs []*message.Message
	var watching sync.WaitGroup
	watching.Go(func() {
		for m := range sweeps {
			m.Ack()
			sweepMsgs = append(sweepMsgs, m)
		}
	})
	hn.run(t)

	if _, err := h.Connect(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	sess, err := h.Login(ctx, Login{Handle: "alice", Password: "correct horse", Verified: true, Verifier: "pow"})
	if err != nil {
		t.Fatal(err)
	}
	sweeperSync(t, ctx, sw, store)
	var heartbeat eventstore.Record
	for _, r := range busLog(t, store) {
		if r.Type == "HeartbeatRecorded" {
			heartbeat = r
		}
	}

	// redeliver republishes the whole log onto the events topic, as a
	// restart from an old checkpoint would; Publish returns once every
	// reactor handled it.
	redeliver := func() {
		t.Helper()
		for _, r := range busLog(t, store) {
			if err := hn.ps.get(ChannelEvents).Publish("events", recordMessage(r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tick := func() {
		t.Helper()
		if err := sw.Tick(ctx, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}

	clock.Add(149 * time.Second)
	tick()
	if n := presenceChanges(t, store, "alice", presence.ReasonTimeout); n != 0 {
		t.Fatalf("offline after 149 s")
	}
	clock.Add(time.Second)
	tick() // Send returns once the handler is done
	tick()
	redeliver()
	sweeperSync(t, ctx, sw, store)
	tick()
	if n := presenceChanges(t, store, "alice", presence.ReasonTimeout); n != 1 {
		t.Fatalf("%d timeouts after 150 s, want 1", n)
	}

	clock.Add(sess.ExpiresAt.Add(-time.Second).Sub(clock.Now()))
	tick()
	if n := sessionEnds(t, store, sess.ID, session.ReasonExpired); n != 0 {
		t.Fatalf("session expired before its expiry")
	}
	clock.Add(time.Second)
	tick()
	redeliver()
	sweeperSync(t, ctx, sw, store)
	tick()
	tick()
	if n := sessionEnds(t, store, sess.ID, session.ReasonExpired); n != 1 {
		t.Fatalf("%d expiries, want 1", n)
	}

	hn.stop(t)
	watching.Wait() // the GoChannel closed the subscription
	if len(sweepMsgs) != 1 {
		t.Fatalf("%d SweepPresence messages, want 1", len(sweepMsgs))
	}
	m := sweepMsgs[0]
	if m.UUID != ReactionID(heartbeat.ID, "sweep-presence").String() ||
		middleware.MessageCorrelationID(m) != heartbeat.Metadata.CorrelationID.String() ||
		m.Metadata.Get("causation_id") != heartbeat.ID.String() {
		t.Fatalf("SweepPresence message %s %v; want it derived from heartbeat %s (correlation %s)", m.UUID, m.Metadata, heartbeat.ID, heartbeat.Metadata.CorrelationID)
	}
}

// TestSweeperPrimesFromTheLog: after a restart, the sweeper knows the
// deadlines set before the checkpoint, which the bus does not deliver
// again.
func TestSweeperPrimesFromTheLog(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	clock := start()
	h := newHandlers(t, store, clock)
	ctx := busContext(t)
	cp := &MemoryCheckpoint{}

	hn := newTestBus(t, h, store, BusConfig{Checkpoint: cp})
	sw := NewSweeper(h, hn.bus, SweeperConfig{Interval: -1})
	hn.observe(t, sw)
	hn.run(t)
	if _, _, err := h.RegisterUser(ctx, RegisterUser{Handle: "bob", DisplayName: "Bob", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Connect(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	sweeperSync(t, ctx, sw, store)
	hn.stop(t)
	head, _ := store.Head(ctx)
	if pos, _ := cp.Load(ctx); pos != head {
		t.Fatalf("checkpoint %d, head %d", pos, head)
	}

	hn = newTestBus(t, h, store, BusConfig{Checkpoint: cp})
	fresh := NewSweeper(h, hn.bus, SweeperConfig{Interval: -1})
	hn.observe(t, fresh)
	hn.run(t)
	clock.Add(150 * time.Second)
	if err := fresh.Tick(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n := presenceChanges(t, store, "bob", presence.ReasonTimeout); n != 1 {
		t.Fatalf("%d timeouts after a restart, want 1", n)
	}
}

// TestSweeperRunTicks: Run ticks on its own with the handlers' clock.
func TestSweeperRunTicks(t *testing.T) {
	t.Parallel()
	clock := start()
	h := newHandlers(t, memstore.New(), clock)
	sent := make(chan any, 1)
	s := NewSweeper(h, sweeperSenderFunc(func(_ context.Context, cmd any) error {
		sent <- cmd
		return nil
	}), SweeperConfig{Interval: time.Millisecond})
	var f sweeperFeed
	sweeperHandle(t, s, f.next(presence.PresenceChanged{User: "fay", Status: presence.Online, Chosen: presence.Online, At: clock.Now()}),
		f.next(presence.HeartbeatRecorded{User: "fay", At: clock.Now()}))
	clock.Add(time.Hour)
	ctx, cancel := context.WithCancel(busContext(t))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case cmd := <-sent:
		if cmd.(*SweepPresence).User != "fay" {
			t.Fatalf("sent %+v", cmd)
		}
	case <-time.After(busWait):
		t.Fatal("Run did not tick")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type sweeperSenderFunc func(ctx context.Context, cmd any) error

func (f sweeperSenderFunc) Send(ctx context.Context, cmd any) error { return f(ctx, cmd) }
