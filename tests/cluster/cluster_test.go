// Package cluster runs two `switchboard serve` processes as one cluster:
// one event store endpoint (the KurrentDB stand-in, over gRPC on
// loopback, backed by the embedded log) and one NATS server with
// JetStream, both in the test process; the bots' Ollama is the stand-in
// too. It checks what docs/CLUSTER.md promises: chat, presence and typing
// across nodes, one bot reply per trigger, contiguous seqs under posts
// from both nodes, and clients that move to the surviving node after a
// SIGKILL resume without a gap and lose nothing acknowledged.
package cluster

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"switchboard/adapters/kurrentdb/standin"
	"switchboard/adapters/ollama/fake"
	"switchboard/tests/internal/e2e"
)

func TestMain(m *testing.M) {
	code := m.Run()
	e2e.RemoveBinaries()
	os.Exit(code)
}

// cluster is the shared infrastructure and the two nodes.
type cluster struct {
	store *standin.Server
	nats  *server.Server
	model *fake.Server
	env   []string
	flags []string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	st, err := standin.Start(t.TempDir(), standin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	t.Cleanup(ns.Shutdown)
	model := fake.New("llama3.2:1b")
	web := httptest.NewServer(model)
	t.Cleanup(web.Close)
	t.Cleanup(model.Close)
	return &cluster{
		store: st, nats: ns, model: model,
		env:   []string{"OLLAMA_HOST=" + web.URL},
		flags: []string{"--store", st.URL(), "--nats", ns.ClientURL()},
	}
}

func (c *cluster) start(t *testing.T, name string) *e2e.Proc {
	t.Helper()
	p, took := e2e.StartWith(t, e2e.Binary(t), t.TempDir(), c.env, append(c.flags, "--node", name)...)
	t.Logf("node %s ready in %v", name, took)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node %s log:\n%s", name, p.LogText())
		}
	})
	return p
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// message matches a message frame of room, optionally by text.
func message(room, text string) func(map[string]any) bool {
	return func(f map[string]any) bool {
		if f["type"] != "message" || f["room"] != room {
			return false
		}
		m, _ := f["message"].(map[string]any)
		return text == "" || m["text"] == text
	}
}

func msgOf(f map[string]any) map[string]any { m, _ := f["message"].(map[string]any); return m }

func join(t *testing.T, ctx context.Context, w *e2e.WS, room, id string) {
	t.Helper()
	a, err := w.Command(ctx, id, map[string]any{"type": "join", "room": room})
	if err != nil || a["type"] != "ack" {
		// Already a member is fine: the error names it.
		if a["code"] != "already_member" {
			t.Fatalf("join %s: %v %v", room, a, err)
		}
	}
}

func TestTwoNodes(t *testing.T) {
	c := newCluster(t)
	a := c.start(t, "a")
	b := c.start(t, "b")
	ctx := ctxFor(t, 3*time.Minute)

	alice := e2e.Login(t, a.URL, "user_1", e2e.SrcAddr(1))
	bob := e2e.Login(t, b.URL, "user_2", e2e.SrcAddr(2))
	wa, err := e2e.Hello(ctx, a.URL, alice, e2e.SrcAddr(1))
	if err != nil {
		t.Fatal(err)
	}
	defer wa.C.CloseNow()
	join(t, ctx, wa, "general", "join-a")

	// Presence: Bob comes online on B; Alice on A sees it.
	wb := helloRetry(t, ctx, b.URL, bob, 2)
	defer wb.C.CloseNow()
	join(t, ctx, wb, "general", "join-b")
	if _, err := wa.Await(ctx, func(f map[string]any) bool {
		return f["type"] == "presence" && f["user"] == "user_2" && f["status"] == "online"
	}); err != nil {
		t.Fatalf("A never saw user_2 come online on B: %v", err)
	}

	// Typing crosses nodes, both ways.
	if err := wb.Send(ctx, map[string]any{"type": "typing", "room": "general", "typing": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := wa.Await(ctx, func(f map[string]any) bool {
		return f["type"] == "typing" && f["user"] == "user_2" && f["typing"] == true
	}); err != nil {
		t.Fatalf("A never saw B's typing: %v", err)
	}
	if err := wa.Send(ctx, map[string]any{"type": "typing", "room": "general", "typing": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := wb.Await(ctx, func(f map[string]any) bool {
		return f["type"] == "typing" && f["user"] == "user_1" && f["typing"] == true
	}); err != nil {
		t.Fatalf("B never saw A's typing: %v", err)
	}

	// Chat crosses nodes.
	ack, err := wa.Command(ctx, "hello-1", map[string]any{"type": "chat", "room": "general", "text": "hello from A"})
	if err != nil || ack["type"] != "ack" {
		t.Fatalf("chat on A: %v %v", ack, err)
	}
	f, err := wb.Await(ctx, message("general", "hello from A"))
	if err != nil {
		t.Fatalf("B never got A's message: %v", err)
	}
	if msgOf(f)["seq"] != ack["seq"] {
		t.Fatalf("B got seq %v, A acked %v", msgOf(f)["seq"], ack["seq"])
	}

	// A bot answers a trigger once, though both nodes run the bots.
	trig, err := wb.Command(ctx, "ask-1", map[string]any{"type": "chat", "room": "general", "text": "@jeeves what is the time?"})
	if err != nil || trig["type"] != "ack" {
		t.Fatalf("trigger on B: %v %v", trig, err)
	}
	isReply := func(f map[string]any) bool {
		return message("general", "")(f) && msgOf(f)["sender"] == "bot_jeeves" && msgOf(f)["kind"] == "bot"
	}
	botTyping := func(f map[string]any) bool {
		return f["type"] == "typing" && f["user"] == "bot_jeeves" && f["typing"] == true
	}
	// Whichever node answers, both show the bot typing, then its reply.
	for name, w := range map[string]*e2e.WS{"A": wa, "B": wb} {
		if err := awaitAll(ctx, w, botTyping, isReply); err != nil {
			t.Fatalf("on %s, the bot's typing and reply: %v", name, err)
		}
	}

	// Concurrent posts from both nodes to one room stay contiguous (each
	// user stays within the chat rate limit: 20 in 30 s).
	const each = 12
	var mu sync.Mutex
	acked := map[string]uint64{} // text → seq
	var wg sync.WaitGroup
	for name, w := range map[string]*e2e.WS{"a": wa, "b": wb} {
		wg.Go(func() {
			for i := range each {
				text := fmt.Sprintf("%s-%d", name, i)
				r, err := w.Command(ctx, "burst-"+text, map[string]any{"type": "chat", "room": "general", "text": text})
				if err != nil || r["type"] != "ack" {
					t.Errorf("post %s: %v %v", text, r, err)
					return
				}
				mu.Lock()
				acked[text] = e2e.SeqOf(r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	acked["hello from A"] = e2e.SeqOf(ack)
	acked["@jeeves what is the time?"] = e2e.SeqOf(trig)
	checkHistory(t, b.URL, bob, acked, 1)

	// Alice's last seen seq before A dies: a marker Bob posts after the
	// burst (her socket got everything before it, in order; the test's
	// reader dropped the frames it was not waiting for).
	mark, err := wb.Command(ctx, "marker", map[string]any{"type": "chat", "room": "general", "text": "marker"})
	if err != nil || mark["type"] != "ack" {
		t.Fatalf("marker: %v %v", mark, err)
	}
	acked["marker"] = e2e.SeqOf(mark)
	if _, err := wa.Await(ctx, message("general", "marker")); err != nil {
		t.Fatalf("A's socket never got the marker: %v", err)
	}
	last := e2e.SeqOf(mark)

	// Node A dies; Bob keeps talking on B; Alice moves to B and resumes.
	a.Kill()
	if code := wa.CloseCode(ctx); code == -2 {
		t.Fatal("A's socket still open after SIGKILL")
	}
	for i := range 4 {
		text := fmt.Sprintf("while A was down %d", i)
		r, err := wb.Command(ctx, "down-"+fmt.Sprint(i), map[string]any{"type": "chat", "room": "general", "text": text})
		if err != nil || r["type"] != "ack" {
			t.Fatalf("post on B with A down: %v %v", r, err)
		}
		acked[text] = e2e.SeqOf(r)
	}
	// A resend, on B, of a post A acknowledged gets its original seq.
	again, err := wb.Command(ctx, "burst-b-3", map[string]any{"type": "chat", "room": "general", "text": "b-3"})
	if err != nil || again["type"] != "ack" || e2e.SeqOf(again) != acked["b-3"] {
		t.Fatalf("resend of b-3: %v %v, want its seq %d", again, err, acked["b-3"])
	}
	moved, err := e2e.DialWS(ctx, b.URL, e2e.SrcAddr(1))
	if err != nil {
		t.Fatal(err)
	}
	defer moved.C.CloseNow()
	if err := moved.Send(ctx, map[string]any{"type": "hello", "token": alice, "resume": map[string]uint64{"general": last}}); err != nil {
		t.Fatal(err)
	}
	want := last + 1
	for want <= maxSeq(acked) {
		f, err := moved.Await(ctx, func(f map[string]any) bool {
			return (f["type"] == "message" && f["room"] == "general") || (f["type"] == "history" && f["room"] == "general")
		})
		if err != nil {
			t.Fatalf("resume on B: waiting for seq %d: %v", want, err)
		}
		var ms []any
		if f["type"] == "history" {
			ms, _ = f["messages"].([]any)
		} else {
			ms = []any{f["message"]}
		}
		for _, m := range ms {
			seq := e2e.SeqOf(m.(map[string]any))
			if seq != want {
				t.Fatalf("resume on B: got seq %d, want %d (a gap or a duplicate)", seq, want)
			}
			want++
		}
	}

	// Nothing acknowledged was lost, on the surviving node.
	checkHistory(t, b.URL, bob, acked, 1)
	if n := len(c.model.Requests()); n != 1 {
		t.Fatalf("the model was asked %d times for one trigger", n)
	}
}

// awaitAll reads frames until each condition matched one, in any order.
func awaitAll(ctx context.Context, w *e2e.WS, conds ...func(map[string]any) bool) error {
	left := slices.Clone(conds)
	for len(left) > 0 {
		if _, err := w.Await(ctx, func(f map[string]any) bool {
			for i, c := range left {
				if c(f) {
					left = slices.Delete(left, i, i+1)
					return true
				}
			}
			return false
		}); err != nil {
			return fmt.Errorf("%d conditions unmet: %w", len(left), err)
		}
	}
	return nil
}

// helloRetry says hello until the node knows the session (a token issued
// by one node reaches the other through the log within milliseconds).
func helloRetry(t *testing.T, ctx context.Context, base, token string, src int) *e2e.WS {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w, err := e2e.Hello(ctx, base, token, e2e.SrcAddr(src))
		if err == nil {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("hello on %s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func maxSeq(acked map[string]uint64) uint64 {
	var m uint64
	for _, s := range acked {
		m = max(m, s)
	}
	return m
}

// checkHistory reads the room's whole history from base and checks that
// seqs run from `from` without a gap, that every acknowledged post is
// there once at its acked seq, and that the bot replied once.
func checkHistory(t *testing.T, base, token string, acked map[string]uint64, from uint64) {
	t.Helper()
	var hist []e2e.HistMsg
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		hist, err = e2e.History(base, token, "general")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) > 0 && hist[len(hist)-1].Seq >= maxSeq(acked) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	seen := map[string]int{}
	bot := 0
	for i, m := range hist {
		if m.Seq != from+uint64(i) {
			t.Fatalf("history: seq %d at index %d (want %d)", m.Seq, i, from+uint64(i))
		}
		if m.Sender == "bot_jeeves" && m.Kind == "bot" {
			bot++
		}
		seen[m.Text]++
		if s, ok := acked[m.Text]; ok && s != m.Seq {
			t.Fatalf("history: %q at seq %d, acked at %d", m.Text, m.Seq, s)
		}
	}
	var missing []string
	for text := range acked {
		if seen[text] != 1 {
			missing = append(missing, fmt.Sprintf("%q×%d", text, seen[text]))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("history: acknowledged posts not there exactly once: %s", strings.Join(missing, ", "))
	}
	if bot != 1 {
		t.Fatalf("history: %d bot replies to one trigger", bot)
	}
}
