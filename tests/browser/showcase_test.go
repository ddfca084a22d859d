package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/commands"
)

// TestShowcase stages the screen the README shows (contact list, a direct
// conversation with emoticons, a wink playing and the other side typing,
// and a busy room) and checks it on the way. With
// -browser.update-screenshot it also writes docs/screenshot.png.
func TestShowcase(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := srv.app.Handlers()
	for i, line := range []struct{ who, text string }{
		{"user_3", "anyone up for Halo 2 tonight?"},
		{"user_4", "always (6)"},
		{"user_7", "have you tried turning it off and on again? :P"},
		{"user_3", "lol"},
	} {
		if _, err := h.JoinRoom(ctx, commands.JoinRoom{Room: "general", User: line.who, ClientID: fmt.Sprintf("show-join-%d", i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.PostChat(ctx, commands.PostChat{Room: "general", User: line.who, ClientID: fmt.Sprintf("show-%d", i), Text: line.text}); err != nil {
			t.Fatal(err)
		}
	}

	b := newBrowser(t)
	defer b.checkIssues()
	alice := b.newPage("user_1")
	bob := b.newPage("user_2")
	signIn(alice, srv.url, "user_1")
	signIn(bob, srv.url, "user_2")
	bob.selectOption("#my-status", "away")
	alice.waitFor("User 2 away", `document.querySelector('`+contact("online", "user_2")+`.status-away')`)

	alice.click(`[data-group=rooms] button[data-room="general"]`)
	alice.waitFor("the room's history", convExpr("General Chat")+`?.querySelectorAll('.log .msg[data-seq]').length === 4`)
	alice.click(contact("online", "user_2"))
	send(alice, "User 2", "hey Bob :) are you coming to the LAN party?")
	bob.waitFor("Alice's message", convExpr("User 1"))
	send(bob, "User 1", "(H) wouldn't miss it! bringing my CRT")
	alice.waitFor("Bob's reply", convExpr("User 2")+`.querySelector('.msg.theirs .text .emo')`)
	send(alice, "User 2", "(L) see you at 8")
	bob.waitFor("the heart", convExpr("User 1")+`.querySelectorAll('.msg[data-seq] .text .emo').length === 3`)
	room := roomOf(bob, "User 1")
	bob.click(fmt.Sprintf(`.conv[data-room=%q] .tools button[title="Send a wink"]`, room))
	bob.click(fmt.Sprintf(`.conv[data-room=%q] .picker button[data-wink="rose"]`, room))
	bob.typeInto(fmt.Sprintf(`.conv[data-room=%q] textarea`, room), "one more thing")
	alice.waitFor("the typing line", convExpr("User 2")+`.querySelector('.typing').textContent === 'User 2 is typing…'`)
	alice.waitFor("the wink in full view", `document.querySelector('.wink-show')?.getAnimations().some(a => a.currentTime > 900)`)
	alice.eval0(`document.querySelector('.groups').scrollTop = 0`)
	shot := alice.screenshot("00-showcase")
	if *updateScreenshot && shot != nil {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshot.png"), shot, 0o644); err != nil {
			t.Error(err)
		}
	}
}
