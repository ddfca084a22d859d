package faults

import (
	"bytes"
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

// requireFaults skips a fault test unless SWITCHBOARD_FAULTS is set (see
// .ci/faults): they take minutes and need root for some of their set-up.
func requireFaults(t *testing.T) {
	t.Helper()
	if os.Getenv("SWITCHBOARD_FAULTS") == "" {
		t.Skip("fault test: run with SWITCHBOARD_FAULTS=1 (or .ci/faults)")
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds cmd/switchboard once per test run, into a temporary
// directory.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "switchboard-faults-")
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

// proc is a `switchboard serve` child process.
type proc struct {
	t      *testing.T
	bin    string
	data   string
	url    string
	cmd    *exec.Cmd
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

// startProc runs `switchboard serve --demo` on data (no human
// verification) and waits for /readyz 200; it returns the time that took.
func startProc(t *testing.T, bin, data string) (*proc, time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &proc{t: t, bin: bin, data: data, url: "http://" + addr, exited: make(chan struct{}), log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	p.cmd = exec.Command(bin, "serve", "--addr", addr, "--data", data, "--demo", "--verifier", "none", "--dev-no-verification", "--log-level", "warn")
	p.cmd.Stderr = lockedWriter{p.logMu, p.log}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.kill)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		resp, err := c.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, time.Since(start)
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("serve exited before it was ready: %s", p.logText())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("serve not ready in 30 s: %s", p.logText())
		}
	}
}

func (p *proc) logText() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

// kill kills the server with SIGKILL (kill -9) and waits for it to be gone.
func (p *proc) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// clientFrom returns an HTTP client whose connections leave from src, so
// that the per-address login limit (5 a minute) counts each test user
// apart.
func clientFrom(src net.IP) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// srcAddr is the i-th loopback source address of the tests (127.0.9.x).
func srcAddr(i int) net.IP { return net.IPv4(127, 0, 9, byte(1+i%250)) }

type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct{ Code, Message string }
}

func doJSON(c *http.Client, method, url, token string, body any) (int, envelope, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, envelope{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, envelope{}, err
	}
	defer resp.Body.Close()
	var env envelope
	json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env, nil
}

// login logs a demo account in from source address src.
func login(t *testing.T, base, handle string, src net.IP) string {
	t.Helper()
	code, env, err := doJSON(clientFrom(src), "POST", base+"/api/auth/login", "", map[string]any{"handle": handle, "verification": ""})
	if err != nil || code != 200 {
		t.Fatalf("login %s: %d %v %+v", handle, code, err, env.Error)
	}
	var d struct{ Token string }
	json.Unmarshal(env.Data, &d)
	return d.Token
}

// histMsg is a message as the history API returns it.
type histMsg struct {
	ID     string `json:"id"`
	Seq    uint64 `json:"seq"`
	Sender string `json:"sender"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
}

// history pages through a room's whole history (newest first, 100 at a
// time) and returns it oldest first.
func history(base, token, room string) ([]histMsg, error) {
	c := clientFrom(nil)
	var all []histMsg
	before := ""
	for page := 0; page < 10_000; page++ {
		code, env, err := doJSON(c, "GET", base+"/api/rooms/"+room+"/messages?limit=100"+before, token, nil)
		if err != nil {
			return nil, err
		}
		if code != 200 {
			return nil, fmt.Errorf("history of %s: %d %+v", room, code, env.Error)
		}
		var d struct {
			Messages []histMsg
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

// wsConn is a protocol client for the fault tests. Its reader runs in a
// goroutine and hands every frame to frames; nothing here calls t.Fatal
// off the test goroutine.
type wsConn struct {
	c      *websocket.Conn
	frames chan map[string]any
	done   chan struct{}
	err    error
}

func dialWS(ctx context.Context, base string, src net.IP) (*wsConn, error) {
	h := http.Header{}
	h.Set("Origin", base)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h, HTTPClient: clientFrom(src)})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(8 << 20)
	w := &wsConn{c: c, frames: make(chan map[string]any, 4096), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer close(w.frames)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				w.err = err
				return
			}
			var f map[string]any
			if json.Unmarshal(b, &f) == nil {
				w.frames <- f
			}
		}
	}()
	return w, nil
}

// hello dials and authenticates, waiting for welcome.
func hello(ctx context.Context, base, token string, src net.IP) (*wsConn, error) {
	w, err := dialWS(ctx, base, src)
	if err != nil {
		return nil, err
	}
	if err := w.send(ctx, map[string]any{"type": "hello", "token": token}); err != nil {
		w.c.CloseNow()
		return nil, err
	}
	if _, err := w.await(ctx, func(f map[string]any) bool { return f["type"] == "welcome" }); err != nil {
		w.c.CloseNow()
		return nil, err
	}
	return w, nil
}

func (w *wsConn) send(ctx context.Context, f map[string]any) error {
	b, _ := json.Marshal(f)
	return w.c.Write(ctx, websocket.MessageText, b)
}

// await reads frames until match accepts one (others are dropped).
func (w *wsConn) await(ctx context.Context, match func(map[string]any) bool) (map[string]any, error) {
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				return nil, fmt.Errorf("socket closed: %v", w.err)
			}
			if match(f) {
				return f, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// command sends f with id and waits for its ack or error. A frame the
// flood guard dropped ("too many frames") is resent, with the same id,
// after the delay the server asked for, as a well-behaved client does.
func (w *wsConn) command(ctx context.Context, id string, f map[string]any) (map[string]any, error) {
	f["id"] = id
	for {
		if err := w.send(ctx, f); err != nil {
			return nil, err
		}
		r, err := w.await(ctx, func(r map[string]any) bool {
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

// closeCode waits for the socket to close and returns its close code.
func (w *wsConn) closeCode(ctx context.Context) websocket.StatusCode {
	for {
		select {
		case _, ok := <-w.frames:
			if !ok {
				return websocket.CloseStatus(w.err)
			}
		case <-ctx.Done():
			return -2 // still open
		}
	}
}

func seqOf(f map[string]any) uint64 {
	n, _ := f["seq"].(float64)
	return uint64(n)
}
