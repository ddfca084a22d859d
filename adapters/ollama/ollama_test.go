package ollama_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"switchboard/adapters/ollama"
	"switchboard/adapters/ollama/fake"
	"switchboard/commands"
)

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// newClient serves s and returns a client of it with cfg's settings.
func newClient(t *testing.T, s *fake.Server, cfg ollama.Config) (*ollama.Client, *logBuffer) {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	cfg.Host = ts.URL
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	c, err := ollama.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

var prompt = []commands.LLMMessage{
	{Role: commands.RoleSystem, Content: "You are Clippy."},
	{Role: commands.RoleUser, Content: "user_1: hi"},
	{Role: commands.RoleAssistant, Content: "It looks like you're saying hi!"},
	{Role: commands.RoleUser, Content: "user_1: @clippy help"},
}

func TestChatStreamsAndCounts(t *testing.T) {
	s := fake.New()
	s.Set(fake.Behaviour{Reply: func(fake.Request) string { return "It looks like you're writing a letter!" }})
	c, _ := newClient(t, s, ollama.Config{})
	out, err := c.Chat(testCtx(t), prompt)
	if err != nil {
		t.Fatal(err)
	}
	req := s.Requests()[0]
	if out.Text != "It looks like you're writing a letter!" || out.GeneratedTokens != 7 || out.PromptTokens != fake.PromptTokens(req) || out.Truncated {
		t.Fatalf("reply %+v", out)
	}
	if req.Model != ollama.DefaultModel || req.Stream == nil || !*req.Stream || req.NumPredict() != 150 ||
		req.Options["num_ctx"] != float64(4096) || req.Options["temperature"] != 0.8 {
		t.Fatalf("request %+v", req)
	}
	if len(req.Messages) != len(prompt) {
		t.Fatalf("messages %+v", req.Messages)
	}
	for i, m := range req.Messages {
		if m.Role != prompt[i].Role || m.Content != prompt[i].Content {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if c.State() != "ok" {
		t.Fatalf("state after a reply: %q", c.State())
	}
}

func TestChatLengthCap(t *testing.T) {
	s := fake.New()
	s.Set(fake.Behaviour{Reply: func(fake.Request) string { return strings.Repeat("word ", 500) }})
	c, _ := newClient(t, s, ollama.Config{NumPredict: 7})
	out, err := c.Chat(testCtx(t), prompt)
	if err != nil || !out.Truncated || out.GeneratedTokens != 7 || len(fake.Tokens(out.Text)) != 7 {
		t.Fatalf("reply %+v, %v", out, err)
	}
}

func TestChatFailures(t *testing.T) {
	short := ollama.Config{FirstTokenTimeout: 150 * time.Millisecond, Timeout: 400 * time.Millisecond, MaxReplyBytes: 64}
	cases := []struct {
		name string
		b    fake.Behaviour
		cfg  ollama.Config
		want func(error) bool
	}{
		{"status 500", fake.Behaviour{Fault: fake.Fail}, ollama.Config{}, func(err error) bool {
			var se api.StatusError
			return errors.As(err, &se) && se.StatusCode == 500
		}},
		{"garbage", fake.Behaviour{Fault: fake.Garbage, FaultAfter: 1}, ollama.Config{}, func(err error) bool { return err != nil }},
		{"cut", fake.Behaviour{Fault: fake.Cut, FaultAfter: 2}, ollama.Config{}, func(err error) bool { return errors.Is(err, ollama.ErrIncomplete) }},
		{"cut before anything", fake.Behaviour{Fault: fake.Cut}, ollama.Config{}, func(err error) bool { return errors.Is(err, ollama.ErrIncomplete) }},
		{"error mid-stream", fake.Behaviour{Fault: fake.StreamError, FaultAfter: 1, Message: "CUDA error"}, ollama.Config{}, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "CUDA error")
		}},
		{"hang", fake.Behaviour{Fault: fake.Hang}, short, func(err error) bool { return errors.Is(err, ollama.ErrFirstTokenTimeout) }},
		{"slow first token", fake.Behaviour{FirstTokenDelay: time.Minute}, short, func(err error) bool { return errors.Is(err, ollama.ErrFirstTokenTimeout) }},
		{"stall after a token", fake.Behaviour{Fault: fake.Stall, FaultAfter: 1}, short, func(err error) bool { return errors.Is(err, ollama.ErrTimeout) }},
		{"too slow overall", fake.Behaviour{TokenDelay: 100 * time.Millisecond, Reply: func(fake.Request) string { return strings.Repeat("x ", 20) }}, short,
			func(err error) bool { return errors.Is(err, ollama.ErrTimeout) }},
		{"runaway reply", fake.Behaviour{Reply: func(fake.Request) string { return strings.Repeat("blah ", 100) }}, short,
			func(err error) bool { return errors.Is(err, ollama.ErrReplyTooLarge) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fake.New()
			s.Set(tc.b)
			c, _ := newClient(t, s, tc.cfg)
			out, err := c.Chat(testCtx(t), prompt)
			if !tc.want(err) {
				t.Fatalf("err %v (reply %+v)", err, out)
			}
			if out != (commands.LLMReply{}) {
				t.Fatalf("a failure returned a reply: %+v", out)
			}
			// Held requests end with the client's: nothing left behind.
			if err := s.WaitActive(testCtx(t), 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChatHonoursTheCallersContext(t *testing.T) {
	s := fake.New()
	s.Set(fake.Behaviour{Fault: fake.Hang})
	c, _ := newClient(t, s, ollama.Config{})
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { _, err := c.Chat(ctx, prompt); done <- err }()
	if err := s.WaitActive(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestPromptTooLargeIsNotSent(t *testing.T) {
	s := fake.New()
	c, _ := newClient(t, s, ollama.Config{MaxPromptBytes: 100})
	_, err := c.Chat(testCtx(t), []commands.LLMMessage{{Role: "user", Content: strings.Repeat("a", 101)}})
	if !errors.Is(err, ollama.ErrPromptTooLarge) || len(s.Requests()) != 0 {
		t.Fatalf("err %v, %d requests", err, len(s.Requests()))
	}
}

func TestCheckStates(t *testing.T) {
	s := fake.New()
	c, logs := newClient(t, s, ollama.Config{})
	if st := c.State(); !strings.HasPrefix(st, "degraded: ") {
		t.Fatalf("state before any check: %q", st)
	}
	if err := c.Check(testCtx(t)); err != nil || c.State() != "ok" {
		t.Fatalf("check: %v, state %q", err, c.State())
	}

	// The model is removed: degraded, and one line tells what to run.
	s.SetModels("qwen2.5:0.5b")
	if err := c.Check(testCtx(t)); err == nil {
		t.Fatal("check passed without the model")
	}
	if st := c.State(); !strings.HasPrefix(st, "degraded: ") || !strings.Contains(st, "llama3.2:1b") {
		t.Fatalf("state %q", st)
	}
	c.Check(testCtx(t))
	if n := strings.Count(logs.String(), "ollama pull llama3.2:1b"); n != 1 {
		t.Fatalf("%d log lines about pulling, want 1 (state changes only):\n%s", n, logs)
	}

	// A chat meeting the missing model degrades at once too.
	s.SetModels(fake.DefaultModel)
	c.Check(testCtx(t))
	s.SetModels()
	if _, err := c.Chat(testCtx(t), prompt); err == nil || !strings.HasPrefix(c.State(), "degraded: model") {
		t.Fatalf("chat without the model: %v, state %q", err, c.State())
	}
	s.SetModels("LLAMA3.2:1B")
	if err := c.Check(testCtx(t)); err != nil || c.State() != "ok" {
		t.Fatalf("model back: %v %q", err, c.State())
	}
}

func TestUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	logs := &logBuffer{}
	c, err := ollama.New(ollama.Config{Host: addr, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(testCtx(t)); err == nil {
		t.Fatal("check passed with nothing listening")
	}
	if st := c.State(); !strings.HasPrefix(st, "degraded: cannot reach Ollama at http://"+addr) {
		t.Fatalf("state %q", st)
	}
	if !strings.Contains(logs.String(), "ollama pull llama3.2:1b") || !strings.Contains(logs.String(), "ollama serve") {
		t.Fatalf("log does not tell what to run:\n%s", logs)
	}
	if _, err := c.Chat(testCtx(t), prompt); err == nil {
		t.Fatal("chat with nothing listening")
	}
}

func TestRunChecksAtStartAndAfterFailures(t *testing.T) {
	s := fake.New()
	s.SetModels()
	c, _ := newClient(t, s, ollama.Config{CheckInterval: time.Hour})
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitState(t, c, func(st string) bool { return strings.HasPrefix(st, "degraded: model") })

	// The operator pulls the model; the next chat fails for another
	// reason (a timeout) and asks for a check, which finds the model.
	s.SetModels(fake.DefaultModel)
	s.Set(fake.Behaviour{Fault: fake.Fail, Status: 500})
	if _, err := c.Chat(testCtx(t), prompt); err == nil {
		t.Fatal("chat passed")
	}
	waitState(t, c, func(st string) bool { return st == "ok" })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitState polls State: the client has no change notification, and a
// check is a network round trip; bounded by the test's deadline.
func waitState(t *testing.T, c *ollama.Client, ok func(string) bool) {
	t.Helper()
	ctx := testCtx(t)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !ok(c.State()) {
		select {
		case <-ctx.Done():
			t.Fatalf("state stayed %q", c.State())
		case <-tick.C:
		}
	}
}

func TestParseHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "http://127.0.0.1:11434",
		"127.0.0.1":              "http://127.0.0.1:11434",
		"0.0.0.0:8080":           "http://0.0.0.0:8080",
		"ollama.internal":        "http://ollama.internal:11434",
		"http://ollama.internal": "http://ollama.internal:80",
		"https://example.com":    "https://example.com:443",
		"http://10.0.0.5:11434/": "http://10.0.0.5:11434",
		"[::1]:11434":            "http://[::1]:11434",
		"http://host:1234/proxy": "http://host:1234/proxy",
	} {
		u, err := ollama.ParseHost(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseHost(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"ftp://host", "host:99999", "host:abc", "http://a b"} {
		if _, err := ollama.ParseHost(bad); err == nil {
			t.Errorf("ParseHost(%q) passed", bad)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	err := ollama.Config{Host: "ftp://x", NumPredict: -1, Timeout: -time.Second, Model: "bad model"}.Validate()
	if err == nil {
		t.Fatal("bad config passed")
	}
	for _, part := range []string{"scheme", "NumPredict", "Timeout", "white space"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("%q not reported in %v", part, err)
		}
	}
	if err := (ollama.Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
}
