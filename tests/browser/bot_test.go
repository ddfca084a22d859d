package browser

import (
	"strings"
	"testing"
	"time"

	"switchboard/adapters/ollama/fake"
)

// TestBotReplies asks a bot in a direct conversation: the page shows the
// bot typing, then its reply, answered by the Ollama stand-in.
func TestBotReplies(t *testing.T) {
	const reply = "It looks like you're writing a browser test! Would you like help? :)"
	srv := startServer(t)
	srv.ollama.Set(fake.Behaviour{
		Reply:           func(fake.Request) string { return reply },
		FirstTokenDelay: 700 * time.Millisecond, // long enough to see the bot typing
		TokenDelay:      20 * time.Millisecond,
	})

	b := newBrowser(t)
	defer b.checkIssues()
	alice := b.newPage("user_1")
	signIn(alice, srv.url, "user_1")
	alice.waitFor("Clippy", `document.querySelector('[data-group=bots] button[data-handle="bot_clippy"]')`)
	alice.click(`[data-group=bots] button[data-handle="bot_clippy"]`)
	send(alice, "Clippy", "hi clippy, can you help me?")
	alice.waitFor("Clippy typing", convExpr("Clippy")+`.querySelector('.typing').textContent === 'Clippy is typing…'`)
	alice.waitFor("Clippy's reply", convExpr("Clippy")+`.querySelector('.msg.bot .text')?.textContent === `+q(reply))
	alice.waitFor("the says line", convExpr("Clippy")+`.querySelector('.msg.bot .says').textContent.startsWith('Clippy')`)
	alice.waitFor("the typing line to clear", convExpr("Clippy")+`.querySelector('.typing').textContent === ''`)
	alice.screenshot("09-bot-reply")

	// The stand-in saw the user's words in the prompt.
	reqs := srv.ollama.Requests()
	if len(reqs) == 0 {
		t.Fatal("the bot never asked the LLM")
	}
	var prompt strings.Builder
	for _, m := range reqs[len(reqs)-1].Messages {
		prompt.WriteString(m.Content)
	}
	if !strings.Contains(prompt.String(), "can you help me?") {
		t.Errorf("the prompt does not carry the message: %q", prompt.String())
	}
}
