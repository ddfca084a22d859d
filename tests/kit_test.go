package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/cmd/switchboard/app"
	"switchboard/commands"
	"switchboard/domain"
)

// server is a running Switchboard on a loopback port, with the real
// wiring, on a data directory that outlives restarts within the test.
type server struct {
	t   *testing.T
	cfg app.Config
	app *app.App
	url string
}

// cheapHash keeps password hashing fast in tests (same format).
var cheapHash = commands.Argon2{Time: 1, MemoryKiB: 64, Threads: 1}

// testPolicy lifts the per-user chat rate limit unless a test wants it.
func testPolicy() domain.Policy {
	p := domain.DefaultPolicy()
	p.ChatLimit = 0
	return p
}

func startServer(t *testing.T, mutate ...func(*app.Config)) *server {
	t.Helper()
	cfg := app.Config{
		Data:                t.TempDir(),
		Demo:                true,
		Verifier:            "none",
		AllowNoVerification: true,
		Policy:              testPolicy(),
		Hasher:              cheapHash,
		Logger:              testLogger(),
		SnapshotEvery:       -1,
		AdminToken:          "an-admin-token-for-tests",
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s := &server{t: t, cfg: cfg}
	s.start()
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) start() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := app.New(ctx, s.cfg)
	if err != nil {
		s.t.Fatalf("app.New: %v", err)
	}
	url, err := a.Start(ctx)
	if err != nil {
		a.Close()
		s.t.Fatalf("app.Start: %v", err)
	}
	s.app, s.url = a, url
}

func (s *server) stop() {
	if s.app != nil {
		s.app.Close()
		s.app = nil
	}
}

// restart stops the server and starts a new process-equivalent on the
// same data directory (a new port).
func (s *server) restart() {
	s.stop()
	s.start()
}

func (s *server) wsURL() string { return "ws" + strings.TrimPrefix(s.url, "http") + "/ws" }

// envelope is the HTTP response body.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *server) do(method, path, token string, body any) (int, envelope) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var env envelope
	json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env
}

// login logs a demo account in (demo mode, no password) and returns its
// token.
func (s *server) login(handle string) string {
	s.t.Helper()
	code, env := s.do("POST", "/api/auth/login", "", map[string]any{"handle": handle, "verification": ""})
	if code != 200 {
		s.t.Fatalf("login %s: %d %+v", handle, code, env.Error)
	}
	var d struct{ Token string }
	json.Unmarshal(env.Data, &d)
	return d.Token
}

// client is a WebSocket client speaking the protocol.
type client struct {
	t    *testing.T
	c    *websocket.Conn
	name string
	next int
	// held are frames read while waiting for an ack, kept for the next
	// expect: a message may arrive before the ack of the command that
	// posted it.
	held []frame
}

type frame = map[string]any

func (s *server) dial(name, token string, resume map[string]uint64) (*client, frame) {
	s.t.Helper()
	c := s.dialRaw(name, nil)
	hello := frame{"type": "hello", "token": token}
	if resume != nil {
		hello["resume"] = resume
	}
	c.send(hello)
	w := c.expect("welcome")
	return c, w
}

func (s *server) dialRaw(name string, header http.Header) *client {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Origin") == "" {
		header.Set("Origin", s.url)
	}
	c, _, err := websocket.Dial(ctx, s.wsURL(), &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		s.t.Fatalf("dial %s: %v", name, err)
	}
	c.SetReadLimit(1 << 20)
	cl := &client{t: s.t, c: c, name: name}
	s.t.Cleanup(func() { c.CloseNow() })
	return cl
}

func (c *client) send(f frame) {
	c.t.Helper()
	b, _ := json.Marshal(f)
	c.sendRaw(websocket.MessageText, b)
}

func (c *client) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// id returns a fresh client command id.
func (c *client) id() string {
	c.next++
	return fmt.Sprintf("%s-%d", c.name, c.next)
}

// read returns the next frame (held ones first), or an error after
// timeout.
func (c *client) read(timeout time.Duration) (frame, error) {
	if len(c.held) > 0 {
		f := c.held[0]
		c.held = c.held[1:]
		return f, nil
	}
	return c.readWire(timeout)
}

func (c *client) readWire(timeout time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("%s: frame %q: %v", c.name, b, err)
	}
	return f, nil
}

// expect reads frames until one of type typ arrives (skipping presence
// and member chatter), failing on an error frame of a command of ours or a
// timeout.
func (c *client) expect(typ string) frame {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("%s: waiting for %s: %v", c.name, typ, err)
		}
		if f["type"] == typ {
			return f
		}
		if f["type"] == "error" && typ != "error" {
			c.t.Fatalf("%s: waiting for %s, got error %v", c.name, typ, f)
		}
	}
}

// expectMessage waits for the next message frame of a room.
func (c *client) expectMessage(room string) frame {
	c.t.Helper()
	for {
		f := c.expect("message")
		if f["room"] == room {
			return f["message"].(frame)
		}
	}
}

// command sends a frame with a fresh id and returns its ack (or error).
// A frame the flood guard dropped is resent, with the same id, after the
// delay the server asked for, as a well-behaved client does.
func (c *client) command(f frame) frame {
	c.t.Helper()
	id := c.id()
	f["id"] = id
	c.send(f)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := c.readWire(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("%s: waiting for the answer to %v: %v", c.name, f, err)
		}
		if r["type"] == "error" && r["id"] == id && r["code"] == "rate_limited" && strings.HasPrefix(r["message"].(string), "too many frames") {
			time.Sleep(time.Duration(r["retryAfterMs"].(float64)) * time.Millisecond)
			c.send(f)
			continue
		}
		if (r["type"] == "ack" || r["type"] == "error") && r["id"] == id {
			return r
		}
		c.held = append(c.held, r)
	}
}

// mustAck sends a command and fails unless it is acknowledged.
func (c *client) mustAck(f frame) frame {
	c.t.Helper()
	r := c.command(f)
	if r["type"] != "ack" {
		c.t.Fatalf("%s: %v refused: %v", c.name, f, r)
	}
	return r
}

// closeCode reads until the socket closes and returns its close code.
func (c *client) closeCode(timeout time.Duration) websocket.StatusCode {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.read(time.Until(deadline))
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.t.Fatalf("%s: still open after %s", c.name, timeout)
			}
			return websocket.CloseStatus(err)
		}
	}
}

func seqOf(f frame) uint64 { return uint64(f["seq"].(float64)) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func testLogger() *slog.Logger {
	if os.Getenv("SWITCHBOARD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
