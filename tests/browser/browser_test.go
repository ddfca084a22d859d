package browser

import (
	"fmt"
	"github.com/chromedp/chromedp"
	"testing"
)

// Selectors and expressions the scenario shares.
const (
	connOnline = `document.querySelector('#conn-state')?.dataset.state === 'online'`
)

// unnamedControls lists the visible controls that have no accessible name
// (no label, aria-label, aria-labelledby, title or text).
const unnamedControls = `[...document.querySelectorAll('button, input:not([type=hidden]), select, textarea, [role=button], [tabindex]')]
	.filter(el => el.getClientRects().length > 0)
	.filter(el => {
		const byId = id => document.getElementById(id)?.textContent.trim();
		const labelled = el.getAttribute('aria-labelledby')?.split(/\s+/).map(byId).join(' ').trim();
		const label = el.id && document.querySelector('label[for="' + el.id + '"]')?.textContent.trim();
		return !(el.getAttribute('aria-label') || labelled || label || el.title || (el.tagName !== 'INPUT' && el.tagName !== 'TEXTAREA' && el.textContent.trim()));
	})
	.map(el => el.outerHTML.slice(0, 120))`

// contact selects a user's row in the contact list.
func contact(group, handle string) string {
	return fmt.Sprintf(`[data-group=%q] button[data-handle=%q]`, group, handle)
}

// conv selects the open conversation window whose title is name.
func convExpr(name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('.conv')].find(w => w.querySelector('.conv-name')?.textContent === %s)`, q(name))
}

// signIn opens the client and signs in with a demo account, the proof of
// work solved by the page itself.
func signIn(p *page, url, handle string) {
	p.t.Helper()
	p.navigate(url)
	p.waitFor("the demo accounts", fmt.Sprintf(`document.querySelector('.demo-accounts button[data-handle=%q]')`, handle))
	p.waitFor("the proof of work", `document.querySelector('.verify')?.dataset.state === 'ready'`)
	p.click(fmt.Sprintf(`.demo-accounts button[data-handle=%q]`, handle))
	p.waitFor("the connection", connOnline)
}

// logSeqs returns the seqs of the server messages shown in the window
// titled name, in display order.
func logSeqs(p *page, name string) []int {
	p.t.Helper()
	return eval[[]int](p, fmt.Sprintf(`[...(%s).querySelectorAll('.log .msg[data-seq]')].map(e => Number(e.dataset.seq))`, convExpr(name)))
}

// checkContiguous fails unless seqs are strictly increasing by one.
func checkContiguous(t *testing.T, who string, seqs []int) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("%s: seqs shown are not contiguous and unique: %v", who, seqs)
		}
	}
}

// countText counts the lines of the window titled name whose text is text.
func countText(p *page, name, text string) int {
	p.t.Helper()
	return eval[int](p, fmt.Sprintf(`[...(%s).querySelectorAll('.log .msg[data-seq] .text')].filter(e => e.textContent === %s).length`, convExpr(name), q(text)))
}

// send types a message into the window titled name and presses Enter.
func send(p *page, name, text string) {
	p.t.Helper()
	sel := fmt.Sprintf(`.conv[data-room=%q] textarea`, roomOf(p, name))
	p.typeInto(sel, text)
	p.typeInto(sel, "\r")
}

// roomOf is the room id of the window titled name.
func roomOf(p *page, name string) string {
	p.t.Helper()
	p.waitFor("the window "+name, convExpr(name))
	return eval[string](p, fmt.Sprintf(`(%s).dataset.room`, convExpr(name)))
}

// step runs one part of a scenario; the parts share their pages, so the
// first failure ends the scenario.
func step(t *testing.T, name string, fn func()) {
	t.Helper()
	t.Logf("== %s", name)
	fn()
}

// TestTwoPeopleChat is the client's end-to-end scenario: two people in two
// browser contexts against one real server.
func TestTwoPeopleChat(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t)
	defer b.checkIssues()
	alice := b.newPage("user_1")
	bob := b.newPage("user_2")

	// Sign-in: the page solves the proof of work and offers the demo accounts.
	alice.navigate(srv.url)
	alice.waitFor("the proof of work", `document.querySelector('.verify')?.dataset.state === 'ready'`)
	alice.screenshot("01-sign-in")
	signIn(alice, srv.url, "user_1")
	signIn(bob, srv.url, "user_2")

	step(t, "presence", func() {
		alice.waitFor("User 2 online", `document.querySelector('`+contact("online", "user_2")+`')`)
		alice.waitFor("the bots", `document.querySelectorAll('[data-group=bots] button[data-handle]').length === 7`)
		// Bob goes busy; Alice sees it; then he is back.
		bob.selectOption("#my-status", "busy")
		alice.waitFor("User 2 busy", `document.querySelector('`+contact("online", "user_2")+`.status-busy')`)
		bob.selectOption("#my-status", "online")
		alice.waitFor("User 2 online again", `document.querySelector('`+contact("online", "user_2")+`.status-online')`)
		// A personal message is saved and seen by the other side.
		bob.eval0(`document.querySelector('#my-pm').value = ''`)
		bob.typeInto("#my-pm", "Testing Switchboard\r")
		alice.waitFor("Bob's personal message", `document.querySelector('`+contact("online", "user_2")+` .pm')?.textContent === 'Testing Switchboard'`)
	})

	step(t, "chat both ways with typing and receipts", func() {
		alice.click(contact("online", "user_2"))
		alice.waitFor("the conversation window", convExpr("User 2"))
		send(alice, "User 2", "hello bob :)")
		// The message opens a window on Bob's side.
		bob.waitFor("Alice's message", convExpr("User 1")+`?.querySelector('.msg.chat .text')?.textContent === 'hello bob :)'`)
		bob.waitFor("the emoticon", convExpr("User 1")+`.querySelector('.msg.chat .text .emo[aria-label=":)"]')`)
		bob.waitFor("the says line", convExpr("User 1")+`.querySelector('.msg.chat .says').textContent.startsWith('User 1 says:')`)
		// Bob types: Alice sees it.
		bob.typeInto(fmt.Sprintf(`.conv[data-room=%q] textarea`, roomOf(bob, "User 1")), "hi al")
		alice.waitFor("the typing line", convExpr("User 2")+`.querySelector('.typing').textContent === 'User 2 is typing…'`)
		bob.typeInto(fmt.Sprintf(`.conv[data-room=%q] textarea`, roomOf(bob, "User 1")), "ice\r")
		alice.waitFor("Bob's reply", convExpr("User 2")+`.querySelector('.msg.chat.theirs .text')?.textContent === 'hi alice'`)
		alice.waitFor("the typing line to clear", convExpr("User 2")+`.querySelector('.typing').textContent === ''`)
		// Bob has read Alice's message: she sees "Seen".
		alice.waitFor("the read receipt", convExpr("User 2")+`.querySelector('.msg.mine .seen')?.textContent === 'Seen'`)
	})

	step(t, "nudge shakes the other window", func() {
		bob.eval0(`window.__shakes = 0; new MutationObserver(ms => { for (const m of ms) if (m.target.classList?.contains('shake')) window.__shakes++; })
			.observe(document.body, {subtree: true, attributes: true, attributeFilter: ['class']});`)
		alice.click(fmt.Sprintf(`.conv[data-room=%q] .nudge-button`, roomOf(alice, "User 2")))
		bob.waitFor("the shake", `window.__shakes > 0`)
		bob.waitFor("the nudge line", convExpr("User 1")+`.querySelector('.msg.nudge')?.textContent.includes('User 1 has just sent a nudge.')`)
		alice.waitFor("the own nudge line", convExpr("User 2")+`.querySelector('.msg.nudge.mine')?.textContent.includes('You have just sent a nudge.')`)
	})

	step(t, "wink plays on the other side", func() {
		room := roomOf(alice, "User 2")
		alice.click(fmt.Sprintf(`.conv[data-room=%q] .tools button[title="Send a wink"]`, room))
		alice.click(fmt.Sprintf(`.conv[data-room=%q] .picker button[data-wink="dancing_pig"]`, room))
		bob.waitFor("the wink animation", convExpr("User 1")+`.querySelector('.wink-stage .wink-show svg.wink-anim')`)
		bob.waitFor("the wink line", convExpr("User 1")+`.querySelector('.msg.wink')?.textContent.includes('Dancing pig')`)
		bob.waitFor("the wink in full view", `document.querySelector('.wink-show')?.getAnimations().some(a => a.currentTime > 700)`)
		bob.screenshot("03-conversation-wink")
	})

	step(t, "script in a message stays text", func() {
		evil := `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`
		send(alice, "User 2", evil)
		bob.waitFor("the hostile message", convExpr("User 1")+`.querySelector('.log').textContent.includes('<script>window.__xss=2</script>')`)
		if n := eval[int](bob, `document.querySelectorAll('.log img, .log script').length`); n != 0 {
			t.Fatalf("the message became %d elements", n)
		}
		if v := eval[bool](bob, `window.__xss !== undefined`); v {
			t.Fatal("script from a message ran")
		}
	})

	step(t, "rejected nudges are marked with the reason", func() {
		room := roomOf(alice, "User 2")
		for range 4 {
			alice.click(fmt.Sprintf(`.conv[data-room=%q] .nudge-button`, room))
		}
		alice.waitFor("a rate-limited nudge", convExpr("User 2")+`.querySelector('.msg.pending.failed .failed-text')?.textContent.includes('rate limited')`)
		alice.screenshot("04-rejected")
		for eval[int](alice, `document.querySelectorAll('.msg.pending.failed').length`) > 0 {
			alice.click(`.msg.pending.failed .delivery button.link:last-child`)
		}
	})

	step(t, "private room with an invitation", func() {
		alice.click(`[data-group=rooms] .group-title button.text-button`)
		alice.typeInto(`#new-room-name`, "Secret club")
		alice.click(`#vis-private`)
		alice.click(`dialog button[type=submit]`)
		alice.waitFor("the room window", convExpr("Secret club"))
		room := roomOf(alice, "Secret club")
		alice.click(fmt.Sprintf(`.conv[data-room=%q] .tobar button.text-button`, room))
		alice.selectOption("#invite-user", "user_2")
		alice.click(`dialog button[type=submit]`)
		bob.waitFor("the invitation", fmt.Sprintf(`document.querySelector('[data-group=rooms] button[data-room=%q].invited')`, room))
		bob.click(fmt.Sprintf(`[data-group=rooms] button[data-room=%q]`, room))
		bob.waitFor("the room window", convExpr("Secret club"))
		alice.waitFor("the join notice", `[...(`+convExpr("Secret club")+`).querySelectorAll('.msg.notice')].some(e => e.textContent.includes('User 2 has joined the conversation.'))`)
		send(bob, "Secret club", "thanks for the invite")
		alice.waitFor("Bob's message in the room", convExpr("Secret club")+`.querySelector('.msg.chat.theirs .text')?.textContent === 'thanks for the invite'`)
	})

	step(t, "session survives a reload", func() {
		alice.do("reloading", chromedp.Reload())
		alice.waitFor("the connection", connOnline)
		alice.waitFor("the restored window", convExpr("User 2")+`?.querySelector('.msg.chat.theirs .text')?.textContent === 'hi alice'`)
		if n := eval[int](alice, `document.querySelectorAll('.signin').length`); n != 0 {
			t.Fatal("the reload showed the sign-in page")
		}
	})

	step(t, "reconnect after a server restart without gaps or duplicates", func() {
		before := logSeqs(bob, "User 1")
		srv.app.Close()
		alice.waitFor("the lost connection", `document.querySelector('#conn-state')?.dataset.state === 'reconnecting'`)
		bob.waitFor("the lost connection", `document.querySelector('#conn-state')?.dataset.state === 'reconnecting'`)
		// Sent while offline: queued, shown as waiting, sent once later.
		for i := 1; i <= 3; i++ {
			send(alice, "User 2", fmt.Sprintf("offline %d", i))
		}
		alice.waitFor("the queued messages", convExpr("User 2")+`.querySelectorAll('.msg.pending').length === 3`)
		alice.screenshot("05-offline")
		srv.app = nil
		srv.start()
		alice.waitFor("the reconnection", connOnline)
		bob.waitFor("the reconnection", connOnline)
		for i := 1; i <= 3; i++ {
			text := fmt.Sprintf("offline %d", i)
			bob.waitFor(text, fmt.Sprintf(`[...(%s).querySelectorAll('.log .msg[data-seq] .text')].some(e => e.textContent === %s)`, convExpr("User 1"), q(text)))
			alice.waitFor(text+" delivered", fmt.Sprintf(`[...(%s).querySelectorAll('.log .msg[data-seq] .text')].some(e => e.textContent === %s)`, convExpr("User 2"), q(text)))
		}
		alice.waitFor("no pending message", convExpr("User 2")+`.querySelectorAll('.msg.pending').length === 0`)
		send(bob, "User 1", "back online")
		alice.waitFor("the message after the restart", convExpr("User 2")+`.querySelector('.log').textContent.includes('back online')`)
		for _, p := range []*page{alice, bob} {
			other := map[*page]string{alice: "User 2", bob: "User 1"}[p]
			seqs := logSeqs(p, other)
			checkContiguous(t, p.name, seqs)
			for i := 1; i <= 3; i++ {
				if n := countText(p, other, fmt.Sprintf("offline %d", i)); n != 1 {
					t.Errorf("%s: %q shown %d times", p.name, fmt.Sprintf("offline %d", i), n)
				}
			}
		}
		after := logSeqs(bob, "User 1")
		if len(after) < len(before)+4 || after[0] != before[0] {
			t.Errorf("bob's log before the restart %v, after %v", before, after)
		}
	})

	step(t, "every control has a name", func() {
		// Open both pickers so their buttons are checked too.
		room := roomOf(alice, "User 2")
		alice.click(fmt.Sprintf(`.conv[data-room=%q] .tools button[title="Emoticons"]`, room))
		for _, p := range []*page{alice, bob} {
			unnamed := eval[[]string](p, unnamedControls)
			if len(unnamed) > 0 {
				t.Errorf("%s: controls without an accessible name: %q", p.name, unnamed)
			}
		}
		alice.do("closing the picker", chromedp.KeyEvent("\x1b"))
	})

	step(t, "keyboard only", func() {
		// A contact opens with Enter and the cursor lands in the composer;
		// Enter sends.
		alice.eval0(`document.querySelector('[data-group=bots] button[data-handle="bot_hal"]').focus()`)
		alice.do("pressing Enter", chromedp.KeyEvent("\r"))
		alice.waitFor("HAL's window with the cursor in it", convExpr("HAL 9000")+` && document.activeElement === `+convExpr("HAL 9000")+`.querySelector('textarea')`)
		alice.do("typing", chromedp.KeyEvent("open the pod bay doors\r"))
		alice.waitFor("the message", convExpr("HAL 9000")+`.querySelector('.msg.mine[data-seq] .text')?.textContent === 'open the pod bay doors'`)
	})

	step(t, "screenshots", func() {
		alice.screenshot("02-contacts-and-conversation")
		bob.viewport(390, 844, true)
		bob.waitFor("the phone layout", `getComputedStyle(document.querySelector('.side') || document.body).display === 'none' || !document.querySelector('.side')`)
		bob.screenshot("06-phone-conversation")
		bob.click(`.taskbar .contacts-task`)
		bob.screenshot("07-phone-contacts")
	})

	step(t, "signing out elsewhere returns to sign-in with a message", func() {
		token := eval[string](bob, `JSON.parse(localStorage.getItem('sb.session')).token`)
		bob.eval0(fmt.Sprintf(`fetch('/api/auth/logout', {method: 'POST', headers: {Authorization: 'Bearer ' + %s, 'Content-Type': 'application/json'}, body: '{}'})`, q(token)))
		bob.waitFor("the sign-in page", `document.querySelector('.signin .signin-notice')?.textContent.includes('signed out')`)
	})
}
