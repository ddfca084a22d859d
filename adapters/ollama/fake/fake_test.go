package fake_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"switchboard/adapters/ollama/fake"
)

// The fake is checked through the official client, which is what it
// stands in for.
func serve(t *testing.T, s *fake.Server) (*api.Client, string) {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	u, _ := url.Parse(ts.URL)
	return api.NewClient(u, ts.Client()), ts.URL
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func chatReq(stream bool, opts map[string]any) *api.ChatRequest {
	return &api.ChatRequest{Model: fake.DefaultModel, Stream: &stream, Options: opts,
		Messages: []api.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hello there"}}}
}

func TestStreamingChat(t *testing.T) {
	s := fake.New()
	s.Set(fake.Behaviour{Reply: func(fake.Request) string { return "one two three" }})
	c, _ := serve(t, s)
	var chunks []api.ChatResponse
	if err := c.Chat(ctx(t), chatReq(true, nil), func(r api.ChatResponse) error { chunks = append(chunks, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 4 {
		t.Fatalf("%d chunks, want 3 tokens and a final one", len(chunks))
	}
	var text strings.Builder
	for _, ch := range chunks[:3] {
		if ch.Done || ch.Message.Role != "assistant" || ch.Model != fake.DefaultModel || ch.CreatedAt.IsZero() || ch.EvalCount != 0 {
			t.Fatalf("intermediate chunk %+v", ch)
		}
		text.WriteString(ch.Message.Content)
	}
	last := chunks[3]
	if !last.Done || last.DoneReason != "stop" || last.EvalCount != 3 || last.PromptEvalCount != 2+4+2+4 || last.TotalDuration <= 0 {
		t.Fatalf("final chunk %+v", last)
	}
	if text.String() != "one two three" {
		t.Fatalf("text %q", text.String())
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Messages[1].Content != "hello there" || reqs[0].Header.Get("Accept") != "application/x-ndjson" {
		t.Fatalf("recorded %+v", reqs)
	}
}

func TestNumPredictCapsTheReply(t *testing.T) {
	s := fake.New()
	s.Set(fake.Behaviour{Reply: func(fake.Request) string { return "a b c d e f" }})
	c, _ := serve(t, s)
	var last api.ChatResponse
	var text strings.Builder
	err := c.Chat(ctx(t), chatReq(true, map[string]any{"num_predict": 2}), func(r api.ChatResponse) error {
		text.WriteString(r.Message.Content)
		last = r
		return nil
	})
	if err != nil || last.DoneReason != "length" || last.EvalCount != 2 || text.String() != "a b" {
		t.Fatalf("err %v, last %+v, text %q", err, last, text.String())
	}
}

func TestNonStreamingChat(t *testing.T) {
	s := fake.New()
	c, base := serve(t, s)
	var got []api.ChatResponse
	if err := c.Chat(ctx(t), chatReq(false, nil), func(r api.ChatResponse) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Done || got[0].Message.Content != fake.DefaultReply(fake.Request{}) {
		t.Fatalf("got %+v", got)
	}
	// The content type of a non-streamed answer.
	body, _ := json.Marshal(chatReq(false, nil))
	resp, err := http.Post(base+"/api/chat", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
}

func TestLoadAndUnload(t *testing.T) {
	s := fake.New()
	c, _ := serve(t, s)
	for _, tc := range []struct {
		keep *api.Duration
		want string
	}{{nil, "load"}, {&api.Duration{}, "unload"}} {
		var got api.ChatResponse
		err := c.Chat(ctx(t), &api.ChatRequest{Model: fake.DefaultModel, KeepAlive: tc.keep}, func(r api.ChatResponse) error { got = r; return nil })
		if err != nil || !got.Done || got.DoneReason != tc.want {
			t.Fatalf("keep %v: %v %+v", tc.keep, err, got)
		}
	}
}

func TestUnknownModel(t *testing.T) {
	s := fake.New()
	c, _ := serve(t, s)
	req := chatReq(true, nil)
	req.Model = "llama9:70b"
	err := c.Chat(ctx(t), req, func(api.ChatResponse) error { return nil })
	var se api.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || se.ErrorMessage != "model 'llama9:70b' not found" {
		t.Fatalf("err %#v", err)
	}
}

func TestTagsVersionHeartbeat(t *testing.T) {
	s := fake.New("llama3.2:1b", "qwen2.5")
	c, base := serve(t, s)
	list, err := c.List(ctx(t))
	if err != nil || len(list.Models) != 2 || list.Models[0].Name != "llama3.2:1b" || list.Models[1].Details.Family != "llama" {
		t.Fatalf("list %+v %v", list, err)
	}
	if v, err := c.Version(ctx(t)); err != nil || v != fake.Version {
		t.Fatalf("version %q %v", v, err)
	}
	if err := c.Heartbeat(ctx(t)); err != nil {
		t.Fatal(err)
	}
	s.SetModels()
	if list, err := c.List(ctx(t)); err != nil || len(list.Models) != 0 {
		t.Fatalf("after rm: %+v %v", list, err)
	}
	resp, err := http.Get(base + "/api/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown route: %d", resp.StatusCode)
	}
	// A "latest" model answers to its bare name.
	s.SetModels("qwen2.5:latest")
	req := chatReq(true, nil)
	req.Model = "qwen2.5"
	if err := c.Chat(ctx(t), req, func(api.ChatResponse) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name  string
		b     fake.Behaviour
		check func(t *testing.T, err error, chunks []api.ChatResponse)
	}{
		{"fail", fake.Behaviour{Fault: fake.Fail, Status: 503, Message: "busy"}, func(t *testing.T, err error, _ []api.ChatResponse) {
			var se api.StatusError
			if !errors.As(err, &se) || se.StatusCode != 503 || se.ErrorMessage != "busy" {
				t.Fatalf("err %#v", err)
			}
		}},
		{"garbage", fake.Behaviour{Fault: fake.Garbage, FaultAfter: 1}, func(t *testing.T, err error, chunks []api.ChatResponse) {
			if err == nil || len(chunks) != 1 {
				t.Fatalf("err %v after %d chunks", err, len(chunks))
			}
		}},
		{"cut", fake.Behaviour{Fault: fake.Cut, FaultAfter: 2}, func(t *testing.T, err error, chunks []api.ChatResponse) {
			// The client itself does not notice: no error, no done chunk.
			if err != nil || len(chunks) != 2 || chunks[1].Done {
				t.Fatalf("err %v, chunks %+v", err, chunks)
			}
		}},
		{"stream error", fake.Behaviour{Fault: fake.StreamError, FaultAfter: 1, Message: "out of memory"}, func(t *testing.T, err error, chunks []api.ChatResponse) {
			if err == nil || err.Error() != "out of memory" || len(chunks) != 1 {
				t.Fatalf("err %v after %d chunks", err, len(chunks))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fake.New()
			s.Set(tc.b)
			c, _ := serve(t, s)
			var chunks []api.ChatResponse
			err := c.Chat(ctx(t), chatReq(true, nil), func(r api.ChatResponse) error { chunks = append(chunks, r); return nil })
			tc.check(t, err, chunks)
		})
	}
}

func TestHangAndStallUntilTheClientGivesUp(t *testing.T) {
	for _, f := range []fake.Fault{fake.Hang, fake.Stall} {
		s := fake.New()
		s.Set(fake.Behaviour{Fault: f, FaultAfter: 1})
		c, _ := serve(t, s)
		cctx, cancel := context.WithCancel(ctx(t))
		done := make(chan error, 1)
		go func() { done <- c.Chat(cctx, chatReq(true, nil), func(api.ChatResponse) error { return nil }) }()
		if err := s.WaitActive(ctx(t), 1); err != nil {
			t.Fatal(err)
		}
		cancel()
		// The api client may end a cancelled stream with the context's
		// error or, when the cancel lands between lines, with none; either
		// way no done chunk arrived, which is what callers check.
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("fault %d: %v", f, err)
		}
		if err := s.WaitActive(ctx(t), 0); err != nil {
			t.Fatalf("fault %d: the handler did not end: %v", f, err)
		}
	}
}

func TestReleaseEndsHeldRequests(t *testing.T) {
	s := fake.New()
	s.Set(fake.Behaviour{Fault: fake.Stall, FaultAfter: 0})
	_, base := serve(t, s)
	done := make(chan int, 1)
	go func() {
		body, _ := json.Marshal(chatReq(true, nil))
		resp, err := http.Post(base+"/api/chat", "application/json", strings.NewReader(string(body)))
		if err != nil {
			done <- -1
			return
		}
		defer resp.Body.Close()
		n := 0
		for sc := bufio.NewScanner(resp.Body); sc.Scan(); n++ {
		}
		done <- n
	}()
	if err := s.WaitActive(ctx(t), 1); err != nil {
		t.Fatal(err)
	}
	s.Release()
	if n := <-done; n != 0 {
		t.Fatalf("%d lines from a stalled stream", n)
	}
}

func TestTokensRoundTrip(t *testing.T) {
	for _, s := range []string{"", "one", " lead", "trail ", "a  b\n\nc ", "  "} {
		if got := strings.Join(fake.Tokens(s), ""); got != s {
			t.Errorf("Tokens(%q) joins to %q", s, got)
		}
	}
	if n := len(fake.Tokens("hello big world")); n != 3 {
		t.Errorf("%d tokens", n)
	}
}
