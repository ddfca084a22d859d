package browser

import (
	"context"
	"fmt"
	"testing"
	"time"

	"switchboard/cmd/switchboard/app"
	"switchboard/commands"
	"switchboard/domain"
)

// TestRegisterAndHistoryPages signs up through the form (two proofs of
// work: one to register, one to sign in), opens a room with more history
// than the server sends on joining, and scrolls back to its first message.
func TestRegisterAndHistoryPages(t *testing.T) {
	const total = 160
	srv := startServer(t, func(c *app.Config) {
		p := domain.DefaultPolicy()
		p.ChatLimit = 1000 // the seeding below posts faster than people do
		c.Policy = p
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := srv.app.Handlers()
	if _, err := h.JoinRoom(ctx, commands.JoinRoom{Room: "general", User: "user_3", ClientID: "seed-join"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= total; i++ {
		if _, err := h.PostChat(ctx, commands.PostChat{Room: "general", User: "user_3", ClientID: fmt.Sprintf("seed-%d", i), Text: fmt.Sprintf("message %d", i)}); err != nil {
			t.Fatal(err)
		}
	}

	b := newBrowser(t)
	defer b.checkIssues()
	carol := b.newPage("carol")
	carol.navigate(srv.url)
	carol.click(`#tab-register`)
	carol.viewport(390, 844, true)
	carol.screenshot("10-phone-sign-up")
	carol.viewport(1280, 800, false)
	carol.typeInto(`#reg-handle`, "carol")
	carol.typeInto(`#reg-name`, "Carol <b>C</b>")
	carol.typeInto(`#reg-password`, "correct horse battery")
	carol.typeInto(`#reg-confirm`, "correct horse battery")
	carol.click(`#register-form button[type=submit]`)
	carol.waitFor("the connection", connOnline)
	carol.waitFor("her name", `document.querySelector('.me-name')?.textContent === 'Carol <b>C</b>'`)

	carol.click(`[data-group=rooms] button[data-room="general"]`)
	carol.waitFor("the latest page", convExpr("General Chat")+`?.querySelectorAll('.log .msg[data-seq]').length === 100`)
	carol.waitFor("the newest message", convExpr("General Chat")+`.querySelector('.log .msg[data-seq]:last-of-type .text')?.textContent === 'message 160'`)
	for range 10 {
		n := eval[int](carol, convExpr("General Chat")+`.querySelectorAll('.log .msg[data-seq]').length`)
		if n >= total {
			break
		}
		carol.eval0(convExpr("General Chat") + `.querySelector('.log').scrollTop = 0`)
		carol.waitFor("an older page", fmt.Sprintf(`(%s).querySelectorAll('.log .msg[data-seq]').length > %d`, convExpr("General Chat"), n))
	}
	seqs := logSeqs(carol, "General Chat")
	checkContiguous(t, "carol", seqs)
	if len(seqs) == 0 || seqs[0] > 2 {
		t.Fatalf("scrolling back did not reach the first message: %v…", seqs[:min(5, len(seqs))])
	}
	carol.waitFor("the end of the history", convExpr("General Chat")+`.querySelector('.older').hidden`)
	carol.screenshot("08-history")
}
