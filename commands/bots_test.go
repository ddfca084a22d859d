package commands_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"switchboard/adapters/ollama"
	"switchboard/adapters/ollama/fake"
	"switchboard/commands"
	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/quota"
	"switchboard/domain/room"
	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
)

// These tests run the bot orchestrator the way Switchboard does: real
// handlers over a memstore, the real Watermill bus, the real Ollama
// adapter, and the stand-in Ollama server (adapters/ollama/fake) over
// HTTP. They wait on the orchestrator's Sync, the stand-in's request log
// and the typing recorder, never on sleeps.

var kit = commands.BotTestKit

// botWait bounds every wait: a condition that does not hold by then
// fails the test instead of hanging it.
const botWait = 20 * time.Second

func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), botWait)
	t.Cleanup(cancel)
	return ctx
}

// typingRecorder is the gateway's stand-in: it records typing signals.
type typingRecorder struct {
	mu      sync.Mutex
	events  []typingEvent
	changed chan struct{}
}

type typingEvent struct {
	room, user string
	typing     bool
	at         time.Time
}

func newTypingRecorder() *typingRecorder { return &typingRecorder{changed: make(chan struct{})} }

func (r *typingRecorder) Typing(roomID, user string, typing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, typingEvent{roomID, user, typing, time.Now()})
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *typingRecorder) all() []typingEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// wait returns the first event from index from on that matches.
func (r *typingRecorder) wait(ctx context.Context, from int, match func(typingEvent) bool) (typingEvent, int, error) {
	for {
		r.mu.Lock()
		for i := from; i < len(r.events); i++ {
			if match(r.events[i]) {
				e := r.events[i]
				r.mu.Unlock()
				return e, i, nil
			}
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return typingEvent{}, 0, ctx.Err()
		}
	}
}

// rig is the orchestrator on the bus, with the stand-in model.
type rig struct {
	store  eventstore.Store
	clock  interface{ Now() time.Time }
	h      *commands.Handlers
	model  *fake.Server
	llm    *ollama.Client
	typing *typingRecorder
	bots   *commands.BotOrchestrator
	bus    *commands.Bus
	seen   *positionRecorder
}

type rigOptions struct {
	policy domain.Policy
	bots   commands.BotConfig // LLM, Typing, Bots and Logger are filled in
	ollama ollama.Config      // Logger is filled in, and Host unless set
	store  eventstore.Store   // nil: a memstore
	noBots bool               // the bus without the orchestrator
	// before runs before the bus starts; with primed, the bus's
	// checkpoint is then the log's head, so the orchestrator learns what
	// came before through Prime only.
	before func(h *commands.Handlers)
	primed bool
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &rig{store: o.store, typing: newTypingRecorder(), model: fake.New(), seen: newPositionRecorder()}
	if r.store == nil {
		r.store = memstore.New()
	}
	clock := kit.Clock()
	r.clock = clock
	if o.policy == (domain.Policy{}) {
		o.policy = domain.DefaultPolicy()
	}
	r.h = kit.Handlers(t, r.store, clock, o.policy)
	kit.RegisterBots(t, r.h)

	ts := httptest.NewServer(r.model)
	if o.ollama.Host == "" {
		o.ollama.Host = ts.URL
	}
	o.ollama.Logger = quiet
	var err error
	if r.llm, err = ollama.New(o.ollama); err != nil {
		t.Fatal(err)
	}
	cfg := o.bots
	cfg.LLM, cfg.Typing, cfg.Bots, cfg.Logger = r.llm, r.typing, kit.BotHandles(), quiet
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = -1
	}
	if r.bots, err = commands.NewBotOrchestrator(r.h, cfg); err != nil {
		t.Fatal(err)
	}
	if o.before != nil {
		o.before(r.h)
	}
	checkpoint := &commands.MemoryCheckpoint{}
	if o.primed {
		head, _ := r.store.Head(context.Background())
		checkpoint.Save(context.Background(), head)
	}
	if r.bus, err = commands.NewBus(r.h, r.store, commands.BusConfig{Logger: watermill.NopLogger{}, RetryInterval: time.Millisecond, Checkpoint: checkpoint}); err != nil {
		t.Fatal(err)
	}
	for _, reactor := range []interface {
		HandlerName() string
		NewEvent() any
		Handle(context.Context, any) error
	}{r.bots, r.seen} {
		if o.noBots && reactor == r.bots {
			continue
		}
		if err := r.bus.AddReactor(reactor); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- r.bus.Run(context.Background()) }()
	t.Cleanup(func() {
		r.model.Close() // end held requests first: the bus waits for its runners
		if err := r.bus.Close(); err != nil {
			t.Errorf("bus close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("bus run: %v", err)
		}
		ts.Close()
	})
	select {
	case <-r.bus.Running():
	case err := <-done:
		t.Fatalf("bus stopped: %v", err)
	case <-time.After(botWait):
		t.Fatal("the bus did not start")
	}
	return r
}

// positionRecorder is a reactor that remembers the last position the bus
// delivered to it: proof that the feed moves while a model hangs.
type positionRecorder struct {
	mu      sync.Mutex
	pos     uint64
	changed chan struct{}
}

func newPositionRecorder() *positionRecorder { return &positionRecorder{changed: make(chan struct{})} }

func (p *positionRecorder) HandlerName() string { return "test-positions" }
func (p *positionRecorder) NewEvent() any       { return new(commands.Event) }
func (p *positionRecorder) Handle(_ context.Context, ev any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pos = ev.(*commands.Event).Position
	close(p.changed)
	p.changed = make(chan struct{})
	return nil
}

func (p *positionRecorder) wait(ctx context.Context, pos uint64) error {
	for {
		p.mu.Lock()
		ok, ch := p.pos >= pos, p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *rig) chat(t testing.TB, roomID, user, clientID, text string) commands.Ack {
	t.Helper()
	ack, err := r.h.PostChat(context.Background(), commands.PostChat{Room: roomID, User: user, ClientID: clientID, Text: text})
	if err != nil {
		t.Fatalf("%s posts %q: %v", user, text, err)
	}
	return ack
}

// sync waits until the orchestrator handled everything up to pos.
func (r *rig) sync(t testing.TB, pos uint64) {
	t.Helper()
	if err := r.bots.Sync(waitCtx(t), pos); err != nil {
		t.Fatalf("sync to %d: %v (stats %+v)", pos, err, r.bots.Stats())
	}
}

func (r *rig) messages(t testing.TB, roomID string) []room.MessagePosted {
	return kit.Messages(t, r.store, roomID)
}

// quotaEvents returns the day's quota events.
func (r *rig) quotaEvents(t testing.TB) []domain.Event {
	t.Helper()
	recs, err := r.store.ReadStream(context.Background(), quota.Stream(quota.Day(r.clock.Now())), eventstore.Forwards, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]domain.Event, 0, len(recs))
	for _, rec := range recs {
		ev, err := codec.Decode(rec.Type, rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func countKinds(evs []domain.Event) (reserved, charged, released int) {
	for _, e := range evs {
		switch e.(type) {
		case quota.QuotaReserved:
			reserved++
		case quota.QuotaCharged:
			charged++
		case quota.QuotaReleased:
			released++
		}
	}
	return
}

func TestBotAnswersAMention(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	r.model.Set(fake.Behaviour{Reply: func(fake.Request) string { return `Clippy: "It looks like you're **writing** a letter!"` }})
	lobby := kit.Room(t, r.h, "lobby", "alice", "bob")
	r.chat(t, lobby, "bob", "b1", "morning all")
	ack := r.chat(t, lobby, "alice", "a1", "@clippy help me")
	r.sync(t, ack.Position)

	msgs := r.messages(t, lobby)
	if len(msgs) != 3 {
		t.Fatalf("messages %+v", msgs)
	}
	reply := msgs[2]
	if reply.Kind != room.KindBot || reply.Sender != "bot_clippy" || reply.TriggerSeq != ack.Seq || reply.Text != "It looks like you're writing a letter!" {
		t.Fatalf("reply %+v", reply)
	}

	reqs := r.model.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model requests", len(reqs))
	}
	got := reqs[0].Messages
	if len(got) != 3 || got[0].Role != "system" || !strings.Contains(got[0].Content, "You are Clippy") ||
		got[1] != (fake.Message{Role: "user", Content: "bob: morning all"}) ||
		got[2] != (fake.Message{Role: "user", Content: "alice: @clippy help me"}) {
		t.Fatalf("prompt %+v", got)
	}

	evs := r.quotaEvents(t)
	if len(evs) != 2 {
		t.Fatalf("quota events %+v", evs)
	}
	res, ok := evs[0].(quota.QuotaReserved)
	if !ok || res.User != "alice" || res.Bot != "bot_clippy" || res.Room != lobby || res.TriggerSeq != ack.Seq {
		t.Fatalf("reservation %+v", evs[0])
	}
	ch, ok := evs[1].(quota.QuotaCharged)
	if !ok || ch.Reservation != res.Reservation || ch.PromptTokens != fake.PromptTokens(reqs[0]) || ch.GeneratedTokens != 8 {
		t.Fatalf("charge %+v, want %d prompt and 8 generated tokens", evs[1], fake.PromptTokens(reqs[0]))
	}

	typ := r.typing.all()
	if len(typ) < 2 || typ[0] != (typingEvent{lobby, "bot_clippy", true, typ[0].at}) || typ[len(typ)-1] != (typingEvent{lobby, "bot_clippy", false, typ[len(typ)-1].at}) {
		t.Fatalf("typing %+v", typ)
	}
	if st := r.bots.Stats(); st.Triggers != 1 || st.Replies != 1 || st.Failures != 0 || st.GeneratedTokens != 8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBotAnswersInItsDirectRoom(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	kit.Room(t, r.h, "lobby", "alice")
	dm, err := r.h.OpenDirect(context.Background(), commands.OpenDirect{User: "alice", ClientID: "dm", With: "bot_hal"})
	if err != nil {
		t.Fatal(err)
	}
	first := r.chat(t, dm.Room, "alice", "a1", "hello computer")
	nudge, err := r.h.Nudge(context.Background(), commands.Nudge{Room: dm.Room, User: "alice", ClientID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	r.sync(t, nudge.Position)
	msgs := r.messages(t, dm.Room)
	var replies []uint64
	for _, m := range msgs {
		if m.Kind == room.KindBot && m.Sender == "bot_hal" {
			replies = append(replies, m.TriggerSeq)
		}
	}
	slices.Sort(replies)
	if !slices.Equal(replies, []uint64{first.Seq, nudge.Seq}) {
		t.Fatalf("HAL replied to %v, want %d and %d: %+v", replies, first.Seq, nudge.Seq, msgs)
	}
	for _, req := range r.model.Requests() {
		if !strings.Contains(req.Messages[0].Content, "You are HAL 9000") {
			t.Fatalf("not HAL's prompt: %q", req.Messages[0].Content)
		}
	}
}

func TestBotsStayOutOfOtherMessages(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	lobby := kit.Room(t, r.h, "lobby", "alice", "bob")
	ctx := context.Background()
	var last commands.Ack
	for i, text := range []string{"hello", "@bob look", "@bob ask @clippy", "write to a@clippy.com", "clippy?", "@tomato"} {
		last = r.chat(t, lobby, "alice", fmt.Sprint("c", i), text)
	}
	// Bot and system messages never trigger, whatever they say.
	if _, err := r.h.PostSystem(ctx, commands.PostSystem{Room: lobby, Text: "@clippy hello", What: "t", Cause: commands.SystemCommandID("t")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.h.PostBotReply(ctx, commands.PostBotReply{Room: lobby, Bot: "bot_tom", TriggerSeq: last.Seq, Trigger: commands.SystemCommandID("x"), Text: "@clippy hi :-)"}); err != nil {
		t.Fatal(err)
	}
	w, err := r.h.Wink(ctx, commands.Wink{Room: lobby, User: "alice", ClientID: "w", Wink: "frog"})
	if err != nil {
		t.Fatal(err)
	}
	r.sync(t, w.Position)
	if n := len(r.model.Requests()); n != 0 {
		t.Fatalf("%d model requests", n)
	}
	if st := r.bots.Stats(); st.Triggers != 0 {
		t.Fatalf("stats %+v", st)
	}
	if evs := r.quotaEvents(t); len(evs) != 0 {
		t.Fatalf("quota events %+v", evs)
	}
}

func TestBotFailuresReleaseAndSayUnavailable(t *testing.T) {
	t.Parallel()
	short := ollama.Config{FirstTokenTimeout: 200 * time.Millisecond, Timeout: 600 * time.Millisecond}
	cases := []struct {
		name   string
		b      fake.Behaviour
		models []string // nil: the default model
		cfg    ollama.Config
	}{
		{"server error", fake.Behaviour{Fault: fake.Fail, Status: 500}, nil, ollama.Config{}},
		{"model missing", fake.Behaviour{}, []string{}, ollama.Config{}},
		{"garbage", fake.Behaviour{Fault: fake.Garbage, FaultAfter: 2}, nil, ollama.Config{}},
		{"stream cut", fake.Behaviour{Fault: fake.Cut, FaultAfter: 2}, nil, ollama.Config{}},
		{"error mid-stream", fake.Behaviour{Fault: fake.StreamError, FaultAfter: 1}, nil, ollama.Config{}},
		{"hangs", fake.Behaviour{Fault: fake.Hang}, nil, short},
		{"stalls", fake.Behaviour{Fault: fake.Stall, FaultAfter: 1}, nil, short},
		{"too slow", fake.Behaviour{TokenDelay: 200 * time.Millisecond, Reply: func(fake.Request) string { return "a b c d e f g h" }}, nil, short},
		{"empty reply", fake.Behaviour{Reply: func(fake.Request) string { return "```\n```\n" }}, nil, ollama.Config{}},
		{"nothing but a label", fake.Behaviour{Reply: func(fake.Request) string { return "<p></p>" }}, nil, ollama.Config{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{ollama: tc.cfg})
			r.model.Set(tc.b)
			if tc.models != nil {
				r.model.SetModels(tc.models...)
			}
			lobby := kit.Room(t, r.h, "lobby", "alice")
			ack := r.chat(t, lobby, "alice", "a1", "@clippy are you there?")
			r.sync(t, ack.Position)

			msgs := r.messages(t, lobby)
			if len(msgs) != 2 || msgs[1].Kind != room.KindSystem || msgs[1].Text != "Clippy is unavailable right now." {
				t.Fatalf("messages %+v", msgs)
			}
			reserved, charged, released := countKinds(r.quotaEvents(t))
			if reserved != 1 || charged != 0 || released != 1 {
				t.Fatalf("quota: %d reserved, %d charged, %d released", reserved, charged, released)
			}
			typ := r.typing.all()
			if len(typ) == 0 || typ[len(typ)-1].typing {
				t.Fatalf("typing left on: %+v", typ)
			}
			if st := r.bots.Stats(); st.Failures != 1 || st.Replies != 0 {
				t.Fatalf("stats %+v", st)
			}
			if err := r.model.WaitActive(waitCtx(t), 0); err != nil {
				t.Fatalf("a model request outlived the failure: %v", err)
			}
		})
	}
}

func TestBotQuotaExhausted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		set   func(*domain.Policy)
		users []string // who posts, in turn
		want  string
	}{
		{"user", func(p *domain.Policy) { p.BotRepliesPerUserPerDay = 1 }, []string{"alice", "alice"}, "(Bot limit reached: User Quota. alice has had all of today's bot replies; more at midnight UTC.)"},
		{"global", func(p *domain.Policy) { p.BotRepliesPerDay = 1 }, []string{"alice", "bob"}, "(Bot limit reached: Global Quota. The bots have answered all they may today; more at midnight UTC.)"},
		{"tokens", func(p *domain.Policy) { p.BotTokensPerDay = 20; p.BotReservationTokens = 10 }, []string{"alice", "bob"}, "(Bot limit reached: Token Quota. Today's token budget for the bots is spent; more at midnight UTC.)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := domain.DefaultPolicy()
			tc.set(&p)
			r := newRig(t, rigOptions{policy: p})
			lobby := kit.Room(t, r.h, "lobby", "alice", "bob")
			first := r.chat(t, lobby, tc.users[0], "m1", "@tom hi")
			r.sync(t, first.Position)
			second := r.chat(t, lobby, tc.users[1], "m2", "@tom hi again")
			r.sync(t, second.Position)
			msgs := r.messages(t, lobby)
			if len(msgs) != 4 || msgs[1].Kind != room.KindBot || msgs[3].Kind != room.KindSystem || msgs[3].Text != tc.want {
				t.Fatalf("messages %+v", msgs)
			}
			if n := len(r.model.Requests()); n != 1 {
				t.Fatalf("%d model requests: the exhausted quota called the model", n)
			}
			if reserved, charged, released := countKinds(r.quotaEvents(t)); reserved != 1 || charged != 1 || released != 0 {
				t.Fatalf("quota: %d reserved, %d charged, %d released", reserved, charged, released)
			}
			if st := r.bots.Stats(); st.QuotaExhausted != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestKillSwitchSilencesBots(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	lobby := kit.Room(t, r.h, "lobby", "alice")
	ctx := context.Background()
	if _, err := r.h.SetBotsEnabled(ctx, false, "ops"); err != nil {
		t.Fatal(err)
	}
	ack := r.chat(t, lobby, "alice", "a1", "@clippy hello?")
	r.sync(t, ack.Position)
	if msgs := r.messages(t, lobby); len(msgs) != 1 {
		t.Fatalf("messages %+v", msgs)
	}
	if n := len(r.model.Requests()); n != 0 || len(r.quotaEvents(t)) != 0 || len(r.typing.all()) != 0 {
		t.Fatalf("%d model requests, quota %v, typing %v", n, r.quotaEvents(t), r.typing.all())
	}
	if st := r.bots.State(); st != "disabled" {
		t.Fatalf("state %q", st)
	}
	if _, err := r.h.SetBotsEnabled(ctx, true, "ops"); err != nil {
		t.Fatal(err)
	}
	ack = r.chat(t, lobby, "alice", "a2", "@clippy hello?")
	r.sync(t, ack.Position)
	if msgs := r.messages(t, lobby); len(msgs) != 3 || msgs[2].Kind != room.KindBot {
		t.Fatalf("after enabling: %+v", msgs)
	}
	if st := r.bots.State(); st != "ok" {
		t.Fatalf("state %q", st)
	}
}

// eventAt returns the log's record at pos as the bus delivers it.
func eventAt(t testing.TB, store eventstore.Store, pos uint64) *commands.Event {
	t.Helper()
	recs, err := store.ReadAll(context.Background(), pos, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("record %d: %v", pos, err)
	}
	ev, err := codec.Decode(recs[0].Type, recs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	return &commands.Event{Record: recs[0], Domain: ev}
}

func TestRedeliveredTriggerPostsOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	lobby := kit.Room(t, r.h, "lobby", "alice")
	ack := r.chat(t, lobby, "alice", "a1", "@tom hey")
	r.sync(t, ack.Position)

	// The bus delivers the trigger again (a retry): queued again, it stops
	// at its reservation.
	ctx := waitCtx(t)
	if err := r.bots.Handle(ctx, eventAt(t, r.store, ack.Position)); err != nil {
		t.Fatal(err)
	}
	r.sync(t, ack.Position)

	// Another node, or this one after a crash and restart without its
	// checkpoint, gets the whole log again: every command it would send
	// derives from the trigger, so it posts and charges nothing.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	again, err := commands.NewBotOrchestrator(r.h, commands.BotConfig{LLM: r.llm, Bots: kit.BotHandles(), Logger: quiet, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- again.Run(runCtx) }()
	head, _ := r.store.Head(ctx)
	for pos := uint64(1); pos <= head; pos++ {
		e := eventAt(t, r.store, pos)
		if err := again.Observe(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := again.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := again.Sync(ctx, head); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var replies int
	for _, m := range r.messages(t, lobby) {
		if m.Kind != room.KindChat {
			replies++
		}
	}
	if replies != 1 {
		t.Fatalf("%d replies and notices: %+v", replies, r.messages(t, lobby))
	}
	if reserved, charged, released := countKinds(r.quotaEvents(t)); reserved != 1 || charged != 1 || released != 0 {
		t.Fatalf("quota: %d reserved, %d charged, %d released", reserved, charged, released)
	}
	if n := len(r.model.Requests()); n != 1 {
		t.Fatalf("%d model requests", n)
	}
	if st := again.Stats(); st.Triggers != 1 || st.Duplicates != 1 || st.Replies != 0 {
		t.Fatalf("second orchestrator's stats %+v", st)
	}
}

func TestStaleReservationsAreReleased(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	lobby := kit.Room(t, r.h, "lobby", "alice")
	ctx := context.Background()
	// A node reserved for a trigger and died before replying.
	res, err := r.h.ReserveQuota(ctx, commands.ReserveQuota{User: "alice", Bot: "bot_tom", Room: lobby, TriggerSeq: 1, Trigger: commands.SystemCommandID("crashed")})
	if err != nil {
		t.Fatal(err)
	}
	// A live reply's reservation, charged: never touched.
	ack := r.chat(t, lobby, "alice", "a1", "@tom hi")
	r.sync(t, ack.Position)
	head, _ := r.store.Head(ctx)
	r.sync(t, head)

	clock := r.clock.(interface{ Add(time.Duration) })
	if err := r.bots.ReleaseStale(ctx, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, released := countKinds(r.quotaEvents(t)); released != 0 {
		t.Fatal("a fresh reservation was released")
	}
	clock.Add(45*time.Second + time.Minute)
	if err := r.bots.ReleaseStale(ctx, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	evs := r.quotaEvents(t)
	last, ok := evs[len(evs)-1].(quota.QuotaReleased)
	if !ok || last.Reservation != res.ID || !strings.HasPrefix(last.Reason, "stale") {
		t.Fatalf("quota events %+v", evs)
	}
	if reserved, charged, released := countKinds(evs); reserved != 2 || charged != 1 || released != 1 {
		t.Fatalf("quota: %d reserved, %d charged, %d released", reserved, charged, released)
	}
	if st := r.bots.Stats(); st.StaleReleased != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// The daily quota is decided in the quota stream under optimistic
// concurrency: 100 triggers at once, on 8 workers, never overspend it.
func TestQuotaBoundaryUnderConcurrentTriggers(t *testing.T) {
	t.Parallel()
	const triggers, users = 100, 20
	cases := []struct {
		name    string
		set     func(*domain.Policy)
		posters int // how many of the users post
		want    int
	}{
		{"global", func(p *domain.Policy) { p.BotRepliesPerDay = 37 }, users, 37},
		{"user", func(p *domain.Policy) { p.BotRepliesPerUserPerDay = 7 }, 1, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := domain.DefaultPolicy()
			p.ChatLimit = 0
			tc.set(&p)
			r := newRig(t, rigOptions{policy: p, bots: commands.BotConfig{Workers: 8, Queue: triggers}})
			names := make([]string, users)
			for i := range names {
				names[i] = fmt.Sprintf("user_%d", i+1)
			}
			rooms := []string{kit.Room(t, r.h, "one", names...), kit.Room(t, r.h, "two", names...)}
			var wg sync.WaitGroup
			acks := make([]commands.Ack, triggers)
			for i := range triggers {
				wg.Go(func() {
					var err error
					acks[i], err = r.h.PostChat(context.Background(), commands.PostChat{Room: rooms[i%2], User: names[i%tc.posters], ClientID: fmt.Sprint("m", i), Text: fmt.Sprintf("@clippy number %d", i)})
					if err != nil {
						t.Errorf("post %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			var head uint64
			for _, a := range acks {
				head = max(head, a.Position)
			}
			r.sync(t, head)

			replies, notices := 0, 0
			for _, roomID := range rooms {
				for _, m := range r.messages(t, roomID) {
					switch m.Kind {
					case room.KindBot:
						replies++
					case room.KindSystem:
						if !strings.HasPrefix(m.Text, "(Bot limit reached: ") {
							t.Fatalf("notice %q", m.Text)
						}
						notices++
					}
				}
			}
			reserved, charged, released := countKinds(r.quotaEvents(t))
			if replies != tc.want || notices != triggers-tc.want || reserved != tc.want || charged != tc.want || released != 0 {
				t.Fatalf("%d replies, %d notices; quota: %d reserved, %d charged, %d released; want %d replies",
					replies, notices, reserved, charged, released, tc.want)
			}
			if n := len(r.model.Requests()); n != tc.want {
				t.Fatalf("%d model requests", n)
			}
		})
	}
}

var marker = regexp.MustCompile(`R(\d+)-\d+`)

// Prompts are assembled from the trigger's room only. Random histories
// over rooms of every kind, with membership changes in between: each
// prompt holds exactly the room's last 10 messages before the trigger (no
// notices), in order, then the trigger, and no other room's text.
func TestPromptIsolationOverRandomHistories(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 42))
			p := domain.DefaultPolicy()
			p.ChatLimit = 0
			r := newRig(t, rigOptions{policy: p, bots: commands.BotConfig{Queue: 64}})
			// The model answers with the trigger's marker, so replies are
			// room text too.
			r.model.Set(fake.Behaviour{Reply: func(req fake.Request) string {
				return "ok " + marker.FindString(req.Messages[len(req.Messages)-1].Content) + "-reply"
			}})
			ctx := context.Background()
			users := []string{"ann", "ben", "cat", "dan"}
			rooms := []string{kit.Room(t, r.h, "pub", users...)}
			priv, err := r.h.CreateRoom(ctx, commands.CreateRoom{User: "ann", ClientID: "priv", Name: "secret", Visibility: room.Private})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.h.Invite(ctx, commands.Invite{Room: priv.Room, User: "ann", ClientID: "inv", Invitee: "ben"}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.h.JoinRoom(ctx, commands.JoinRoom{Room: priv.Room, User: "ben", ClientID: "j"}); err != nil {
				t.Fatal(err)
			}
			dm, err := r.h.OpenDirect(ctx, commands.OpenDirect{User: "cat", ClientID: "dm", With: "dan"})
			if err != nil {
				t.Fatal(err)
			}
			rooms = append(rooms, priv.Room, dm.Room, kit.Room(t, r.h, "pub2", "dan", "ann"))
			members := map[string][]string{rooms[0]: users, priv.Room: {"ann", "ben"}, dm.Room: {"cat", "dan"}, rooms[3]: {"dan", "ann"}}

			bots := []string{"@clippy", "@hal", "@tom", "@dj", "@zerocool"}
			var last uint64
			triggers := map[string]uint64{} // trigger text → seq
			triggerRoom := map[string]string{}
			for i := range 250 {
				ri := rng.IntN(len(rooms))
				roomID := rooms[ri]
				who := members[roomID][rng.IntN(len(members[roomID]))]
				text := fmt.Sprintf("R%d-%d %s", ri, i, strings.Repeat("la ", rng.IntN(8)))
				trigger := rng.IntN(12) == 0
				if trigger {
					text = bots[rng.IntN(len(bots))] + " " + text
				}
				if ri == 0 && rng.IntN(15) == 0 { // churn in the public room
					if _, err := r.h.LeaveRoom(ctx, commands.LeaveRoom{Room: roomID, User: "dan", ClientID: fmt.Sprint("l", i)}); err != nil {
						t.Fatal(err)
					}
					if _, err := r.h.JoinRoom(ctx, commands.JoinRoom{Room: roomID, User: "dan", ClientID: fmt.Sprint("j", i)}); err != nil {
						t.Fatal(err)
					}
				}
				ack := r.chat(t, roomID, who, fmt.Sprint("m", i), text)
				last = ack.Position
				if trigger {
					triggers[strings.TrimSpace(text)] = ack.Seq
					triggerRoom[strings.TrimSpace(text)] = roomID
				}
			}
			r.sync(t, last)
			reqs := r.model.Requests()
			if len(reqs) != len(triggers) || len(reqs) == 0 {
				t.Fatalf("%d model requests for %d triggers", len(reqs), len(triggers))
			}
			for _, req := range reqs {
				tail := req.Messages[len(req.Messages)-1].Content
				_, text, _ := strings.Cut(tail, ": ")
				roomID, ok := triggerRoom[text]
				if !ok {
					t.Fatalf("the last message %q is no trigger", tail)
				}
				ri := slices.Index(rooms, roomID)
				for _, m := range req.Messages {
					for _, sm := range marker.FindAllStringSubmatch(m.Content, -1) {
						if sm[1] != fmt.Sprint(ri) {
							t.Fatalf("room %d's prompt holds %q: %q", ri, sm[0], m.Content)
						}
					}
				}
				if marker.MatchString(req.Messages[0].Content) {
					t.Fatal("room text in the system prompt")
				}
				// Exactly the last 10 messages before the trigger, in order.
				var want []string
				for _, m := range r.messages(t, roomID) {
					if m.Seq < triggers[text] && m.Kind != room.KindSystem {
						want = append(want, m.Text)
					}
				}
				if len(want) > 10 {
					want = want[len(want)-10:]
				}
				var got []string
				for _, m := range req.Messages[1 : len(req.Messages)-1] {
					if m.Role == "assistant" {
						got = append(got, m.Content)
					} else {
						_, body, _ := strings.Cut(m.Content, ": ")
						got = append(got, body)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("history of %q:\n got %q\nwant %q", text, got, want)
				}
			}
		})
	}
}

// A model that never answers holds up neither the event feed nor anyone's
// messages: Handle only queues, the queue is bounded, and a trigger that
// finds it full is turned away with a notice (one per room per interval).
func TestHumanMessagesFlowWhileTheModelHangs(t *testing.T) {
	t.Parallel()
	p := domain.DefaultPolicy()
	p.ChatLimit = 0
	r := newRig(t, rigOptions{policy: p, bots: commands.BotConfig{Queue: 2}, ollama: ollama.Config{FirstTokenTimeout: time.Hour, Timeout: time.Hour}})
	r.model.Set(fake.Behaviour{Fault: fake.Hang})
	lobby := kit.Room(t, r.h, "lobby", "alice", "bob")
	r.chat(t, lobby, "alice", "first", "@clippy are you awake?")
	ctx := waitCtx(t)
	if err := r.model.WaitActive(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var last commands.Ack
	for i := range 60 {
		text := fmt.Sprint("chatting away ", i)
		if i%3 == 0 {
			text = "@tom " + text
		}
		last = r.chat(t, lobby, "bob", fmt.Sprint("b", i), text)
	}
	// Every reactor saw the last message while the model still hangs.
	if err := r.seen.wait(ctx, last.Position); err != nil {
		t.Fatal(err)
	}
	if r.model.Active() != 1 {
		t.Fatalf("%d model requests active", r.model.Active())
	}
	st := r.bots.Stats()
	if st.Triggers != 21 || st.Busy != 21-1-2 {
		t.Fatalf("stats %+v: want 21 triggers, 18 turned away", st)
	}
	// The model dies: the hung reply fails, the queued ones run.
	r.model.Set(fake.Behaviour{})
	r.model.Release()
	r.sync(t, last.Position)
	var busy, unavailable, replies int
	for _, m := range r.messages(t, lobby) {
		switch {
		case m.Kind == room.KindBot:
			replies++
		case m.Text == "Tom is busy right now. Try again in a minute.":
			busy++
		case m.Text == "Clippy is unavailable right now.":
			unavailable++
		}
	}
	if busy != 1 || unavailable != 1 || replies != 2 {
		t.Fatalf("%d busy notices, %d unavailable, %d replies", busy, unavailable, replies)
	}
}

// The typing indicator is kept alive while the model works, and cleared
// once the reply is posted.
func TestTypingIsRefreshedWhileTheModelWorks(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{bots: commands.BotConfig{TypingRefresh: 5 * time.Millisecond}})
	r.model.Set(fake.Behaviour{Fault: fake.Stall, FaultAfter: 1})
	lobby := kit.Room(t, r.h, "lobby", "alice")
	ack := r.chat(t, lobby, "alice", "a1", "@zerocool sup")
	ctx := waitCtx(t)
	isOn := func(e typingEvent) bool { return e.user == "bot_zerocool" && e.typing }
	_, i, err := r.typing.wait(ctx, 0, isOn)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.typing.wait(ctx, i+1, isOn); err != nil {
		t.Fatal("typing:true was not repeated")
	}
	r.model.Set(fake.Behaviour{})
	r.model.Release() // the stalled reply ends without done: a failure
	r.sync(t, ack.Position)
	typ := r.typing.all()
	if typ[len(typ)-1].typing {
		t.Fatalf("typing left on: %+v", typ[len(typ)-1])
	}
	for _, e := range typ[:len(typ)-1] {
		if !e.typing {
			t.Fatal("typing:false before the end")
		}
	}
}

func TestBotStateFollowsTheModel(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{ollama: ollama.Config{CheckInterval: time.Hour}})
	ctx := waitCtx(t)
	// The orchestrator runs the adapter's checks: the first at start.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for r.bots.State() != "ok" {
		select {
		case <-ctx.Done():
			t.Fatalf("state %q", r.bots.State())
		case <-tick.C:
		}
	}
	r.model.SetModels()
	if err := r.llm.Check(ctx); err == nil {
		t.Fatal("check passed without the model")
	}
	if st := r.bots.State(); !strings.HasPrefix(st, "degraded: model llama3.2:1b") {
		t.Fatalf("state %q", st)
	}
	r.model.SetModels(fake.DefaultModel)
	if err := r.llm.Check(ctx); err != nil || r.bots.State() != "ok" {
		t.Fatalf("check %v, state %q", err, r.bots.State())
	}
}

func TestBotConfigValidate(t *testing.T) {
	err := commands.BotConfig{Workers: -1, Queue: -2, HistoryMessages: 50}.Validate()
	for _, part := range []string{"LLM", "Workers", "Queue", "HistoryMessages"} {
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("%q not reported: %v", part, err)
		}
	}
}

// After a restart, the bus primes the orchestrator with the log up to its
// checkpoint: the bots, the kill switch and the open reservations are
// known without any of those events being delivered again.
func TestPrimedOrchestratorKnowsBotsSwitchAndReservations(t *testing.T) {
	t.Parallel()
	var lobby string
	r := newRig(t, rigOptions{primed: true, before: func(h *commands.Handlers) {
		lobby = kit.Room(t, h, "lobby", "alice")
		if _, err := h.SetBotsEnabled(context.Background(), false, "ops"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.ReserveQuota(context.Background(), commands.ReserveQuota{User: "alice", Bot: "bot_tom", Room: lobby, TriggerSeq: 1, Trigger: commands.SystemCommandID("crashed")}); err != nil {
			t.Fatal(err)
		}
	}})
	if st := r.bots.State(); st != "disabled" {
		t.Fatalf("state %q", st)
	}
	ctx := context.Background()
	if _, err := r.h.SetBotsEnabled(ctx, true, "ops"); err != nil {
		t.Fatal(err)
	}
	ack := r.chat(t, lobby, "alice", "a1", "@hal hello")
	r.sync(t, ack.Position)
	if msgs := r.messages(t, lobby); len(msgs) != 2 || msgs[1].Sender != "bot_hal" {
		t.Fatalf("messages %+v", msgs)
	}
	r.clock.(interface{ Add(time.Duration) }).Add(time.Hour)
	if err := r.bots.ReleaseStale(ctx, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, released := countKinds(r.quotaEvents(t)); released != 1 {
		t.Fatalf("%d released: the primed reservation was not", released)
	}
}

// TestBotAgainstRealOllama runs one mention through a real model. CI has
// none: it runs only when OLLAMA_HOST is set and the server has
// llama3.2:1b (or OLLAMA_TEST_MODEL).
//
//	OLLAMA_HOST=127.0.0.1:11434 go test ./commands -run RealOllama -v
func TestBotAgainstRealOllama(t *testing.T) {
	host := os.Getenv("OLLAMA_HOST")
	if host == "" {
		t.Skip("OLLAMA_HOST is not set: skipping the test against a real Ollama")
	}
	r := newRig(t, rigOptions{ollama: ollama.Config{Host: host, Model: os.Getenv("OLLAMA_TEST_MODEL"),
		FirstTokenTimeout: time.Minute, Timeout: 2 * time.Minute}, bots: commands.BotConfig{ReplyTimeout: 3 * time.Minute}})
	if err := r.llm.Check(waitCtx(t)); err != nil {
		t.Skipf("no usable model: %v", err)
	}
	lobby := kit.Room(t, r.h, "lobby", "alice")
	r.chat(t, lobby, "alice", "a0", "anyone watching TRL tonight?")
	ack := r.chat(t, lobby, "alice", "a1", "@clippy what are you up to?")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := r.bots.Sync(ctx, ack.Position); err != nil {
		t.Fatal(err)
	}
	msgs := r.messages(t, lobby)
	last := msgs[len(msgs)-1]
	if last.Kind != room.KindBot || last.Sender != "bot_clippy" || last.Text == "" {
		t.Fatalf("messages %+v", msgs)
	}
	t.Logf("Clippy: %q", last.Text)
	evs := r.quotaEvents(t)
	ch, ok := evs[len(evs)-1].(quota.QuotaCharged)
	if !ok || ch.PromptTokens <= 0 || ch.GeneratedTokens <= 0 || ch.GeneratedTokens > 150 {
		t.Fatalf("charge %+v", evs[len(evs)-1])
	}
}
