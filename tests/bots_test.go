package tests

import (
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/adapters/ollama/fake"
	"switchboard/cmd/switchboard/app"
)

// withOllama serves an Ollama stand-in (the real /api/chat and /api/tags
// wire format) and points the server's bots at it.
func withOllama(t *testing.T, f *fake.Server) func(*app.Config) {
	srv := httptest.NewServer(f)
	t.Cleanup(func() { f.Close(); srv.Close() })
	return func(c *app.Config) { c.OllamaHost = srv.URL }
}

// TestBotReplies: a mention of a bot makes the room see the bot typing,
// then its reply (kind bot); the prompt holds this room's text only; the
// kill switch silences the bots; a failing model gives a system notice.
func TestBotReplies(t *testing.T) {
	llm := fake.New()
	llm.Set(fake.Behaviour{Reply: func(r fake.Request) string { return "Clippy: \"It looks like you're writing a test!\"" }})
	s := startServer(t, withOllama(t, llm))
	alice, _ := s.dial("alice", s.login("user_1"), nil)
	alice.mustAck(frame{"type": "join", "room": "music"})
	alice.mustAck(frame{"type": "chat", "room": "music", "text": "secret music talk"})
	alice.mustAck(frame{"type": "join", "room": "general"})
	alice.mustAck(frame{"type": "chat", "room": "general", "text": "hey @clippy, help me"})
	if ty := alice.expect("typing"); ty["user"] != "bot_clippy" || ty["typing"] != true || ty["room"] != "general" {
		t.Fatalf("typing %v", ty)
	}
	var reply frame
	for reply == nil {
		if m := alice.expectMessage("general"); m["kind"] == "bot" {
			reply = m
		}
	}
	if reply["sender"] != "bot_clippy" || reply["text"] != "It looks like you're writing a test!" {
		t.Fatalf("bot reply %v (its own label and quotes should be cleaned)", reply)
	}
	reqs := llm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls", len(reqs))
	}
	prompt := ""
	for _, m := range reqs[0].Messages {
		prompt += m.Content + "\n"
	}
	if !strings.Contains(prompt, "hey @clippy, help me") || strings.Contains(prompt, "secret music talk") {
		t.Fatalf("prompt must hold the trigger and nothing of another room:\n%s", prompt)
	}

	// The kill switch: bots stay silent, no model call.
	if code, env := s.do("POST", "/api/admin/bots", "an-admin-token-for-tests", map[string]any{"enabled": false}); code != 200 {
		t.Fatalf("kill switch: %d %+v", code, env.Error)
	}
	alice.mustAck(frame{"type": "chat", "room": "general", "text": "@clippy are you there?"})
	alice.mustAck(frame{"type": "chat", "room": "general", "text": "marker"})
	for {
		m := alice.expectMessage("general")
		if m["kind"] == "bot" || m["kind"] == "system" {
			t.Fatalf("a disabled bot spoke: %v", m)
		}
		if m["text"] == "marker" {
			break
		}
	}
	if n := len(llm.Requests()); n != 1 {
		t.Fatalf("%d model calls with the kill switch off", n)
	}

	// Back on, with a failing model: a system notice, nothing charged.
	s.do("POST", "/api/admin/bots", "an-admin-token-for-tests", map[string]any{"enabled": true})
	llm.Set(fake.Behaviour{Fault: fake.Fail, Status: 500, Message: "model crashed"})
	alice.mustAck(frame{"type": "chat", "room": "general", "text": "@clippy again"})
	for {
		m := alice.expectMessage("general")
		if m["kind"] == "bot" {
			t.Fatalf("reply from a failing model: %v", m)
		}
		if m["kind"] == "system" {
			if !strings.Contains(strings.ToLower(m["text"].(string)), "unavailable") {
				t.Fatalf("system notice %v", m)
			}
			break
		}
	}
}
