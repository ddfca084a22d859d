package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
	"switchboard/eventstore/memstore"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cheap argon2 parameters keep the tests fast; the format is the same.
var cheap = Argon2{Time: 1, MemoryKiB: 64, Threads: 1}

func newHandlers(t testing.TB, store eventstore.Store, clock Clock) *Handlers {
	t.Helper()
	h, err := New(store, Config{Clock: clock, Hasher: cheap, Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func start() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

// setup registers users and makes a public room all of them joined.
func setup(t testing.TB, h *Handlers, roomName string, users ...string) string {
	t.Helper()
	ctx := context.Background()
	for _, u := range users {
		if _, _, err := h.RegisterUser(ctx, RegisterUser{Handle: u, DisplayName: u, Password: "correct horse"}); err != nil && !errors.Is(err, domain.ErrHandleTaken) {
			t.Fatal(err)
		}
	}
	ack, err := h.CreateRoom(ctx, CreateRoom{User: users[0], ClientID: "create-" + roomName, Name: roomName, Visibility: room.Public})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users[1:] {
		if _, err := h.JoinRoom(ctx, JoinRoom{Room: ack.Room, User: u, ClientID: "join-" + roomName}); err != nil {
			t.Fatal(err)
		}
	}
	return ack.Room
}

func messages(t testing.TB, s eventstore.Store, roomID string) []room.MessagePosted {
	t.Helper()
	recs, err := s.ReadStream(context.Background(), room.Stream(roomID), eventstore.Forwards, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []room.MessagePosted
	for _, r := range recs {
		ev, err := codec.Decode(r.Type, r.Data)
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := ev.(room.MessagePosted); ok {
			out = append(out, m)
		}
	}
	return out
}

func TestPostChatAndResend(t *testing.T) {
	store := memstore.New()
	clock := start()
	h := newHandlers(t, store, clock)
	ctx := context.Background()
	r := setup(t, h, "lobby", "alice", "bob")

	ack, err := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "m1", Text: "  hello  "})
	if err != nil || ack.Seq != 1 || ack.Duplicate || ack.Position == 0 {
		t.Fatalf("post: %+v %v", ack, err)
	}
	clock.Add(time.Second)
	again, err := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "m1", Text: "  hello  "})
	if err != nil || !again.Duplicate || again.Seq != ack.Seq || !again.At.Equal(ack.At) {
		t.Fatalf("resend: %+v %v, want the original %+v", again, err, ack)
	}
	if msgs := messages(t, store, r); len(msgs) != 1 || msgs[0].Text != "hello" {
		t.Fatalf("log holds %+v", msgs)
	}
	// The same client id from another user is another command.
	other, err := h.PostChat(ctx, PostChat{Room: r, User: "bob", ClientID: "m1", Text: "hi"})
	if err != nil || other.Seq != 2 || other.Duplicate {
		t.Fatalf("bob's m1: %+v %v", other, err)
	}
}

func TestRejectionsAppendNothing(t *testing.T) {
	store := memstore.New()
	h := newHandlers(t, store, start())
	ctx := context.Background()
	r := setup(t, h, "lobby", "alice", "bob")
	if _, _, err := h.RegisterUser(ctx, RegisterUser{Handle: "mallory", DisplayName: "M", Password: "long enough"}); err != nil {
		t.Fatal(err)
	}
	head, _ := store.Head(ctx)
	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"not a member", func() error {
			_, err := h.PostChat(ctx, PostChat{Room: r, User: "mallory", ClientID: "x", Text: "hi"})
			return err
		}, domain.ErrNotMember},
		{"too long", func() error {
			_, err := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "x", Text: strings.Repeat("é", 2049)})
			return err
		}, domain.ErrTooLong},
		{"empty", func() error {
			_, err := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "x", Text: " \n "})
			return err
		}, domain.ErrInvalid},
		{"missing room", func() error {
			_, err := h.PostChat(ctx, PostChat{Room: "nowhere", User: "alice", ClientID: "x", Text: "hi"})
			return err
		}, domain.ErrNotFound},
		{"unknown wink", func() error {
			_, err := h.Wink(ctx, Wink{Room: r, User: "alice", ClientID: "x", Wink: "nope"})
			return err
		}, domain.ErrInvalid},
		{"handle taken", func() error {
			_, _, err := h.RegisterUser(ctx, RegisterUser{Handle: "ALICE", DisplayName: "A", Password: "long enough"})
			return err
		}, domain.ErrHandleTaken},
		{"weak password", func() error {
			_, _, err := h.RegisterUser(ctx, RegisterUser{Handle: "newbie", DisplayName: "N", Password: "short"})
			return err
		}, ErrWeakPassword},
		{"bad handle", func() error {
			_, _, err := h.RegisterUser(ctx, RegisterUser{Handle: "no spaces", DisplayName: "N", Password: "long enough"})
			return err
		}, domain.ErrInvalid},
		{"wrong password", func() error {
			_, err := h.Login(ctx, Login{Handle: "alice", Password: "wrong horse", Verified: true, Verifier: "pow"})
			return err
		}, domain.ErrInvalidCredentials},
		{"unknown user", func() error {
			_, err := h.Login(ctx, Login{Handle: "nobody", Password: "whatever1", Verified: true, Verifier: "pow"})
			return err
		}, domain.ErrInvalidCredentials},
		{"not verified", func() error {
			_, err := h.Login(ctx, Login{Handle: "alice", Password: "correct horse", Verified: false, Verifier: "pow"})
			return err
		}, domain.ErrVerificationFailed},
		{"third user in a direct room", func() error {
			ack, err := h.OpenDirect(ctx, OpenDirect{User: "alice", ClientID: "dm", With: "bob"})
			if err != nil {
				return err
			}
			head, _ = store.Head(ctx)
			_, err = h.JoinRoom(ctx, JoinRoom{Room: ack.Room, User: "mallory", ClientID: "sneak"})
			return err
		}, domain.ErrForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := store.Head(ctx)
			if err := c.run(); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			after, _ := store.Head(ctx)
			if after != before && after != head {
				t.Fatalf("the log grew from %d to %d", before, after)
			}
		})
	}
}

func TestRateLimitSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	store, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := start()
	h := newHandlers(t, store, clock)
	ctx := context.Background()
	r := setup(t, h, "lobby", "alice")
	for i := range 20 {
		if _, err := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: fmt.Sprint(i), Text: "spam"}); err != nil {
			t.Fatal(err)
		}
		clock.Add(100 * time.Millisecond)
	}
	store.Close()
	// A new process: nothing in memory, the window comes from the log.
	store, err = filestore.Open(dir, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h = newHandlers(t, store, clock)
	_, err = h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "21", Text: "more"})
	var rl *domain.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > 30*time.Second {
		t.Fatalf("21st post in the window: %v", err)
	}
	clock.Add(rl.RetryAfter)
	if _, err := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "22", Text: "later"}); err != nil {
		t.Fatalf("after the retry-after: %v", err)
	}
}

// TestResendAcrossReopen: a command resent after a server restart gets the
// original ack and appends nothing.
func TestResendAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	store, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := start()
	h := newHandlers(t, store, clock)
	ctx := context.Background()
	r := setup(t, h, "lobby", "alice")
	first, err := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "c-42", Text: "once"})
	if err != nil {
		t.Fatal(err)
	}
	created, err := h.CreateRoom(ctx, CreateRoom{User: "alice", ClientID: "new-room", Name: "Mine", Visibility: room.Private})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := store.Head(ctx)
	store.Close()

	store, err = filestore.Open(dir, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clock.Add(time.Minute)
	h = newHandlers(t, store, clock)
	again, err := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "c-42", Text: "once"})
	if err != nil || !again.Duplicate || again.Seq != first.Seq || !again.At.Equal(first.At) {
		t.Fatalf("resend after reopen: %+v %v, want %+v", again, err, first)
	}
	recreated, err := h.CreateRoom(ctx, CreateRoom{User: "alice", ClientID: "new-room", Name: "Mine", Visibility: room.Private})
	if err != nil || recreated.Room != created.Room || !recreated.Duplicate {
		t.Fatalf("create resent: %+v %v, want room %s", recreated, err, created.Room)
	}
	if h2, _ := store.Head(ctx); h2 != head {
		t.Fatalf("the log grew from %d to %d", head, h2)
	}
}

// TestConcurrentPosters: 50 goroutines on two handler sets (two nodes, so
// appends really conflict) post to one room: seqs contiguous, every ack's
// message in the log once, nothing lost.
func TestConcurrentPosters(t *testing.T) {
	store := memstore.New()
	clock := start()
	nodes := []*Handlers{newHandlers(t, store, clock), newHandlers(t, store, clock)}
	ctx := context.Background()
	users := make([]string, 50)
	for i := range users {
		users[i] = fmt.Sprintf("user_%d", i)
	}
	r := setup(t, nodes[0], "busy", users...)
	const each = 10
	var wg sync.WaitGroup
	acks := make(chan Ack, len(users)*each)
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := nodes[i%2]
			for k := range each {
				ack, err := h.PostChat(ctx, PostChat{Room: r, User: u, ClientID: fmt.Sprint(k), Text: fmt.Sprintf("%s-%d", u, k)})
				if err != nil {
					t.Error(err)
					return
				}
				acks <- ack
			}
		}()
	}
	wg.Wait()
	close(acks)
	bySeq := map[uint64]bool{}
	for a := range acks {
		if bySeq[a.Seq] {
			t.Fatalf("seq %d acknowledged twice", a.Seq)
		}
		bySeq[a.Seq] = true
	}
	msgs := messages(t, store, r)
	if len(msgs) != len(users)*each || len(bySeq) != len(msgs) {
		t.Fatalf("%d messages in the log, %d acks, want %d", len(msgs), len(bySeq), len(users)*each)
	}
	texts := map[string]bool{}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
		if texts[m.Text] {
			t.Fatalf("%q posted twice", m.Text)
		}
		texts[m.Text] = true
	}
}

func TestLoginSessionLifecycle(t *testing.T) {
	store := memstore.New()
	clock := start()
	h := newHandlers(t, store, clock)
	ctx := context.Background()
	if _, _, err := h.RegisterUser(ctx, RegisterUser{Handle: "Alice", DisplayName: "Alice", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.RegisterUser(ctx, RegisterUser{Handle: "user_1", DisplayName: "User 1", Demo: true}); err != nil {
		t.Fatal(err)
	}
	s, err := h.Login(ctx, Login{Handle: "ALICE", Password: "correct horse", Verified: true, Verifier: "pow"})
	if err != nil || s.User != "alice" || len(s.Token) < 40 || !s.ExpiresAt.Equal(clock.Now().Add(20*time.Minute)) {
		t.Fatalf("login: %+v %v", s, err)
	}
	// The token never reaches the log; its hash does.
	recs, _ := store.ReadStream(ctx, session.Stream(s.ID), eventstore.Forwards, 0, 10)
	if len(recs) != 1 || !strings.Contains(string(recs[0].Data), TokenHash(s.Token)) || strings.Contains(string(recs[0].Data), s.Token) {
		t.Fatalf("session event %s", recs[0].Data)
	}
	// Demo accounts may log in without a password (demo mode).
	if _, err := h.Login(ctx, Login{Handle: "user_1", Verified: true, Verifier: "pow"}); err != nil {
		t.Fatalf("demo login: %v", err)
	}
	clock.Add(5 * time.Minute)
	exp, err := h.RenewSession(ctx, s.ID)
	if err != nil || !exp.Equal(clock.Now().Add(20*time.Minute)) {
		t.Fatalf("renew: %v %v", exp, err)
	}
	clock.Add(30 * time.Second) // within the renew interval: not recorded
	exp2, err := h.RenewSession(ctx, s.ID)
	if err != nil || !exp2.Equal(exp) {
		t.Fatalf("coalesced renew: %v %v, want %v", exp2, err, exp)
	}
	clock.Add(21 * time.Minute)
	if ended, err := h.ExpireSession(ctx, s.ID); err != nil || !ended {
		t.Fatalf("expire: %v %v", ended, err)
	}
	if _, err := h.RenewSession(ctx, s.ID); !errors.Is(err, domain.ErrSessionEnded) {
		t.Fatalf("renew after expiry: %v", err)
	}
}

func TestQuotaReservations(t *testing.T) {
	store := memstore.New()
	h := newHandlers(t, store, start())
	ctx := context.Background()
	r := setup(t, h, "lobby", "alice")
	ack, _ := h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: "q", Text: "@clippy hi"})
	trigger := ClientCommandID("alice", "q")
	res, err := h.ReserveQuota(ctx, ReserveQuota{User: "alice", Bot: "bot_clippy", Room: r, TriggerSeq: ack.Seq, Trigger: trigger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReserveQuota(ctx, ReserveQuota{User: "alice", Bot: "bot_clippy", Room: r, TriggerSeq: ack.Seq, Trigger: trigger}); !errors.Is(err, domain.ErrDuplicate) {
		t.Fatalf("second reservation for one trigger: %v", err)
	}
	if err := h.ChargeQuota(ctx, res, 120, 40); err != nil {
		t.Fatal(err)
	}
	on, err := h.BotsEnabled(ctx)
	if err != nil || !on {
		t.Fatalf("bots enabled: %v %v", on, err)
	}
	if _, err := h.SetBotsEnabled(ctx, false, "ops"); err != nil {
		t.Fatal(err)
	}
	if on, _ := h.BotsEnabled(ctx); on {
		t.Fatal("kill switch did not turn bots off")
	}
}

// Two processes on one store (the nodes of a cluster): a node's cached
// room is behind what the other appended. With Shared, a refusal is
// checked against the stream's newest records before it stands; without
// it, the cache is the truth (one node, the default).
func TestSharedStoreRefusalsSeeOtherNodesRecords(t *testing.T) {
	store := memstore.New()
	clock := start()
	a := newHandlers(t, store, clock)
	b, err := New(store, Config{Clock: clock, Hasher: cheap, Demo: true, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	lone, err := New(store, Config{Clock: clock, Hasher: cheap, Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	roomID := setup(t, a, "lobby", "alice", "bob")
	// b and lone cache the room now, at seq 0.
	for _, h := range []*Handlers{b, lone} {
		if _, err := h.MoveReadMarker(ctx, MoveReadMarker{Room: roomID, User: "bob", Seq: 1}); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("marker past the last message: %v", err)
		}
	}
	ack, err := a.PostChat(ctx, PostChat{Room: roomID, User: "alice", ClientID: "c1", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.MoveReadMarker(ctx, MoveReadMarker{Room: roomID, User: "bob", Seq: ack.Seq}); err != nil {
		t.Fatalf("shared: marker to a message another node posted: %v", err)
	}
	if _, err := lone.MoveReadMarker(ctx, MoveReadMarker{Room: roomID, User: "bob", Seq: ack.Seq}); err == nil {
		t.Fatal("alone on its store, the handler read the stream again")
	}
	// A refusal that stands after the reread still stands.
	if _, err := b.MoveReadMarker(ctx, MoveReadMarker{Room: roomID, User: "bob", Seq: ack.Seq + 5}); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("shared: marker past the last message: %v", err)
	}
}
