package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"switchboard/tests/internal/e2e"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/cmd/switchboard/app"
	"switchboard/commands"
)

// TestMalformedInputFloods is T11: sockets that send binary frames,
// invalid UTF-8, oversized frames, no hello, garbage, JSON bombs and
// floods, many at once and twice over, against an in-process server. Each
// gets the documented close code or error frame; nothing panics (the
// server's logs and net/http's are searched); the server keeps serving
// (a well-behaved client chats afterwards); and once the sockets are gone
// the number of goroutines is back where it was.
func TestMalformedInputFloods(t *testing.T) {
	requireFaults(t)
	var logs lockedBuffer
	stdlog := log.Writer()
	log.SetOutput(&logs) // net/http reports handler panics through package log
	t.Cleanup(func() { log.SetOutput(stdlog) })
	// The policy and the flood guard are the defaults; only the hello
	// timeout is shortened, so that silent sockets close within the test.
	a, err := app.New(context.Background(), app.Config{
		Data: t.TempDir(), Demo: true, Verifier: "none", AllowNoVerification: true,
		Hasher:  commands.Argon2{Time: 1, MemoryKiB: 64, Threads: 1},
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Gateway: app.GatewayTuning{HelloTimeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	base, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	token := e2e.Login(t, base, "user_1", e2e.SrcAddr(200))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A well-behaved client, before (to warm everything up) and after.
	chat := func(what string) {
		t.Helper()
		w, err := e2e.Hello(ctx, base, token, e2e.SrcAddr(200))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer w.C.CloseNow()
		if r, err := w.Command(ctx, "join-"+what, map[string]any{"type": "join", "room": "general"}); err != nil || r["type"] != "ack" {
			t.Fatalf("%s: join: %v %v", what, r, err)
		}
		if r, err := w.Command(ctx, "chat-"+what, map[string]any{"type": "chat", "room": "general", "text": "still here: " + what}); err != nil || r["type"] != "ack" {
			t.Fatalf("%s: chat: %v %v", what, r, err)
		}
		w.C.Close(websocket.StatusNormalClosure, "")
	}
	chat("before")
	before := settledGoroutines(0, 5*time.Second)

	type kase struct {
		name   string
		hello  bool                  // say hello first
		frames func() [][]byte       // text frames to send (nil: see raw)
		raw    func(*websocket.Conn) // what to send instead
		want   websocket.StatusCode  // close code; 0: the socket stays open
		// orWant is another documented close code accepted: a flooder
		// that never reads its answers may fill its send queue (4008)
		// before it has ignored enough rate_limited answers (1008).
		orWant websocket.StatusCode
		codes  []string // error codes allowed in answers
	}
	text := func(ss ...string) func() [][]byte {
		return func() [][]byte {
			var out [][]byte
			for _, s := range ss {
				out = append(out, []byte(s))
			}
			return out
		}
	}
	nested := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	documented := []string{"invalid_payload", "too_long", "not_member", "forbidden", "not_found", "rate_limited"}
	cases := []kase{
		{name: "binary before hello", raw: func(c *websocket.Conn) { c.Write(ctx, websocket.MessageBinary, []byte{0, 1, 2}) }, want: 1003},
		{name: "invalid UTF-8 before hello", frames: text("{\"type\":\"hello\",\"token\":\"\xff\xfe\"}"), want: 1007},
		{name: "oversized before hello", frames: text(`{"type":"hello","token":"` + strings.Repeat("a", 17<<10) + `"}`), want: 1009},
		{name: "no hello", frames: text(), want: 4001},
		{name: "chat before hello", frames: text(`{"type":"chat","id":"x","room":"general","text":"hi"}`), want: 4001},
		{name: "garbage before hello", frames: func() [][]byte { return [][]byte{[]byte(randomText(2000))} }, want: 4001},
		{name: "nested JSON before hello", frames: text(nested), want: 4001},
		{name: "bad token", frames: text(`{"type":"hello","token":"not-a-token"}`), want: 4001},
		{name: "binary after hello", hello: true, raw: func(c *websocket.Conn) { c.Write(ctx, websocket.MessageBinary, []byte("{}")) }, want: 1003},
		{name: "invalid UTF-8 after hello", hello: true, frames: text("{\"type\":\"chat\",\"id\":\"u\",\"room\":\"general\",\"text\":\"\xc3\x28\"}"), want: 1007},
		{name: "oversized after hello", hello: true, frames: text(`{"type":"chat","id":"o","room":"general","text":"` + strings.Repeat("é", 9000) + `"}`), want: 1009},
		{name: "JSON bombs after hello", hello: true, want: 0, codes: documented, frames: text(
			nested,
			`{"type":"chat","id":"n","room":`+nested+`}`,
			`{"type":"chat","id":"d","room":"general","text":"a","text":"b"}`,
			`{"type":"nope","id":"t"}`,
			`{"type":"chat","id":"m","room":"general"}`,
			`{"type":"read","room":"general","seq":1e999}`,
			`{"type":"read","room":"general","seq":-1}`,
			`{"type":"chat","id":"`+strings.Repeat("i", 100)+`","room":"general","text":"x"}`,
			`{"type":"chat","id":"s","room":"general","text":"\ud800\udfff\ud800"}`,
			`{"type":"chat","id":"l","room":"general","text":"`+strings.Repeat(`\u00e9`, 2100)+`"}`,
			`{"type":"chat","id":"z","room":"general","text":"\u0000\u0001"}`,
			`{"type":"hello","token":"again"}`,
			`[]`, `null`, `"s"`, `123`, `{}`, `{"type":7}`, `{"type":"chat","id":"","room":"","text":""}`,
			randomText(3000),
		)},
		{name: "frame flood after hello", hello: true, want: 1008, orWant: 4008, codes: []string{"rate_limited"}, frames: func() [][]byte {
			var out [][]byte
			for range 400 {
				out = append(out, []byte(`{"type":"heartbeat"}`))
			}
			return out
		}},
	}

	const copies = 10 // sockets per case at once
	for round := range 2 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		fail := func(f string, args ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(f, args...))
			mu.Unlock()
		}
		for _, k := range cases {
			for i := range copies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var w *e2e.WS
					var err error
					if k.hello {
						w, err = e2e.Hello(ctx, base, token, e2e.SrcAddr(i))
					} else {
						w, err = e2e.DialWS(ctx, base, e2e.SrcAddr(i))
					}
					if err != nil {
						fail("%s: dial: %v", k.name, err)
						return
					}
					defer w.C.CloseNow()
					if k.raw != nil {
						k.raw(w.C)
					} else {
						for _, b := range k.frames() {
							if w.C.Write(ctx, websocket.MessageText, b) != nil {
								break // closed under us: the close code tells
							}
						}
					}
					if k.want == 0 {
						// The socket must still answer, and every answer be a
						// documented error.
						w.Send(ctx, map[string]any{"type": "heartbeat"})
						for {
							f, err := w.Await(ctx, func(map[string]any) bool { return true })
							if err != nil {
								fail("%s: socket closed: %v", k.name, err)
								return
							}
							if f["type"] == "heartbeat" {
								return
							}
							if f["type"] == "error" && !slices.Contains(k.codes, fmt.Sprint(f["code"])) {
								fail("%s: error %v", k.name, f)
							}
						}
					}
					cctx, stop := context.WithTimeout(ctx, 10*time.Second)
					defer stop()
					if got := w.CloseCode(cctx); got != k.want && (k.orWant == 0 || got != k.orWant) {
						fail("%s: close code %d, want %d (%v)", k.name, got, k.want, w.Err)
					}
				}()
			}
		}
		// Below the WebSocket layer: garbage on a raw TCP connection, a
		// request to /ws that is no upgrade, a foreign origin, and a valid
		// handshake followed by bytes that are no WebSocket frame.
		for i := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := rawGarbage(base, i); err != nil {
					fail("raw TCP garbage: %v", err)
				}
				if code := plainGet(base+"/ws", nil); code != http.StatusUpgradeRequired && code != http.StatusBadRequest {
					fail("GET /ws without upgrade: status %d", code)
				}
				if code := plainGet(base+"/ws", map[string]string{"Origin": "https://evil.example", "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}); code != http.StatusForbidden {
					fail("foreign origin: status %d, want 403", code)
				}
				if err := frameGarbage(base, i); err != nil {
					fail("garbage after the handshake: %v", err)
				}
			}()
		}
		wg.Wait()
		for _, f := range failures[:min(len(failures), 20)] {
			t.Error(f)
		}
		if len(failures) > 0 {
			t.Fatalf("round %d: %d failures", round, len(failures))
		}
	}

	chat("after")
	after := settledGoroutines(before, 15*time.Second)
	if after > before+2 {
		t.Errorf("goroutines: %d before the floods, %d after (waited 15 s)", before, after)
	}
	if s := logs.String(); strings.Contains(s, "panic") {
		t.Errorf("a panic was logged:\n%s", s)
	}
	t.Logf("%d cases × %d sockets × 2 rounds, plus raw TCP, HTTP and frame-level garbage: documented outcomes, no panic, still serving; goroutines %d before, %d after", len(cases), copies, before, after)
}

// settledGoroutines waits until the goroutine count is at most target (or
// stops changing, when target is 0) and returns it; bounded by limit.
func settledGoroutines(target int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	last := -1
	for {
		n := runtime.NumGoroutine()
		if (target > 0 && n <= target) || (target == 0 && n == last) || time.Now().After(deadline) {
			return n
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
}

// rawGarbage writes random bytes to the HTTP port: the server answers 400
// or closes, and does not hang on to the connection.
func rawGarbage(base string, i int) error {
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: e2e.SrcAddr(i)}}).Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return err
	}
	defer c.Close()
	junk := make([]byte, 4096)
	rand.Read(junk)
	junk = append(junk, "\r\n\r\n"...)
	c.Write(junk)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		return fmt.Errorf("the server kept the connection: %v", err)
	}
	if len(b) > 0 && !bytes.HasPrefix(b, []byte("HTTP/1.1 4")) {
		return fmt.Errorf("answer %q", b[:min(len(b), 40)])
	}
	return nil
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// frameGarbage completes a WebSocket handshake by hand, then sends bytes
// that are no valid (masked) frame: the server must close the connection.
func frameGarbage(base string, i int) error {
	host := strings.TrimPrefix(base, "http://")
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: e2e.SrcAddr(i)}}).Dial("tcp", host)
	if err != nil {
		return err
	}
	defer c.Close()
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
		host, base, base64.StdEncoding.EncodeToString(key))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("handshake: %d", resp.StatusCode)
	}
	// An unmasked frame (clients must mask), then random bytes.
	junk := make([]byte, 2048)
	rand.Read(junk)
	c.Write(append([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, junk...))
	if _, err := io.Copy(io.Discard, r); err != nil && !isReset(err) {
		return fmt.Errorf("the server kept the connection: %v", err)
	}
	return nil
}

// plainGet sends a GET with headers and returns the status.
func plainGet(url string, headers map[string]string) int {
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e2e.ClientFrom(nil).Do(req)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

// randomText returns n random printable runes (valid UTF-8, not JSON).
func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	var s strings.Builder
	for _, x := range b {
		s.WriteRune(rune(0x21 + int(x)%0x5e))
	}
	return s.String()
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
