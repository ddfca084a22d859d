package ws

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/commands"
)

// fakeCommands is the write side for the gateway's own tests: presence
// and sessions only. Any other command panics (nil Commands).
type fakeCommands struct {
	Commands
	renewTo time.Time     // what RenewSession extends a session to
	slow    time.Duration // how long Connect takes
}

func (f *fakeCommands) Connect(context.Context, string) (uint64, error) {
	time.Sleep(f.slow)
	return 1, nil
}

func (f *fakeCommands) Disconnect(context.Context, string) (uint64, error) { return 1, nil }
func (f *fakeCommands) Heartbeat(context.Context, string) (uint64, error)  { return 1, nil }
func (f *fakeCommands) RenewSession(context.Context, string) (time.Time, error) {
	return f.renewTo, nil
}

// fakeViews knows sessions and presence; a user has no rooms.
type fakeViews struct {
	Views
	mu       sync.Mutex
	sessions map[string]SessionInfo // by token
	presence []Presence
	rooms    []RoomInfo          // everyone's
	members  map[string][]string // by room
	lists    int                 // calls of Members
	broken   string              // Members of this room panics
}

func (f *fakeViews) SessionByTokenHash(hash string) (SessionInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok, s := range f.sessions {
		if commands.TokenHash(tok) == hash {
			return s, true
		}
	}
	return SessionInfo{}, false
}

func (f *fakeViews) Session(id string) (SessionInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sessions {
		if s.ID == id {
			return s, true
		}
	}
	return SessionInfo{}, false
}

func (f *fakeViews) Me(user string) (Presence, bool) {
	return Presence{User: user, Status: "online", DisplayName: user}, true
}
func (f *fakeViews) RoomsOf(string) []RoomInfo       { return f.rooms }
func (f *fakeViews) PresenceFor(string) []Presence   { return f.presence }
func (f *fakeViews) IsMember(room, user string) bool { return false }
func (f *fakeViews) Latest(string) ([]Message, bool) { return nil, true }

func (f *fakeViews) Members(room string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if room == f.broken {
		panic("broken views")
	}
	f.lists++
	return f.members[room]
}

func (f *fakeViews) setMembers(room string, users ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[room] = users
}

func (f *fakeViews) listed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

// testGateway serves a gateway with one session (token "tok", user
// alice, expiring at exp) on lc's listener (nil: the default).
func testGateway(t *testing.T, cfg Config, exp time.Time, lc *net.ListenConfig) (*Gateway, *fakeViews, string) {
	return testGatewayWith(t, &fakeCommands{renewTo: exp}, cfg, exp, lc)
}

func testGatewayWith(t *testing.T, cmds *fakeCommands, cfg Config, exp time.Time, lc *net.ListenConfig) (*Gateway, *fakeViews, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	views := &fakeViews{sessions: map[string]SessionInfo{"tok": {ID: "s1", User: "alice", ExpiresAt: exp}}, members: map[string][]string{}}
	g := New(cmds, views, cfg)
	srv := httptest.NewUnstartedServer(g)
	if lc != nil {
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Shutdown(ctx)
		srv.Close()
	})
	return g, views, srv.Listener.Addr().String()
}

// rawClient is a WebSocket client written by hand, so that a test decides
// what goes into each TCP write.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dialRaw opens a TCP connection to addr and writes the upgrade request
// for /ws followed, in the same write, by after (client frames).
func dialRaw(t *testing.T, addr string, d *net.Dialer, after ...[]byte) *rawClient {
	t.Helper()
	if d == nil {
		d = &net.Dialer{}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	b := []byte(req)
	for _, f := range after {
		b = append(b, f...)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	return c
}

// upgraded reads the server's answer to the upgrade.
func (c *rawClient) upgraded() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.t.Fatalf("upgrade: %s", resp.Status)
	}
}

// write sends frames in one TCP write.
func (c *rawClient) write(frames ...[]byte) {
	c.t.Helper()
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next data frame (a close frame fails the test).
func (c *rawClient) next() map[string]any {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	op, p, err := readServerFrame(c.br)
	if err != nil {
		c.t.Fatal(err)
	}
	if op != 1 {
		c.t.Fatalf("frame with opcode %d: %q", op, p)
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// clientFrame is a masked text frame.
func clientFrame(payload string) []byte {
	b := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key[:]...)
	for i := range len(payload) {
		b = append(b, payload[i]^key[i%4])
	}
	return b
}

// readServerFrame reads one unmasked, unfragmented server frame.
func readServerFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[0] & 0x0f, payload, err
}

const (
	helloJSON     = `{"type":"hello","token":"tok"}`
	heartbeatJSON = `{"type":"heartbeat"}`
)

// TestSmallBuffersKeepPipelinedBytes: bytes a client sends in the same
// write as its upgrade request are in net/http's buffer when the
// connection is hijacked; they reach the socket's first reads with the
// small buffers, also when there are more of them than the small read
// buffer holds.
func TestSmallBuffersKeepPipelinedBytes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &smallBuffers{ResponseWriter: w}
		wc, err := websocket.Accept(sw, r, nil)
		if err != nil {
			return
		}
		defer wc.CloseNow()
		if sw.br == nil || sw.br.Size() < readBufferSize {
			t.Errorf("hijacked without the small buffers")
		}
		for {
			_, b, err := wc.Read(context.Background())
			if err != nil {
				return
			}
			if err := wc.Write(context.Background(), websocket.MessageText, b); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, sizes := range [][]int{{5}, {5, 7}, {3000}, {100, readBufferSize, 2 * readBufferSize}} {
		var frames [][]byte
		var want []string
		for i, n := range sizes {
			s := fmt.Sprintf("%d:%s", i, strings.Repeat("x", n))
			frames, want = append(frames, clientFrame(s)), append(want, s)
		}
		c := dialRaw(t, addr, nil, frames...)
		c.upgraded()
		for _, w := range want {
			c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			op, p, err := readServerFrame(c.br)
			if err != nil || op != 1 || string(p) != w {
				t.Fatalf("sizes %v: echo of %.20q...: opcode %d, %.20q..., %v", sizes, w, op, p, err)
			}
		}
		c.nc.Close()
	}
}

// TestPipelinedHello: hello and a heartbeat sent with the upgrade request
// are both answered (the first read of the socket finds them).
func TestPipelinedHello(t *testing.T) {
	_, _, addr := testGateway(t, Config{}, time.Now().Add(time.Hour), nil)
	c := dialRaw(t, addr, nil, clientFrame(helloJSON), clientFrame(heartbeatJSON))
	c.upgraded()
	if f := c.next(); f["type"] != "welcome" {
		t.Fatalf("first frame %v", f)
	}
	if f := c.next(); f["type"] != "heartbeat" {
		t.Fatalf("second frame %v", f)
	}
}

// TestFramesInOneWrite: frames that arrive in one TCP write are all
// handled: the reader does not wait for the socket while its buffer still
// holds frames.
func TestFramesInOneWrite(t *testing.T) {
	_, _, addr := testGateway(t, Config{}, time.Now().Add(time.Hour), nil)
	c := dialRaw(t, addr, nil)
	c.upgraded()
	c.write(clientFrame(helloJSON))
	if f := c.next(); f["type"] != "welcome" {
		t.Fatalf("first frame %v", f)
	}
	for _, n := range []int{2, 3, 20} {
		var frames [][]byte
		for range n {
			frames = append(frames, clientFrame(heartbeatJSON))
		}
		c.write(frames...)
		for i := range n {
			if f := c.next(); f["type"] != "heartbeat" {
				t.Fatalf("%d of %d: %v", i+1, n, f)
			}
		}
	}
}

// readerWaits reports where the reader of the only socket waits:
// "await" (awaitFrame), "read" (coder/websocket's Read) or "" (busy or
// not found).
func readerWaits() string {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "ws.(*conn).serve") {
			continue
		}
		switch {
		case strings.Contains(g, "ws.(*conn).awaitFrame") && strings.Contains(g, "[IO wait"):
			return "await"
		case strings.Contains(g, "websocket.(*Conn).Read") && strings.Contains(g, "[IO wait"):
			return "read"
		}
	}
	return ""
}

func waitReaderIn(t *testing.T, where string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for readerWaits() != where {
		if time.Now().After(deadline) {
			t.Fatalf("the reader does not wait in %s (%q)", where, readerWaits())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdleReaderWaitsAtTheTop: a quiet socket's reader waits for its next
// frame in awaitFrame, not inside coder/websocket's Read, and still reads
// what comes; a busy socket's (three frames within busyWindow) waits in
// Read.
func TestIdleReaderWaitsAtTheTop(t *testing.T) {
	if !canAwait {
		t.Skip("the reader waits in Read on this system")
	}
	_, _, addr := testGateway(t, Config{}, time.Now().Add(time.Hour), nil)
	c := dialRaw(t, addr, nil, clientFrame(helloJSON))
	c.upgraded()
	c.next() // welcome
	waitReaderIn(t, "await")
	c.write(clientFrame(heartbeatJSON))
	if f := c.next(); f["type"] != "heartbeat" {
		t.Fatalf("after the wait: %v", f)
	}
	c.write(clientFrame(heartbeatJSON))
	c.next()
	waitReaderIn(t, "read")
	c.write(clientFrame(heartbeatJSON))
	if f := c.next(); f["type"] != "heartbeat" {
		t.Fatalf("after the wait in Read: %v", f)
	}
}

// dialClient opens a socket with coder/websocket and says hello.
func dialClient(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wc.CloseNow() })
	if err := wc.Write(ctx, websocket.MessageText, []byte(helloJSON)); err != nil {
		t.Fatal(err)
	}
	return wc
}

// closedWith reads until the socket closes and returns the close code and
// the goodbye reason seen before it.
func closedWith(t *testing.T, wc *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var goodbye string
	for {
		_, b, err := wc.Read(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("still open")
			}
			return websocket.CloseStatus(err), goodbye
		}
		var f struct{ Type, Reason string }
		json.Unmarshal(b, &f)
		if f.Type == "goodbye" {
			goodbye = f.Reason
		}
	}
}

// TestTimeoutsOnSharedTimers: the hello timeout, the idle timeout and the
// session expiry, which run on the gateway's timers, close their sockets
// with their codes, each after its goodbye.
func TestTimeoutsOnSharedTimers(t *testing.T) {
	cfg := Config{HelloTimeout: 200 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}
	t.Run("hello 4001", func(t *testing.T) {
		t.Parallel()
		_, _, addr := testGateway(t, cfg, time.Now().Add(time.Hour), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		wc, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer wc.CloseNow()
		if code, _ := closedWith(t, wc); code != closeBadHello {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("idle 4003", func(t *testing.T) {
		t.Parallel()
		_, _, addr := testGateway(t, cfg, time.Now().Add(time.Hour), nil)
		wc := dialClient(t, addr)
		if code, reason := closedWith(t, wc); code != closeHeartbeat || reason != reasonHeartbeatTimeout {
			t.Fatalf("close %d after goodbye %q", code, reason)
		}
	})
	t.Run("heartbeats keep it open", func(t *testing.T) {
		t.Parallel()
		cfg := Config{IdleTimeout: time.Second}
		g, _, addr := testGateway(t, cfg, time.Now().Add(time.Hour), nil)
		wc := dialClient(t, addr)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// Fifteen heartbeats, each answered before the next is sent, over
		// more than the idle timeout (each waits a tenth of it).
		for range 15 {
			time.Sleep(cfg.IdleTimeout / 10)
			if err := wc.Write(ctx, websocket.MessageText, []byte(heartbeatJSON)); err != nil {
				t.Fatal(err)
			}
			for {
				_, b, err := wc.Read(ctx)
				if err != nil {
					t.Fatalf("closed: %v", err)
				}
				if strings.Contains(string(b), `"heartbeat"`) {
					break
				}
			}
		}
		if n := g.Stats.Connections.Load(); n != 1 {
			t.Fatalf("%d sockets open", n)
		}
	})
	t.Run("session expiry 4002", func(t *testing.T) {
		t.Parallel()
		_, _, addr := testGateway(t, Config{}, time.Now().Add(300*time.Millisecond), nil)
		wc := dialClient(t, addr)
		if code, reason := closedWith(t, wc); code != closeSessionEnded || reason != reasonSessionExpired {
			t.Fatalf("close %d after goodbye %q", code, reason)
		}
	})
}

// TestSlowHandlingIsNotSilence: the idle timeout counts the client's
// silence, not the time the server takes over its frame: a hello whose
// command outlasts the idle timeout does not end in 4003, and the frame
// sent meanwhile is answered.
func TestSlowHandlingIsNotSilence(t *testing.T) {
	cfg := Config{HelloTimeout: 500 * time.Millisecond, IdleTimeout: 500 * time.Millisecond}
	exp := time.Now().Add(time.Hour)
	_, _, addr := testGatewayWith(t, &fakeCommands{renewTo: exp, slow: 3 * cfg.IdleTimeout}, cfg, exp, nil)
	c := dialRaw(t, addr, nil, clientFrame(helloJSON), clientFrame(heartbeatJSON))
	c.upgraded()
	if f := c.next(); f["type"] != "welcome" {
		t.Fatalf("first frame %v", f)
	}
	if f := c.next(); f["type"] != "heartbeat" {
		t.Fatalf("second frame %v", f)
	}
}

// TestWriteWatchdogOnSharedTimers: a write the client does not take
// within WriteTimeout is a slow consumer; the watchdog runs on the shared
// timers.
func TestWriteWatchdogOnSharedTimers(t *testing.T) {
	buffer := func(opt, size int) func(_, _ string, rc syscall.RawConn) error {
		return func(_, _ string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, size) })
			return serr
		}
	}
	lc := &net.ListenConfig{Control: buffer(syscall.SO_SNDBUF, 8<<10)}
	g, views, addr := testGateway(t, Config{WriteTimeout: 200 * time.Millisecond}, time.Now().Add(time.Hour), lc)
	// A welcome of about 500 KB, which the client never reads: more than
	// the socket buffers take, less than the send queue's byte limit (so
	// it is the watchdog that finds the slow consumer).
	for i := range 5_000 {
		views.presence = append(views.presence, Presence{User: fmt.Sprintf("user_%06d", i), Status: "offline", DisplayName: strings.Repeat("n", 60)})
	}
	c := dialRaw(t, addr, &net.Dialer{Control: buffer(syscall.SO_RCVBUF, 4<<10)}, clientFrame(helloJSON))
	defer c.nc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for g.Stats.SlowConsumers.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no slow consumer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFanOutKeepsMembers: the fan-out reads a room's members from the
// views once, until a membership change of the room passes through it;
// messages reach the members' sockets in order either way.
func TestFanOutKeepsMembers(t *testing.T) {
	g, views, addr := testGateway(t, Config{}, time.Now().Add(time.Hour), nil)
	views.rooms = []RoomInfo{{ID: "r", Name: "r", Visibility: "public"}}
	views.setMembers("r", "alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wc := dialClient(t, addr)
	next := func() map[string]any {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for {
			_, b, err := wc.Read(rctx)
			if err != nil {
				t.Fatal(err)
			}
			var f map[string]any
			json.Unmarshal(b, &f)
			if f["type"] != "welcome" {
				return f
			}
		}
	}
	post := func(seq uint64) {
		t.Helper()
		g.Fan(Change{Message: &RoomMessage{Room: "r", Message: Message{ID: fmt.Sprint(seq), Seq: seq, Kind: "chat", Text: "hi"}}})
		f := next()
		if m, _ := f["message"].(map[string]any); f["type"] != "message" || m["seq"] != float64(seq) {
			t.Fatalf("want message %d, got %v", seq, f)
		}
	}
	// The socket is registered once its hello is done.
	deadline := time.Now().Add(10 * time.Second)
	for len(g.conns("alice")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no socket registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	post(1)
	post(2)
	post(3)
	if n := views.listed(); n != 1 {
		t.Fatalf("members listed %d times for three messages", n)
	}
	views.setMembers("r", "alice", "bob")
	g.Fan(Change{Member: &MemberChange{Room: "r", User: "bob", Change: "joined"}})
	if f := next(); f["type"] != "member" || f["user"] != "bob" {
		t.Fatalf("want bob's join, got %v", f)
	}
	listed := views.listed()
	post(4)
	post(5)
	if n := views.listed() - listed; n != 1 {
		t.Fatalf("members listed %d times for two messages after a join", n)
	}
}

// TestFanSurvivesAPanic: a panic while fanning out is logged, every
// socket is told to reconnect (4008), and the next change fans out.
func TestFanSurvivesAPanic(t *testing.T) {
	g, views, addr := testGateway(t, Config{}, time.Now().Add(time.Hour), nil)
	views.rooms = []RoomInfo{{ID: "r", Name: "r", Visibility: "public"}, {ID: "bad", Name: "bad", Visibility: "public"}}
	views.setMembers("r", "alice")
	views.broken = "bad"
	wc := dialClient(t, addr)
	deadline := time.Now().Add(10 * time.Second)
	for len(g.conns("alice")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no socket registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	first := g.conns("alice")[0]
	g.Fan(Change{Message: &RoomMessage{Room: "bad", Message: Message{ID: "1", Seq: 1, Kind: "chat", Text: "hi"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := wc.Read(ctx)
		if err != nil {
			if got := websocket.CloseStatus(err); got != closeSlowConsumer {
				t.Fatalf("closed with %v (%v), want 4008", got, err)
			}
			break
		}
	}
	// The gateway goes on: a new socket gets the next message.
	wc2 := dialClient(t, addr)
	for cs := g.conns("alice"); len(cs) != 1 || cs[0] == first; cs = g.conns("alice") {
		if time.Now().After(deadline) {
			t.Fatal("the new socket is not the only one registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	g.Fan(Change{Message: &RoomMessage{Room: "r", Message: Message{ID: "2", Seq: 1, Kind: "chat", Text: "again"}}})
	for {
		_, b, err := wc2.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f map[string]any
		json.Unmarshal(b, &f)
		if f["type"] == "message" {
			break
		}
	}
}
