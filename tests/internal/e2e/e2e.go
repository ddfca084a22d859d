// Package e2e runs `switchboard serve` as a child process and speaks to it
// over HTTP and WebSocket, for the end-to-end suites in tests/ (faults,
// cluster). It is test support: nothing outside tests/ imports it.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	binDir    string
)

// RemoveBinaries deletes what Binary built; call it from TestMain after
// the tests ran.
func RemoveBinaries() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Binary builds cmd/switchboard once per test run, into a temporary
// directory.
func Binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "switchboard-e2e-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(binDir, "switchboard")
		out, err := exec.Command("go", "build", "-o", builtBin, "switchboard/cmd/switchboard").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// Proc is a `switchboard serve` child process listening on URL.
type Proc struct {
	t      *testing.T
	bin    string
	Data   string
	URL    string
	Cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
	logMu  *sync.Mutex
}

// lockedWriter lets the child's stderr be read while it runs.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Start runs `switchboard serve --demo` on data (no human verification)
// and waits for /readyz 200; it returns the time that took.
func Start(t *testing.T, bin, data string) (*Proc, time.Duration) {
	return StartWith(t, bin, data, nil)
}

// StartWith is Start with extra environment variables (NAME=value) and
// extra serve flags.
func StartWith(t *testing.T, bin, data string, env []string, flags ...string) (*Proc, time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &Proc{t: t, bin: bin, Data: data, URL: "http://" + addr, exited: make(chan struct{}), log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	args := append([]string{"serve", "--addr", addr, "--data", data, "--demo", "--verifier", "none", "--dev-no-verification", "--log-level", cmp.Or(os.Getenv("SWITCHBOARD_E2E_LOG_LEVEL"), "warn")}, flags...)
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stderr = lockedWriter{p.logMu, p.log}
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.Cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Kill)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		resp, err := c.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, time.Since(start)
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("serve exited before it was ready: %s", p.LogText())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("serve not ready in 30 s: %s", p.LogText())
		}
	}
}

// LogText is what the server wrote to stderr so far.
func (p *Proc) LogText() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

// Kill kills the server with SIGKILL (kill -9) and waits for it to be gone.
func (p *Proc) Kill() {
	if p.Cmd.Process != nil {
		p.Cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// ClientFrom returns an HTTP client whose connections leave from src, so
// that the per-address login limit (5 a minute) counts each test user
// apart.
func ClientFrom(src net.IP) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// SrcAddr is the i-th loopback source address of the tests (127.0.9.x).
func SrcAddr(i int) net.IP { return net.IPv4(127, 0, 9, byte(1+i%250)) }

type Envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct{ Code, Message string }
}

func DoJSON(c *http.Client, method, url, token string, body any) (int, Envelope, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, Envelope{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, Envelope{}, err
	}
	defer resp.Body.Close()
	var env Envelope
	json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env, nil
}

// Login logs a demo account in from source address src.
func Login(t *testing.T, base, handle string, src net.IP) string {
	t.Helper()
	code, env, err := DoJSON(ClientFrom(src), "POST", base+"/api/auth/login", "", map[string]any{"handle": handle, "verification": ""})
	if err != nil || code != 200 {
		t.Fatalf("login %s: %d %v %+v", handle, code, err, env.Error)
	}
	var d struct{ Token string }
	json.Unmarshal(env.Data, &d)
	return d.Token
}

// HistMsg is a message as the history API returns it.
type HistMsg struct {
	ID     string `json:"id"`
	Seq    uint64 `json:"seq"`
	Sender string `json:"sender"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
}

// History pages through a room's whole history (newest first, 100 at a
// time) and returns it oldest first.
func History(base, token, room string) ([]HistMsg, error) {
	c := ClientFrom(nil)
	var all []HistMsg
	before := ""
	for page := 0; page < 10_000; page++ {
		code, env, err := DoJSON(c, "GET", base+"/api/rooms/"+room+"/messages?limit=100"+before, token, nil)
		if err != nil {
			return nil, err
		}
		if code != 200 {
			return nil, fmt.Errorf("history of %s: %d %+v", room, code, env.Error)
		}
		var d struct {
			Messages []HistMsg
			Complete bool
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return nil, err
		}
		all = append(all, d.Messages...)
		if d.Complete || len(d.Messages) == 0 {
			for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
				all[i], all[j] = all[j], all[i]
			}
			return all, nil
		}
		before = "&before=" + strconv.FormatUint(d.Messages[len(d.Messages)-1].Seq, 10)
	}
	return nil, errors.New("history: too many pages")
}

// WS is a protocol client for the fault tests. Its reader runs in a
// goroutine and hands every frame to frames; nothing here calls t.Fatal
// off the test goroutine.
type WS struct {
	C      *websocket.Conn
	Frames chan map[string]any
	Done   chan struct{}
	Err    error
}

func DialWS(ctx context.Context, base string, src net.IP) (*WS, error) {
	h := http.Header{}
	h.Set("Origin", base)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h, HTTPClient: ClientFrom(src)})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(8 << 20)
	w := &WS{C: c, Frames: make(chan map[string]any, 4096), Done: make(chan struct{})}
	go func() {
		defer close(w.Done)
		defer close(w.Frames)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				w.Err = err
				return
			}
			var f map[string]any
			if json.Unmarshal(b, &f) == nil {
				w.Frames <- f
			}
		}
	}()
	return w, nil
}

// Hello dials and authenticates, waiting for welcome.
func Hello(ctx context.Context, base, token string, src net.IP) (*WS, error) {
	w, err := DialWS(ctx, base, src)
	if err != nil {
		return nil, err
	}
	if err := w.Send(ctx, map[string]any{"type": "hello", "token": token}); err != nil {
		w.C.CloseNow()
		return nil, err
	}
	if _, err := w.Await(ctx, func(f map[string]any) bool { return f["type"] == "welcome" }); err != nil {
		w.C.CloseNow()
		return nil, err
	}
	return w, nil
}

func (w *WS) Send(ctx context.Context, f map[string]any) error {
	b, _ := json.Marshal(f)
	return w.C.Write(ctx, websocket.MessageText, b)
}

// Await reads frames until match accepts one (others are dropped).
func (w *WS) Await(ctx context.Context, match func(map[string]any) bool) (map[string]any, error) {
	for {
		select {
		case f, ok := <-w.Frames:
			if !ok {
				return nil, fmt.Errorf("socket closed: %v", w.Err)
			}
			if match(f) {
				return f, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Command sends f with id and waits for its ack or error. A frame the
// flood guard dropped ("too many frames") is resent, with the same id,
// after the delay the server asked for, as a well-behaved client does.
func (w *WS) Command(ctx context.Context, id string, f map[string]any) (map[string]any, error) {
	f["id"] = id
	for {
		if err := w.Send(ctx, f); err != nil {
			return nil, err
		}
		r, err := w.Await(ctx, func(r map[string]any) bool {
			return (r["type"] == "ack" || r["type"] == "error") && r["id"] == id
		})
		if err != nil {
			return nil, err
		}
		if msg, _ := r["message"].(string); r["code"] == "rate_limited" && strings.HasPrefix(msg, "too many frames") {
			wait, _ := r["retryAfterMs"].(float64)
			time.Sleep(time.Duration(wait+1) * time.Millisecond)
			continue
		}
		return r, nil
	}
}

// CloseCode waits for the socket to close and returns its close code.
func (w *WS) CloseCode(ctx context.Context) websocket.StatusCode {
	for {
		select {
		case _, ok := <-w.Frames:
			if !ok {
				return websocket.CloseStatus(w.Err)
			}
		case <-ctx.Done():
			return -2 // still open
		}
	}
}

func SeqOf(f map[string]any) uint64 {
	n, _ := f["seq"].(float64)
	return uint64(n)
}
