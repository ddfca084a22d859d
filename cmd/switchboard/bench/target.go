package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"switchboard/cmd/switchboard/app"
	"switchboard/commands"
	"switchboard/domain"
)

// ChildCommand is the argument that makes `switchboard bench` run a server
// under test instead of the generator (ServeTarget). It is not meant to be
// typed by people.
const ChildCommand = "_target"

// target is a server under test, as the generator sees it.
type target struct {
	Kind    string   `json:"kind"` // "switchboard", "baseline" or "external"
	URL     string   `json:"url"`
	Debug   string   `json:"debug,omitempty"` // memstats, gc and pprof of a child
	PID     int      `json:"pid,omitempty"`
	Tokens  []string `json:"tokens,omitempty"`
	Handles []string `json:"handles,omitempty"`
	Policy  string   `json:"policy,omitempty"`

	cmd    *exec.Cmd
	stdin  io.WriteCloser // closing it tells the child to stop
	exited chan struct{}
	dir    string // removed by stop, unless kept
	logf   *os.File
}

// raisedPolicy is the domain policy of a load run: the per-user rate
// limits are off, since a few thousand scripted users post far faster than
// people do and a refused post would measure the limiter, not the server.
func raisedPolicy() domain.Policy {
	p := domain.DefaultPolicy()
	p.ChatLimit, p.NudgeLimit, p.WinkLimit = 0, 0, 0
	return p
}

// raisedFrameRate and raisedFrameBurst replace the per-socket flood guard
// (20 frames/s, burst 40) for load runs.
const (
	raisedFrameRate  = 1000
	raisedFrameBurst = 2000
)

func policyNote() string {
	d := domain.DefaultPolicy()
	return fmt.Sprintf("RATE LIMITS RAISED for the load run: per-user chat limit %d per %s per room -> off; nudge and wink limits -> off; per-socket flood guard 20 frames/s burst 40 -> %d/s burst %d",
		d.ChatLimit, d.ChatWindow, raisedFrameRate, raisedFrameBurst)
}

// startChild runs `<exec> _target` on a fresh temporary data directory and
// waits for its ready line.
func startChild(ctx context.Context, o *Options, kind string, users int) (*target, error) {
	dir, err := os.MkdirTemp(o.TempDir, "switchboard-bench-")
	if err != nil {
		return nil, err
	}
	t := &target{Kind: kind, dir: dir, exited: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			t.stop()
		}
	}()
	logPath := filepath.Join(dir, "server.log")
	if o.LogDir != "" {
		logPath = filepath.Join(o.LogDir, kind+".log")
	}
	t.logf, err = os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{"bench", ChildCommand},
		"--kind", kind, "--data", filepath.Join(dir, "data"), "--users", strconv.Itoa(users))
	if o.SendQueue > 0 {
		args = append(args, "--send-queue", strconv.Itoa(o.SendQueue))
	}
	t.cmd = exec.Command(o.Exe, args...)
	t.cmd.Stderr = t.logf
	// The child dies with us, even if we are killed.
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if t.stdin, err = t.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start the server under test: %w", err)
	}
	go func() { t.cmd.Wait(); close(t.exited) }()
	ready := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(stdout, 1<<20)
		line, err := r.ReadBytes('\n')
		if err != nil {
			ready <- fmt.Errorf("bench: the server under test exited before it was ready (log: %s): %w", t.logf.Name(), err)
			return
		}
		ready <- json.Unmarshal(line, t)
		io.Copy(io.Discard, r)
	}()
	wait := time.NewTimer(10*time.Minute + time.Duration(users)*time.Millisecond)
	defer wait.Stop()
	select {
	case err := <-ready:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-wait.C:
		return nil, errors.New("bench: the server under test did not get ready in time")
	}
	ok = true
	return t, nil
}

// stop ends a child (SIGTERM, then SIGKILL after 20 s) and removes its
// directory.
func (t *target) stop() {
	if t.stdin != nil {
		t.stdin.Close()
	}
	if t.cmd != nil && t.cmd.Process != nil {
		t.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-t.exited:
		case <-time.After(20 * time.Second):
			t.cmd.Process.Kill()
			<-t.exited
		}
	}
	if t.logf != nil {
		t.logf.Close()
	}
	if t.dir != "" {
		os.RemoveAll(t.dir)
	}
}

// memStats is what a child's debug endpoint reports of its Go runtime.
type memStats struct {
	HeapAlloc  uint64 `json:"heapAlloc"`
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Sys        uint64 `json:"sys"`
	Goroutines int    `json:"goroutines"`
}

// debugGet fetches one of the child's debug endpoints.
func (t *target) debugGet(ctx context.Context, path string, into any) error {
	if t.Debug == "" {
		return errors.New("bench: no debug endpoint")
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", t.Debug+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if into == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if w, ok := into.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// ServeTarget is the child side: it runs the server under test (the real
// one with the raised policy, or the baseline hub) on loopback, provisions
// the users the generator asked for, prints one JSON line (the target) on
// stdout and serves until ctx ends or stdin closes.
func ServeTarget(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench "+ChildCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "switchboard", "switchboard or baseline")
	data := fs.String("data", "", "data directory")
	users := fs.Int("users", 0, "users to register and log in")
	sendQueue := fs.Int("send-queue", 0, "gateway send queue (frames); 0: the default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raiseNoFile()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }() // the generator went away

	t := target{Kind: *kind, PID: os.Getpid()}
	var closeFn func()
	switch *kind {
	case "baseline":
		hub := NewBaseline()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: hub, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		closeFn = func() { srv.Close() }
		t.URL = "http://" + ln.Addr().String()
		for i := range *users {
			h := fmt.Sprintf("bench_%06d", i)
			t.Handles, t.Tokens = append(t.Handles, h), append(t.Tokens, h)
		}
	case "switchboard":
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		a, err := app.New(ctx, app.Config{
			Data: *data, Demo: true, Verifier: "none", AllowNoVerification: true,
			Policy: raisedPolicy(), Hasher: commands.Argon2{Time: 1, MemoryKiB: 64, Threads: 1},
			Logger:  log,
			Gateway: app.GatewayTuning{FrameRate: raisedFrameRate, FrameBurst: raisedFrameBurst, SendQueue: *sendQueue},
		})
		if err != nil {
			return err
		}
		url, err := a.Start(ctx)
		if err != nil {
			a.Close()
			return err
		}
		closeFn = func() { a.Close() }
		t.URL, t.Policy = url, policyNote()
		t.Handles, t.Tokens, err = provision(ctx, a.Handlers(), *users)
		if err != nil {
			closeFn()
			return err
		}
	default:
		return fmt.Errorf("bench %s: unknown kind %q", ChildCommand, *kind)
	}
	defer closeFn()

	dbg, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	dsrv := &http.Server{Handler: debugMux(), ReadHeaderTimeout: 5 * time.Second}
	go dsrv.Serve(dbg)
	defer dsrv.Close()
	t.Debug = "http://" + dbg.Addr().String()

	b, _ := json.Marshal(t)
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// provision registers n demo users (who log in without a password in demo
// mode) and starts a session for each, straight through the command side:
// the HTTP API's per-address sign-up and login limits would make it take
// hours, and they are not what is measured.
func provision(ctx context.Context, h *commands.Handlers, n int) (handles, tokens []string, err error) {
	handles, tokens = make([]string, n), make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range min(n, 64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				handle := fmt.Sprintf("bench_%06d", i)
				if _, _, err := h.RegisterUser(ctx, commands.RegisterUser{Handle: handle, DisplayName: "Bench " + strconv.Itoa(i), Demo: true}); err != nil && !errors.Is(err, domain.ErrHandleTaken) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("register %s: %w", handle, err))
					mu.Unlock()
					return
				}
				s, err := h.Login(ctx, commands.Login{Handle: handle, Verified: true, Verifier: "none"})
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("log in %s: %w", handle, err))
					mu.Unlock()
					return
				}
				handles[i], tokens[i] = handle, s.Token
			}
		}()
	}
	wg.Wait()
	return handles, tokens, errors.Join(errs...)
}

// debugMux serves the child's runtime figures: /memstats (JSON), /gc (a
// full collection, memory returned to the OS), /profile?seconds=N (CPU
// profile) and /heap, /goroutine, /allocs (pprof profiles). It uses
// runtime/pprof rather than net/http/pprof, whose import would register
// handlers on http.DefaultServeMux for the whole binary.
func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/memstats", func(w http.ResponseWriter, r *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(memStats{HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Sys: m.Sys, Goroutines: runtime.NumGoroutine()})
	})
	mux.HandleFunc("/gc", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
	})
	mux.HandleFunc("/profile", func(w http.ResponseWriter, r *http.Request) {
		secs, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
		if err := pprof.StartCPUProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		select {
		case <-time.After(time.Duration(max(1, min(secs, 300))) * time.Second):
		case <-r.Context().Done():
		}
		pprof.StopCPUProfile()
	})
	for _, name := range []string{"heap", "goroutine", "allocs"} {
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			pprof.Lookup(name).WriteTo(w, 0)
		})
	}
	return mux
}

// externalTarget prepares a server given by --url: users are registered
// and logged in through the HTTP API, which needs a server that runs with
// --verifier none --dev-no-verification.
func externalTarget(ctx context.Context, o *Options, users int) (*target, error) {
	t := &target{Kind: "external", URL: strings.TrimSuffix(o.URL, "/"), PID: o.PID}
	var cfg struct {
		Data struct {
			Verifier string `json:"verifier"`
		} `json:"data"`
	}
	if err := getJSON(ctx, http.DefaultClient, t.URL+"/api/config", &cfg); err != nil {
		return nil, fmt.Errorf("bench: GET %s/api/config: %w", t.URL, err)
	}
	if cfg.Data.Verifier != "none" {
		return nil, fmt.Errorf("bench: %s uses verifier %q: --url needs a server run with --verifier none --dev-no-verification", t.URL, cfg.Data.Verifier)
	}
	t.Policy = "rate limits NOT raised: the server's own policy and flood guard apply (refusals are counted)"
	var err error
	t.Handles, t.Tokens, err = httpProvision(ctx, t.URL, users, o.Stderr)
	return t, err
}
