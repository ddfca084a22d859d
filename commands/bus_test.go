package commands

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/presence"
	"switchboard/domain/session"
	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
)

// busWait bounds every wait of these tests: a condition that does not hold
// by then fails the test instead of hanging it.
const busWait = 20 * time.Second

func busContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), busWait)
	t.Cleanup(cancel)
	return ctx
}

// busPubSubs is a PubSubFactory that keeps the GoChannels it builds, so
// that a test can subscribe next to the bus's handlers (every subscriber
// of a GoChannel topic gets every message) or publish onto its topics.
type busPubSubs struct {
	mu sync.Mutex
	ch map[Channel]*gochannel.GoChannel
}

func (p *busPubSubs) factory(ch Channel, logger watermill.LoggerAdapter) (PubSub, error) {
	ps, err := GoChannelPubSub(ch, logger)
	if err != nil {
		return ps, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ch == nil {
		p.ch = map[Channel]*gochannel.GoChannel{}
	}
	p.ch[ch] = ps.Publisher.(*gochannel.GoChannel)
	return ps, nil
}

func (p *busPubSubs) get(ch Channel) *gochannel.GoChannel {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ch[ch]
}

// busHarness is a bus under test.
type busHarness struct {
	bus      *Bus
	ps       *busPubSubs
	runErr   chan error
	stopOnce sync.Once
}

// newTestBus builds a bus on real GoChannels, with a quiet logger and fast
// retries unless cfg says otherwise. It does not run it yet, so that the
// test can add reactors and subscribe first.
func newTestBus(t *testing.T, h *Handlers, store eventstore.Store, cfg BusConfig) *busHarness {
	t.Helper()
	hn := &busHarness{ps: &busPubSubs{}, runErr: make(chan error, 1)}
	if cfg.PubSub == nil {
		cfg.PubSub = hn.ps.factory
	}
	if cfg.Logger == nil {
		cfg.Logger = watermill.NopLogger{}
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Millisecond
		cfg.MaxRetryInterval = 2 * time.Millisecond
	}
	b, err := NewBus(h, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hn.bus = b
	t.Cleanup(func() { hn.stop(t) })
	return hn
}

func (hn *busHarness) add(t *testing.T, reactors ...cqrs.EventHandler) {
	t.Helper()
	for _, r := range reactors {
		if err := hn.bus.AddReactor(r); err != nil {
			t.Fatal(err)
		}
	}
}

func (hn *busHarness) observe(t *testing.T, observers ...Observer) {
	t.Helper()
	for _, o := range observers {
		if err := hn.bus.AddObserver(o); err != nil {
			t.Fatal(err)
		}
	}
}

// run starts the bus and waits until it is running.
func (hn *busHarness) run(t *testing.T) {
	t.Helper()
	go func() { hn.runErr <- hn.bus.Run(context.Background()) }()
	select {
	case <-hn.bus.Running():
	case err := <-hn.runErr:
		hn.runErr <- err
		t.Fatalf("Run returned before running: %v", err)
	case <-time.After(busWait):
		t.Fatal("the bus did not start")
	}
}

// stop closes the bus and checks that Run ended cleanly.
func (hn *busHarness) stop(t *testing.T) {
	t.Helper()
	hn.stopOnce.Do(func() {
		if err := hn.bus.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-hn.runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		default: // never ran
		}
	})
}

// busRecorder is a reactor that passes on every event it handles.
type busRecorder struct {
	cqrs.EventHandler
	events chan *Event
}

func newBusRecorder(name string) *busRecorder {
	r := &busRecorder{events: make(chan *Event, 1000)}
	r.EventHandler = cqrs.NewEventHandler(name, func(_ context.Context, e *Event) error {
		r.events <- e
		return nil
	})
	return r
}

func (r *busRecorder) next(t *testing.T) *Event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(busWait):
		t.Fatalf("%s: no event", r.HandlerName())
		return nil
	}
}

// busAppend appends heartbeats of user to its presence stream, each with a
// correlation id of its own, and returns the records as the log has them.
func busAppend(t *testing.T, store eventstore.Store, user string, n int) []eventstore.Record {
	t.Helper()
	ctx := context.Background()
	recs := make([]eventstore.Proposed, n)
	for i := range recs {
		typ, data, err := codec.Encode(presence.HeartbeatRecorded{User: user, At: time.Date(2026, 11, 23, 12, 0, i, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = eventstore.Proposed{ID: uuid.New(), Type: typ, Data: data, Metadata: eventstore.Metadata{CorrelationID: uuid.New(), User: user}}
	}
	res, err := store.Append(ctx, presence.Stream(user), eventstore.Any, recs)
	if err != nil {
		t.Fatal(err)
	}
	out, err := store.ReadAll(ctx, res.Position-uint64(n)+1, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func busLog(t *testing.T, store eventstore.Store) []eventstore.Record {
	t.Helper()
	recs, err := store.ReadAll(context.Background(), 1, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// checkDelivered checks that r receives exactly the records want, in order.
func checkDelivered(t *testing.T, r *busRecorder, want []eventstore.Record) {
	t.Helper()
	for _, w := range want {
		got := r.next(t)
		if got.Position != w.Position || got.ID != w.ID {
			t.Fatalf("%s: got position %d (%s), want %d (%s)", r.HandlerName(), got.Position, got.ID, w.Position, w.ID)
		}
		if got.Stream != w.Stream || got.Type != w.Type || got.Revision != w.Revision ||
			string(got.Data) != string(w.Data) || got.Metadata != w.Metadata || !got.Committed.Equal(w.Committed) {
			t.Fatalf("%s: position %d arrived as %+v, want %+v", r.HandlerName(), w.Position, got.Record, w)
		}
		if hb, ok := got.Domain.(presence.HeartbeatRecorded); !ok || hb.User != w.Metadata.User {
			t.Fatalf("%s: position %d decoded as %#v", r.HandlerName(), w.Position, got.Domain)
		}
	}
}

func TestForwarderDeliversEveryRecordOnceInOrder(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	before := append(busAppend(t, store, "ann", 20), busAppend(t, store, "ben", 10)...)

	hn := newTestBus(t, h, store, BusConfig{})
	one, two := newBusRecorder("one"), newBusRecorder("two")
	hn.add(t, one, two)
	hn.run(t)

	// Both reactors get the backlog, then the live records, in commit order.
	var live []eventstore.Record
	for i := range 10 {
		live = append(live, busAppend(t, store, []string{"ann", "cat"}[i%2], 3)...)
	}
	all := append(before, live...)
	checkDelivered(t, one, all)
	checkDelivered(t, two, all)

	// Nothing was delivered twice: the next record is the one appended next.
	last := busAppend(t, store, "dan", 1)
	checkDelivered(t, one, last)
	checkDelivered(t, two, last)
}

func TestForwarderResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	cp := NewFileCheckpoint(t.TempDir() + "/forwarder.checkpoint")
	ctx := busContext(t)

	first := busAppend(t, store, "ann", 20)
	hn := newTestBus(t, h, store, BusConfig{Checkpoint: cp})
	rec := newBusRecorder("rec")
	hn.add(t, rec)
	hn.run(t)
	checkDelivered(t, rec, first)
	hn.stop(t)
	if pos, err := cp.Load(ctx); err != nil || pos != 20 {
		t.Fatalf("checkpoint after a clean stop: %d, %v; want 20", pos, err)
	}

	// A restart resumes after the checkpoint: nothing again, nothing lost.
	second := busAppend(t, store, "ben", 10)
	hn = newTestBus(t, h, store, BusConfig{Checkpoint: cp})
	rec = newBusRecorder("rec")
	hn.add(t, rec)
	hn.run(t)
	checkDelivered(t, rec, second)
	third := busAppend(t, store, "cat", 5)
	checkDelivered(t, rec, third)
	hn.stop(t)
	if pos, err := cp.Load(ctx); err != nil || pos != 35 {
		t.Fatalf("checkpoint: %d, %v; want 35", pos, err)
	}

	// A crash loses the saves since the last one: the records after it come
	// again (at least once), in order, and nothing is skipped.
	if err := cp.Save(ctx, 5); err != nil {
		t.Fatal(err)
	}
	hn = newTestBus(t, h, store, BusConfig{Checkpoint: cp})
	rec = newBusRecorder("rec")
	hn.add(t, rec)
	hn.run(t)
	checkDelivered(t, rec, busLog(t, store)[5:])
}

func TestForwarderRefusesCheckpointPastTheLog(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	busAppend(t, store, "ann", 3)
	cp := &MemoryCheckpoint{}
	cp.Save(context.Background(), 9)
	hn := newTestBus(t, h, store, BusConfig{Checkpoint: cp})
	err := hn.bus.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "past the log") {
		t.Fatalf("Run with a checkpoint past the head: %v", err)
	}
}

// busSavingCheckpoint reports every save.
type busSavingCheckpoint struct {
	MemoryCheckpoint
	saves chan uint64
}

func (c *busSavingCheckpoint) Save(ctx context.Context, pos uint64) error {
	c.MemoryCheckpoint.Save(ctx, pos)
	c.saves <- pos
	return nil
}

func TestForwarderSavesEveryNRecords(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	cp := &busSavingCheckpoint{saves: make(chan uint64, 100)}
	hn := newTestBus(t, h, store, BusConfig{Checkpoint: cp, CheckpointEvery: 10, CheckpointInterval: time.Hour})
	rec := newBusRecorder("rec")
	hn.add(t, rec)
	hn.run(t)
	checkDelivered(t, rec, busAppend(t, store, "ann", 25))
	// Record 25 was published, so the save that followed record 20 is done.
	if got := []uint64{<-cp.saves, <-cp.saves}; got[0] != 10 || got[1] != 20 {
		t.Fatalf("saves %v, want [10 20]", got)
	}
	select {
	case pos := <-cp.saves:
		t.Fatalf("unexpected save of %d before stopping", pos)
	default:
	}
	hn.stop(t)
	if pos := <-cp.saves; pos != 25 {
		t.Fatalf("save on stop: %d, want 25", pos)
	}
}

func TestForwarderSavesAfterInterval(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	cp := &busSavingCheckpoint{saves: make(chan uint64, 100)}
	hn := newTestBus(t, h, store, BusConfig{Checkpoint: cp, CheckpointEvery: 1000, CheckpointInterval: 10 * time.Millisecond})
	rec := newBusRecorder("rec")
	hn.add(t, rec)
	hn.run(t)
	checkDelivered(t, rec, busAppend(t, store, "ann", 3))
	// No more records come, yet the position is saved within the interval.
	select {
	case pos := <-cp.saves:
		if pos != 3 {
			t.Fatalf("saved %d, want 3", pos)
		}
	case <-time.After(busWait):
		t.Fatal("the checkpoint was not saved while idle")
	}
}

func TestFileCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	cp := NewFileCheckpoint(dir + "/cp")
	if pos, err := cp.Load(ctx); err != nil || pos != 0 {
		t.Fatalf("missing file: %d, %v; want 0", pos, err)
	}
	for _, pos := range []uint64{1, 42, 1 << 40} {
		if err := cp.Save(ctx, pos); err != nil {
			t.Fatal(err)
		}
		if got, err := NewFileCheckpoint(dir + "/cp").Load(ctx); err != nil || got != pos {
			t.Fatalf("after saving %d: %d, %v", pos, got, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "cp" {
		t.Fatalf("directory holds %v, %v; want only the checkpoint (no temporary files)", entries, err)
	}
	if err := os.WriteFile(dir+"/bad", []byte("12x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileCheckpoint(dir + "/bad").Load(ctx); err == nil {
		t.Fatal("a corrupt checkpoint loaded without an error")
	}
	if err := NewFileCheckpoint(dir+"/no/such/dir/cp").Save(ctx, 1); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
}

// busAttempts counts a handler's calls per event.
type busAttempts struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *busAttempts) inc(handler string, id uuid.UUID) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	a.n[handler+"/"+id.String()]++
	return a.n[handler+"/"+id.String()]
}

func (a *busAttempts) get(handler string, id uuid.UUID) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[handler+"/"+id.String()]
}

// TestBusMiddlewareOrder checks that the middlewares are stacked as
// documented: Recoverer inside Retry (a panic is retried), Retry inside
// PoisonQueue (poisoned only once the retries are used up), and the poison
// queue acknowledging, so that the feed moves on.
func TestBusMiddlewareOrder(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	// Subscribers get a record concurrently; a record is published only
	// once every subscriber acknowledged the one before. So when the
	// recorder has the fifth record, everyone is done with the fourth.
	recs := busAppend(t, store, "ann", 5)
	flakyOn, brokenOn, panicOn, last := recs[0].ID, recs[1].ID, recs[2].ID, recs[3]

	const maxRetries = 3
	var attempts busAttempts
	handler := func(name string, fn func(e *Event, n int) error) cqrs.EventHandler {
		return cqrs.NewEventHandler(name, func(_ context.Context, e *Event) error {
			return fn(e, attempts.inc(name, e.ID))
		})
	}
	flaky := handler("flaky", func(e *Event, n int) error {
		if e.ID == flakyOn && n <= 2 {
			return errors.New("flaky: not yet")
		}
		return nil
	})
	broken := handler("broken", func(e *Event, n int) error {
		if e.ID == brokenOn {
			return errors.New("broken: never")
		}
		return nil
	})
	panicky := handler("panicky", func(e *Event, n int) error {
		if e.ID == panicOn && n == 1 {
			panic("panicky: first time only")
		}
		return nil
	})
	panicker := handler("panicker", func(e *Event, n int) error {
		if e.ID == panicOn {
			panic("panicker: always")
		}
		return nil
	})
	after := newBusRecorder("after")

	hn := newTestBus(t, h, store, BusConfig{MaxRetries: maxRetries})
	hn.add(t, flaky, broken, panicky, panicker, after)
	ctx := busContext(t)
	poisoned, err := hn.ps.get(ChannelPoison).Subscribe(ctx, "poison")
	if err != nil {
		t.Fatal(err)
	}
	hn.run(t)

	// The feed went past every failure: the last records reached everyone.
	checkDelivered(t, after, recs)
	for _, name := range []string{"flaky", "broken", "panicky", "panicker"} {
		if n := attempts.get(name, last.ID); n != 1 {
			t.Errorf("%s handled the last record %d times, want 1", name, n)
		}
	}
	for _, c := range []struct {
		handler string
		id      uuid.UUID
		want    int
	}{
		{"flaky", flakyOn, 3},                // two failures, then success
		{"broken", brokenOn, maxRetries + 1}, // every retry used
		{"panicky", panicOn, 2},              // the panic was recovered and retried
		{"panicker", panicOn, maxRetries + 1},
	} {
		if n := attempts.get(c.handler, c.id); n != c.want {
			t.Errorf("%s: %d attempts, want %d", c.handler, n, c.want)
		}
	}

	want := map[string]struct {
		id     uuid.UUID
		reason string
	}{
		"broken":   {brokenOn, "broken: never"},
		"panicker": {panicOn, "panic occurred"},
	}
	for range want {
		var msg *message.Message
		select {
		case msg = <-poisoned:
			msg.Ack()
		case <-ctx.Done():
			t.Fatal("missing poisoned messages")
		}
		handler := msg.Metadata.Get(middleware.PoisonedHandlerKey)
		w, ok := want[handler]
		if !ok || msg.UUID != w.id.String() || !strings.Contains(msg.Metadata.Get(middleware.ReasonForPoisonedKey), w.reason) {
			t.Fatalf("poisoned %s by %q: %v", msg.UUID, handler, msg.Metadata)
		}
		if msg.Metadata.Get(middleware.PoisonedTopicKey) != "events" {
			t.Fatalf("poisoned from topic %q", msg.Metadata.Get(middleware.PoisonedTopicKey))
		}
		delete(want, handler)
	}
}

// TestBusCorrelatesCommandsWithEvents: a command sent while handling an
// event carries the event's correlation id (Watermill's correlation_id)
// and names the event as its cause.
func TestBusCorrelatesCommandsWithEvents(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	corr := uuid.New()
	typ, data, _ := codec.Encode(presence.HeartbeatRecorded{User: "carol", At: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)})
	trigger := eventstore.Proposed{ID: uuid.New(), Type: typ, Data: data, Metadata: eventstore.Metadata{CorrelationID: corr}}
	if _, err := store.Append(context.Background(), presence.Stream("carol"), eventstore.NoStream, []eventstore.Proposed{trigger}); err != nil {
		t.Fatal(err)
	}
	ctx := busContext(t)

	hn := newTestBus(t, h, store, BusConfig{})
	cmdID := ReactionID(trigger.ID, "test")
	caller := cqrs.NewEventHandler("caller", func(ctx context.Context, e *Event) error {
		if e.Metadata.CorrelationID != corr {
			t.Errorf("the event arrived with correlation id %s, want %s", e.Metadata.CorrelationID, corr)
		}
		return hn.bus.Send(ctx, &SweepPresence{ID: cmdID, User: "carol"})
	})
	hn.add(t, caller)
	// A second subscriber of the command's topic sees the message as sent.
	msgs, err := hn.ps.get(ChannelCommands).Subscribe(ctx, "commands.SweepPresence")
	if err != nil {
		t.Fatal(err)
	}
	hn.run(t)

	select {
	case msg := <-msgs:
		msg.Ack()
		if msg.UUID != cmdID.String() {
			t.Errorf("command message UUID %s, want the command id %s", msg.UUID, cmdID)
		}
		if got := middleware.MessageCorrelationID(msg); got != corr.String() {
			t.Errorf("command correlation_id %q, want %s", got, corr)
		}
		if got := msg.Metadata.Get("causation_id"); got != trigger.ID.String() {
			t.Errorf("command causation_id %q, want %s", got, trigger.ID)
		}
	case <-ctx.Done():
		t.Fatal("no command was sent")
	}
}

func TestBusSendReachesHandlers(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	clock := start()
	h := newHandlers(t, store, clock)
	ctx := busContext(t)
	room := setup(t, h, "lobby", "alice", "bob")
	if _, err := h.Connect(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	sess, err := h.Login(ctx, Login{Handle: "alice", Password: "correct horse", Verified: true, Verifier: "pow"})
	if err != nil {
		t.Fatal(err)
	}

	hn := newTestBus(t, h, store, BusConfig{})
	if err := hn.bus.Send(ctx, struct{ X int }{1}); err == nil {
		t.Fatal("a command without a handler was accepted")
	}
	hn.run(t)

	// With GoChannel, Send returns once the handler is done.
	clock.Add(150 * time.Second)
	if err := hn.bus.Send(ctx, SweepPresence{ID: uuid.New(), User: "alice"}); err != nil {
		t.Fatal(err)
	}
	if got := presenceChanges(t, store, "alice", presence.ReasonTimeout); got != 1 {
		t.Fatalf("%d timeouts after SweepPresence, want 1", got)
	}

	clock.Add(20 * time.Minute)
	if err := hn.bus.Send(ctx, &ExpireSession{ID: uuid.New(), Session: sess.ID}); err != nil {
		t.Fatal(err)
	}
	if got := sessionEnds(t, store, sess.ID, session.ReasonExpired); got != 1 {
		t.Fatalf("%d expiries after ExpireSession, want 1", got)
	}

	cause := uuid.New()
	for range 2 { // the same notice twice: posted once
		if err := hn.bus.Send(ctx, &PostSystem{Room: room, Text: "bots are resting", What: "test", Cause: cause}); err != nil {
			t.Fatal(err)
		}
	}
	if msgs := messages(t, store, room); len(msgs) != 1 || msgs[0].Text != "bots are resting" {
		t.Fatalf("room holds %+v", msgs)
	}

	hn.stop(t)
	if err := hn.bus.Send(ctx, &SweepPresence{ID: uuid.New(), User: "alice"}); !errors.Is(err, ErrBusClosed) {
		t.Fatalf("Send after Close: %v, want ErrBusClosed", err)
	}
}

func TestBusRefusesBadReactors(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	hn := newTestBus(t, newHandlers(t, store, start()), store, BusConfig{})
	if err := hn.bus.AddReactor(cqrs.NewEventHandler("wrong", func(context.Context, *struct{}) error { return nil })); err == nil {
		t.Error("a reactor of another event type was accepted")
	}
	hn.add(t, newBusRecorder("dup"))
	if err := hn.bus.AddReactor(newBusRecorder("dup")); err == nil {
		t.Error("a second reactor with the same name was accepted")
	}
	if err := hn.bus.AddReactor(newBusRecorder("commands.SweepPresence")); err == nil {
		t.Error("a reactor named like a command handler was accepted")
	}
	hn.run(t)
	if err := hn.bus.AddReactor(newBusRecorder("late")); err == nil {
		t.Error("a reactor was added to a running bus")
	}
	if err := hn.bus.Run(context.Background()); err == nil {
		t.Error("Run ran twice")
	}
	if err := (BusConfig{CheckpointEvery: -1, CloseTimeout: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "CloseTimeout") {
		t.Errorf("Validate: %v", err)
	}
}

func TestBusCloseWithoutRun(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	b, err := NewBus(newHandlers(t, store, start()), store, BusConfig{Logger: watermill.NopLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(context.Background(), &SweepPresence{User: "x"}); !errors.Is(err, ErrBusClosed) {
		t.Fatalf("Send on a closed bus: %v", err)
	}
	if err := b.Run(context.Background()); err == nil {
		t.Fatal("Run after Close succeeded")
	}
}

// presenceChanges counts the user's PresenceChanged events with reason.
func presenceChanges(t *testing.T, store eventstore.Store, user string, reason presence.Reason) int {
	t.Helper()
	n := 0
	for _, ev := range busStream(t, store, presence.Stream(user)) {
		if c, ok := ev.(presence.PresenceChanged); ok && c.Reason == reason {
			n++
		}
	}
	return n
}

// sessionEnds counts the session's SessionEnded events with reason.
func sessionEnds(t *testing.T, store eventstore.Store, id string, reason session.Reason) int {
	t.Helper()
	n := 0
	for _, ev := range busStream(t, store, session.Stream(id)) {
		if e, ok := ev.(session.SessionEnded); ok && e.Reason == reason {
			n++
		}
	}
	return n
}

func busStream(t *testing.T, store eventstore.Store, stream string) []domain.Event {
	t.Helper()
	recs, err := store.ReadStream(context.Background(), stream, eventstore.Forwards, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]domain.Event, len(recs))
	for i, r := range recs {
		if out[i], err = codec.Decode(r.Type, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestBusShutdownTimeoutRedelivers: a handler that does not finish within
// CloseTimeout does not hold the shutdown, and its record is not counted
// as forwarded (nor poisoned): the next start delivers it again.
func TestBusShutdownTimeoutRedelivers(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	recs := busAppend(t, store, "ann", 3)
	cp := &MemoryCheckpoint{}

	hn := newTestBus(t, h, store, BusConfig{Checkpoint: cp, CloseTimeout: 50 * time.Millisecond})
	stuck := make(chan struct{})
	rec := newBusRecorder("rec")
	hn.add(t, rec, cqrs.NewEventHandler("stuck", func(ctx context.Context, e *Event) error {
		if e.ID == recs[1].ID {
			close(stuck)
			<-ctx.Done() // until the router gives up on it
			return ctx.Err()
		}
		return nil
	}))
	ctx := busContext(t)
	poisoned, err := hn.ps.get(ChannelPoison).Subscribe(ctx, "poison")
	if err != nil {
		t.Fatal(err)
	}
	hn.run(t)
	checkDelivered(t, rec, recs[:2])
	select {
	case <-stuck:
	case <-ctx.Done():
		t.Fatal("the stuck handler never got its record")
	}
	hn.stop(t)
	if pos, _ := cp.Load(ctx); pos != 1 {
		t.Fatalf("checkpoint %d after a forced stop, want 1 (the record in flight not counted)", pos)
	}
	for m := range poisoned { // closed with the pub/sub
		t.Errorf("poisoned %s at shutdown: %v", m.UUID, m.Metadata)
	}

	hn = newTestBus(t, h, store, BusConfig{Checkpoint: cp})
	rec = newBusRecorder("rec")
	hn.add(t, rec)
	hn.run(t)
	checkDelivered(t, rec, recs[1:])
}

// typeObserver reads only UserRegistered records.
type typeObserver struct {
	mu   sync.Mutex
	seen map[uint64]*Event
}

func (o *typeObserver) Observes(t string) bool { return t == "UserRegistered" }

func (o *typeObserver) Observe(_ context.Context, e *Event) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen[e.Position] = e
	return nil
}

// An observer that filters by type gets every record, in order, but the
// domain event only of the types it reads.
func TestObserverTypeFilter(t *testing.T) {
	store := memstore.New()
	h := newHandlers(t, store, start())
	setup(t, h, "lobby", "alice", "bob") // users, a room, joins
	hn := newTestBus(t, h, store, BusConfig{})
	o := &typeObserver{seen: map[uint64]*Event{}}
	hn.observe(t, o)
	hn.run(t)
	head, _ := store.Head(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		n := len(o.seen)
		o.mu.Unlock()
		if n == int(head) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observed %d of %d records", n, head)
		}
		time.Sleep(5 * time.Millisecond)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	decoded := 0
	for p := uint64(1); p <= head; p++ {
		e := o.seen[p]
		switch {
		case e == nil:
			t.Fatalf("record %d not observed", p)
		case e.Type == "UserRegistered" && e.Domain == nil:
			t.Fatalf("record %d (%s) not decoded", p, e.Type)
		case e.Type != "UserRegistered" && e.Domain != nil:
			t.Fatalf("record %d (%s) decoded for an observer that does not read it", p, e.Type)
		case e.Domain != nil:
			decoded++
		}
	}
	if decoded != 2 {
		t.Fatalf("%d UserRegistered decoded, want 2", decoded)
	}
}

// selectingRecorder is a busRecorder that takes the records of one user's
// presence stream only.
type selectingRecorder struct {
	*busRecorder
	stream string
}

func (r selectingRecorder) Selects(rec eventstore.Record) bool { return rec.Stream == r.stream }

// The forwarder publishes a record only if some reactor selects it, yet
// counts every record as forwarded; a reactor that is no Selector takes
// every record.
func TestForwarderPublishesSelectedRecords(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	h := newHandlers(t, store, start())
	cp := &MemoryCheckpoint{}
	ctx := busContext(t)

	hn := newTestBus(t, h, store, BusConfig{Checkpoint: cp})
	ann := selectingRecorder{newBusRecorder("ann"), presence.Stream("ann")}
	hn.add(t, ann)
	seen := &typeObserver{seen: map[uint64]*Event{}} // every record, published or not
	hn.observe(t, seen)
	tap := newBusRecorder("tap")
	sub, err := hn.ps.get(ChannelEvents).Subscribe(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for msg := range sub {
			rec, err := messageRecord(msg)
			if err == nil {
				tap.events <- &Event{Record: rec}
			}
			msg.Ack()
		}
	}()
	hn.run(t)

	var anns []eventstore.Record
	for range 5 {
		busAppend(t, store, "ben", 2)
		anns = append(anns, busAppend(t, store, "ann", 1)...)
	}
	last := busAppend(t, store, "ben", 3)
	checkDelivered(t, ann.busRecorder, anns)
	// What reaches the pub/sub is the selected records alone.
	for _, w := range anns {
		if got := tap.next(t); got.Position != w.Position {
			t.Fatalf("published position %d, want %d (an unselected record was published)", got.Position, w.Position)
		}
	}
	// Stop once the forwarder has taken the last record (observers see
	// it before the forwarder counts it, which it then does before
	// looking at its context again).
	lastPos := last[len(last)-1].Position
	for deadline := time.Now().Add(busWait); ; time.Sleep(time.Millisecond) {
		seen.mu.Lock()
		_, done := seen.seen[lastPos]
		seen.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %d never observed", lastPos)
		}
	}
	hn.stop(t)
	select {
	case e := <-tap.events:
		t.Fatalf("unselected record %d (%s) was published", e.Position, e.Stream)
	default:
	}
	if pos, err := cp.Load(ctx); err != nil || pos != lastPos {
		t.Fatalf("checkpoint %d, %v; want %d: unselected records count as forwarded", pos, err, lastPos)
	}

	// With a reactor that is no Selector beside it, every record goes out
	// (to every handler: a Selector's Handle still skips what it does not
	// want).
	hn = newTestBus(t, h, store, BusConfig{})
	ann = selectingRecorder{newBusRecorder("ann"), presence.Stream("ann")}
	all := newBusRecorder("all")
	hn.add(t, ann, all)
	hn.run(t)
	log := busLog(t, store)
	checkDelivered(t, all, log)
	checkDelivered(t, ann.busRecorder, log)
}
