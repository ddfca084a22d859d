package ollama_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"switchboard/adapters/ollama"
	"switchboard/commands"
)

// TestRealOllama checks the contract against a real server. CI has no
// model, so it runs only when OLLAMA_HOST is set and the server has the
// model (OLLAMA_TEST_MODEL, default llama3.2:1b); otherwise it skips, and
// the stand-in in the fake package covers the contract.
//
//	OLLAMA_HOST=127.0.0.1:11434 go test ./adapters/ollama -run Real -v
func TestRealOllama(t *testing.T) {
	host := os.Getenv("OLLAMA_HOST")
	if host == "" {
		t.Skip("OLLAMA_HOST is not set: skipping the test against a real Ollama")
	}
	model := os.Getenv("OLLAMA_TEST_MODEL")
	c, err := ollama.New(ollama.Config{Host: host, Model: model, NumPredict: 40,
		FirstTokenTimeout: 60 * time.Second, Timeout: 120 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.Check(ctx); err != nil {
		if strings.Contains(c.State(), "is not on the Ollama server") {
			t.Skipf("the server lacks the model: %v (run: ollama pull %s)", err, c.Model())
		}
		t.Fatalf("check: %v", err)
	}
	started := time.Now()
	out, err := c.Chat(ctx, []commands.LLMMessage{
		{Role: commands.RoleSystem, Content: "You are Clippy, the Office assistant, on MSN Messenger in 2005. Answer in one short sentence."},
		{Role: commands.RoleUser, Content: "user_1: @clippy hi, what are you up to?"},
	})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	t.Logf("%s answered in %s: %d prompt tokens, %d generated, truncated %v: %q",
		c.Model(), time.Since(started).Round(time.Millisecond), out.PromptTokens, out.GeneratedTokens, out.Truncated, out.Text)
	if strings.TrimSpace(out.Text) == "" || out.PromptTokens <= 0 || out.GeneratedTokens <= 0 || out.GeneratedTokens > 40 {
		t.Fatalf("reply %+v", out)
	}
	if c.State() != "ok" {
		t.Fatalf("state %q", c.State())
	}
}
