package natsbus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"switchboard/adapters/natsbus"
	"switchboard/commands"
	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
)

// startNATS runs a real NATS server with JetStream in the test process, on
// a loopback port, keeping its streams under dir. port 0 picks one.
func startNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// node is one Switchboard node's bus over the shared store and NATS.
type node struct {
	bus      *commands.Bus
	handled  chan uint64 // positions handed to this node's "rec" reactor
	observed *observer
	done     chan error
}

type observer struct {
	mu        sync.Mutex
	positions []uint64
}

func (o *observer) Observe(_ context.Context, e *commands.Event) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.positions = append(o.positions, e.Position)
	return nil
}

func (o *observer) seen() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]uint64(nil), o.positions...)
}

func startNode(t *testing.T, store eventstore.Store, url, name string) *node {
	t.Helper()
	h, err := commands.New(store, commands.Config{})
	if err != nil {
		t.Fatal(err)
	}
	factory, err := natsbus.PubSub(natsbus.Config{URL: url, Name: name, Logger: quiet(), AckWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := commands.NewBus(h, store, commands.BusConfig{PubSub: factory, Logger: watermill.NopLogger{}, JoinAtHead: true, CloseTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{bus: bus, handled: make(chan uint64, 1024), observed: &observer{}, done: make(chan error, 1)}
	rec := cqrs.NewEventHandler("rec", func(_ context.Context, e *commands.Event) error {
		n.handled <- e.Position
		return nil
	})
	if err := bus.AddReactor(rec); err != nil {
		t.Fatal(err)
	}
	if err := bus.AddObserver(n.observed); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- bus.Run(context.Background()) }()
	select {
	case <-bus.Running():
	case err := <-n.done:
		t.Fatalf("bus %s: %v", name, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("bus %s not running", name)
	}
	t.Cleanup(func() {
		if err := bus.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	return n
}

func appendN(t *testing.T, store eventstore.Store, n int) {
	t.Helper()
	for i := range n {
		_, err := store.Append(context.Background(), fmt.Sprintf("test-%d", i%7), eventstore.Any, []eventstore.Proposed{{ID: uuid.New(), Type: "Tested", Data: []byte(`{}`)}})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Two nodes share a store and NATS: both forward every record, JetStream
// keeps one copy of each, the queue group hands each to one node's
// reactor, and each node's observer sees every record in order.
func TestEachRecordReachesOneNodeAndEveryObserver(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	store := memstore.New()
	a := startNode(t, store, srv.ClientURL(), "a")
	b := startNode(t, store, srv.ClientURL(), "b")

	const total = 300
	appendN(t, store, total)

	got := map[uint64]int{}
	perNode := map[string]int{}
	deadline := time.After(30 * time.Second)
	for len(got) < total {
		select {
		case p := <-a.handled:
			got[p]++
			perNode["a"]++
		case p := <-b.handled:
			got[p]++
			perNode["b"]++
		case <-deadline:
			t.Fatalf("%d of %d records handled", len(got), total)
		}
	}
	// Nothing more comes: no record is handled twice.
	select {
	case p := <-a.handled:
		t.Fatalf("record %d handled again on a", p)
	case p := <-b.handled:
		t.Fatalf("record %d handled again on b", p)
	case <-time.After(500 * time.Millisecond):
	}
	for p := uint64(1); p <= total; p++ {
		if got[p] != 1 {
			t.Fatalf("record %d handled %d times", p, got[p])
		}
	}
	t.Logf("handled on a: %d, on b: %d", perNode["a"], perNode["b"])

	for name, n := range map[string]*node{"a": a, "b": b} {
		waitFor(t, func() bool { return len(n.observed.seen()) == total })
		for i, p := range n.observed.seen() {
			if p != uint64(i+1) {
				t.Fatalf("observer of %s: record %d at index %d", name, p, i)
			}
		}
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	info, err := js.StreamInfo("SWITCHBOARD_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != total {
		t.Fatalf("the events stream holds %d messages, want %d (one per record)", info.State.Msgs, total)
	}
}

// A node that joins late starts forwarding at the head: the past is not
// published again.
func TestJoiningNodeStartsAtHead(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	store := memstore.New()
	a := startNode(t, store, srv.ClientURL(), "a")
	appendN(t, store, 20)
	for range 20 {
		select {
		case <-a.handled:
		case <-time.After(10 * time.Second):
			t.Fatal("a did not handle the first records")
		}
	}
	b := startNode(t, store, srv.ClientURL(), "b")
	appendN(t, store, 5)
	waitFor(t, func() bool { return len(b.observed.seen()) == 5 })
	if first := b.observed.seen()[0]; first != 21 {
		t.Fatalf("the late node observed from %d, want 21", first)
	}
}

// The same command sent by two nodes (the sweeper's, which every node
// computes) is stored once: its id is the message id.
func TestSameCommandFromTwoNodesStoredOnce(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	store := memstore.New()
	a := startNode(t, store, srv.ClientURL(), "a")
	b := startNode(t, store, srv.ClientURL(), "b")
	cmd := commands.SweepPresence{ID: uuid.New(), User: "nobody"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range []*node{a, b, a} {
		if err := n.bus.Send(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	info, err := js.StreamInfo("SWITCHBOARD_COMMANDS")
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("the commands stream holds %d messages, want 1", info.State.Msgs)
	}
}

// While NATS is down the forwarder waits; when it is back, forwarding
// resumes and nothing is lost.
func TestForwardingWaitsForNATS(t *testing.T) {
	dir := t.TempDir()
	srv := startNATS(t, dir, 0)
	port := srv.Addr().(*net.TCPAddr).Port
	url := srv.ClientURL()
	store := memstore.New()
	a := startNode(t, store, url, "a")
	appendN(t, store, 3)
	for range 3 {
		<-a.handled
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	appendN(t, store, 4) // forwarded once NATS is back
	time.Sleep(300 * time.Millisecond)
	startNATS(t, dir, port)
	// Delivery is at least once: record 3, whose ack may not have reached
	// the server before it stopped, may come again.
	got := map[uint64]bool{}
	deadline := time.After(30 * time.Second)
	for !(got[4] && got[5] && got[6] && got[7]) {
		select {
		case p := <-a.handled:
			if p < 3 || p > 7 {
				t.Fatalf("record %d handled after NATS came back", p)
			}
			got[p] = true
		case <-deadline:
			t.Fatalf("after NATS came back: %v handled, want 4..7", got)
		}
	}
}

func TestSignalsReachEveryNode(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	type sig struct {
		room, user string
		typing     bool
	}
	var sigs [2]chan sig
	var nodes [2]*natsbus.Signals
	for i := range nodes {
		sigs[i] = make(chan sig, 8)
		s, err := natsbus.NewSignals(natsbus.Config{URL: srv.ClientURL(), Logger: quiet()}, func(room, user string, typing bool) {
			sigs[i] <- sig{room, user, typing}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes[i] = s
	}
	if err := nodes[0].PublishTyping("lobby", "alice", true); err != nil {
		t.Fatal(err)
	}
	for i := range sigs {
		select {
		case s := <-sigs[i]:
			if s != (sig{"lobby", "alice", true}) {
				t.Fatalf("node %d got %+v", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("node %d got no signal", i)
		}
	}
	// Garbage on the subject is dropped, not delivered.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Publish("switchboard.typing", []byte(`{"room":"","user":"x"}`))
	nc.Publish("switchboard.typing", []byte(`not json`))
	nc.Flush()
	if err := nodes[1].PublishTyping("lobby", "bob", false); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-sigs[0]:
		if s != (sig{"lobby", "bob", false}) {
			t.Fatalf("garbage delivered: %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no signal after the garbage")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []natsbus.Config{
		{},
		{URL: "nats://127.0.0.1:1", Prefix: "has.dot"},
		{URL: "nats://127.0.0.1:1", Duplicates: time.Hour, MaxAge: time.Minute},
		{URL: "nats://127.0.0.1:1", AckWait: -1},
	} {
		if _, err := natsbus.PubSub(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	// Unreachable: the channel cannot be built, with a clear error.
	f, err := natsbus.PubSub(natsbus.Config{URL: "nats://user:secret@127.0.0.1:1", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f(commands.ChannelEvents, watermill.NopLogger{})
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if got := err.Error(); !strings.Contains(got, "127.0.0.1:1") || strings.Contains(got, "secret") {
		t.Fatalf("error %q: want the address without the password", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// While NATS is away a typing signal is refused at once (the gateway then
// relays it on its own node) rather than held and delivered stale.
func TestSignalsRefusedWhileNATSIsAway(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	s, err := natsbus.NewSignals(natsbus.Config{URL: srv.ClientURL(), Logger: quiet()}, func(string, string, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PublishTyping("lobby", "alice", true); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	waitFor(t, func() bool { return s.PublishTyping("lobby", "alice", true) != nil })
}
