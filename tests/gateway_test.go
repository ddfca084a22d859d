package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/cmd/switchboard/app"
)

// TestChatBothWays: two demo users join general and chat; every member's
// sockets get each message (the sender's too), with contiguous seqs.
func TestChatBothWays(t *testing.T) {
	s := startServer(t)
	alice, _ := s.dial("alice", s.login("user_1"), nil)
	bob, _ := s.dial("bob", s.login("user_2"), nil)
	h := alice.mustAck(frame{"type": "join", "room": "general"})
	if h["room"] != "general" {
		t.Fatalf("join ack %v", h)
	}
	alice.expect("history")
	bob.mustAck(frame{"type": "join", "room": "general"})
	bob.expect("history")

	ack := alice.mustAck(frame{"type": "chat", "room": "general", "text": "hello bob"})
	if seqOf(ack) != 1 || ack["at"] == nil {
		t.Fatalf("ack %v", ack)
	}
	m := bob.expectMessage("general")
	if m["text"] != "hello bob" || m["sender"] != "user_1" || m["senderName"] != "User 1" || seqOf(m) != 1 || m["kind"] != "chat" {
		t.Fatalf("bob got %v", m)
	}
	if m := alice.expectMessage("general"); seqOf(m) != 1 {
		t.Fatalf("alice's echo %v", m)
	}
	bob.mustAck(frame{"type": "chat", "room": "general", "text": "hi alice"})
	if m := alice.expectMessage("general"); m["text"] != "hi alice" || seqOf(m) != 2 {
		t.Fatalf("alice got %v", m)
	}
}

// TestHistoryWindow: after 112 posts a joiner gets exactly the newest 100,
// in order, marked incomplete; older pages come from the HTTP API.
func TestHistoryWindow(t *testing.T) {
	s := startServer(t)
	alice, _ := s.dial("alice", s.login("user_1"), nil)
	alice.mustAck(frame{"type": "join", "room": "music"})
	for i := 1; i <= 112; i++ {
		alice.mustAck(frame{"type": "chat", "room": "music", "text": fmt.Sprintf("m%d", i)})
	}
	bobToken := s.login("user_2")
	bob, _ := s.dial("bob", bobToken, nil)
	bob.mustAck(frame{"type": "join", "room": "music"})
	h := bob.expect("history")
	msgs := h["messages"].([]any)
	if len(msgs) != 100 || h["complete"] != false {
		t.Fatalf("history of %d, complete %v", len(msgs), h["complete"])
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("m%d", i+13); m.(frame)["text"] != want || seqOf(m.(frame)) != uint64(i+13) {
			t.Fatalf("history[%d] = %v, want %s", i, m, want)
		}
	}
	code, env := s.do("GET", "/api/rooms/music/messages?before=13&limit=100", bobToken, nil)
	var page struct {
		Messages []struct{ Seq uint64 }
		Complete bool
	}
	json.Unmarshal(env.Data, &page)
	if code != 200 || len(page.Messages) != 12 || page.Messages[0].Seq != 12 || page.Messages[11].Seq != 1 || !page.Complete {
		t.Fatalf("older page: %d %+v %+v", code, page, env.Error)
	}
}

// TestNudgeWinkTyping: nudges and winks reach the room; typing reaches
// the others, never the typist's own socket, and the server clears it.
func TestNudgeWinkTyping(t *testing.T) {
	s := startServer(t, func(c *app.Config) { c.Gateway.TypingTTL = 300 * time.Millisecond })
	alice, _ := s.dial("alice", s.login("user_1"), nil)
	bob, _ := s.dial("bob", s.login("user_2"), nil)
	for _, c := range []*client{alice, bob} {
		c.mustAck(frame{"type": "join", "room": "general"})
	}
	alice.mustAck(frame{"type": "nudge", "room": "general"})
	if m := bob.expectMessage("general"); m["kind"] != "nudge" || m["sender"] != "user_1" {
		t.Fatalf("nudge %v", m)
	}
	alice.mustAck(frame{"type": "wink", "room": "general", "wink": "dancing_pig"})
	if m := bob.expectMessage("general"); m["kind"] != "wink" || m["wink"] != "dancing_pig" {
		t.Fatalf("wink %v", m)
	}
	if r := alice.command(frame{"type": "wink", "room": "general", "wink": "no_such_wink"}); r["code"] != "invalid_payload" {
		t.Fatalf("unknown wink: %v", r)
	}

	alice.send(frame{"type": "typing", "room": "general", "typing": true})
	on := bob.expect("typing")
	if on["user"] != "user_1" || on["room"] != "general" || on["typing"] != true {
		t.Fatalf("typing %v", on)
	}
	off := bob.expect("typing") // cleared by the server after the TTL
	if off["typing"] != false || off["user"] != "user_1" {
		t.Fatalf("typing cleared %v", off)
	}
	// alice never hears her own typing: the next thing she gets is the
	// answer to a heartbeat.
	alice.send(frame{"type": "heartbeat"})
	for {
		f, err := alice.read(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f["type"] == "typing" {
			t.Fatalf("typing echoed to the typist: %v", f)
		}
		if f["type"] == "heartbeat" {
			break
		}
	}
}

// TestDirectRoom: both sides get the same room id; a third user can never
// join it; identity comes from the session, not the frame.
func TestDirectRoom(t *testing.T) {
	s := startServer(t)
	alice, _ := s.dial("alice", s.login("user_1"), nil)
	bob, _ := s.dial("bob", s.login("user_2"), nil)
	carol, _ := s.dial("carol", s.login("user_3"), nil)
	a := alice.mustAck(frame{"type": "dm", "user": "user_2"})
	b := bob.mustAck(frame{"type": "dm", "user": "user_1"})
	if a["room"] == nil || a["room"] != b["room"] {
		t.Fatalf("direct room ids %v and %v", a["room"], b["room"])
	}
	room := a["room"].(string)
	if r := carol.command(frame{"type": "join", "room": room}); r["code"] != "forbidden" {
		t.Fatalf("third user joined a direct room: %v", r)
	}
	if r := carol.command(frame{"type": "chat", "room": room, "text": "let me in"}); r["code"] != "not_member" {
		t.Fatalf("third user posted: %v", r)
	}
	alice.mustAck(frame{"type": "chat", "room": room, "text": "psst"})
	if m := bob.expectMessage(room); m["sender"] != "user_1" {
		t.Fatalf("sender %v", m["sender"])
	}
}

// TestBadFrames: malformed input gets an error frame with the right code
// and id, and the socket stays open.
func TestBadFrames(t *testing.T) {
	s := startServer(t, func(c *app.Config) { c.Policy = app.Config{}.Policy })
	alice, _ := s.dial("alice", s.login("user_1"), nil)
	alice.mustAck(frame{"type": "join", "room": "general"})
	cases := []struct {
		raw, id, code string
	}{
		{`{"type":"chat","id":"a1","room":"general"}`, "a1", "invalid_payload"},
		{`{"type":"chat","id":"a2","room":"general","text":"x","extra":1}`, "a2", "invalid_payload"},
		{`{"type":"teleport","id":"a3"}`, "a3", "invalid_payload"},
		{`{"type":"chat","id":"a4","room":"general","text":7}`, "a4", "invalid_payload"},
		{`not json at all`, "", "invalid_payload"},
		{`{"type":"chat","id":"a5","room":"general","text":"` + strings.Repeat("é", 2049) + `"}`, "a5", "too_long"},
		{`{"type":"chat","id":"a6","room":"nowhere","text":"hi"}`, "a6", "not_found"},
		{`{"type":"chat","id":"a7","room":"music","text":"hi"}`, "a7", "not_member"},
		{`{"type":"create_room","id":"a8","name":"x","visibility":"secret"}`, "a8", "invalid_payload"},
		{`{"type":"presence","id":"a9","status":"asleep"}`, "a9", "invalid_payload"},
	}
	for _, c := range cases {
		alice.sendRaw(websocket.MessageText, []byte(c.raw))
		f := alice.expect("error")
		if f["code"] != c.code || (c.id != "" && f["id"] != c.id) {
			t.Errorf("%s: got %v, want code %s id %q", c.raw, f, c.code, c.id)
		}
	}
	// Still open and working.
	alice.mustAck(frame{"type": "chat", "room": "general", "text": "still here"})
	// Rate limit: the default policy allows 20 chats per 30 s.
	var limited frame
	for i := 0; i < 25 && limited == nil; i++ {
		if r := alice.command(frame{"type": "chat", "room": "general", "text": "spam"}); r["type"] == "error" {
			limited = r
		}
	}
	if limited == nil || limited["code"] != "rate_limited" || limited["retryAfterMs"].(float64) <= 0 {
		t.Fatalf("rate limit: %v", limited)
	}
}

// TestCloseCodes: every documented close code.
func TestCloseCodes(t *testing.T) {
	s := startServer(t, func(c *app.Config) {
		c.Gateway.HelloTimeout = time.Second
		c.Gateway.IdleTimeout = 2 * time.Second
	})
	token := s.login("user_1")
	t.Run("binary 1003", func(t *testing.T) {
		c, _ := s.dial("a", token, nil)
		c.sendRaw(websocket.MessageBinary, []byte{1, 2, 3})
		if code := c.closeCode(5 * time.Second); code != 1003 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("invalid UTF-8 1007", func(t *testing.T) {
		c, _ := s.dial("a", token, nil)
		c.sendRaw(websocket.MessageText, []byte("{\"type\":\"chat\",\"id\":\"1\",\"room\":\"general\",\"text\":\"\xff\xfe\"}"))
		if code := c.closeCode(5 * time.Second); code != 1007 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("too big 1009", func(t *testing.T) {
		c, _ := s.dial("a", token, nil)
		c.sendRaw(websocket.MessageText, []byte(`{"type":"chat","id":"1","room":"general","text":"`+strings.Repeat("x", 17<<10)+`"}`))
		if code := c.closeCode(5 * time.Second); code != 1009 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("no hello 4001", func(t *testing.T) {
		c := s.dialRaw("a", nil)
		if code := c.closeCode(5 * time.Second); code != 4001 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("bad token 4001", func(t *testing.T) {
		c := s.dialRaw("a", nil)
		c.send(frame{"type": "hello", "token": "not-a-token"})
		if code := c.closeCode(5 * time.Second); code != 4001 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("first frame not hello 4001", func(t *testing.T) {
		c := s.dialRaw("a", nil)
		c.send(frame{"type": "heartbeat"})
		if code := c.closeCode(5 * time.Second); code != 4001 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("idle 4003", func(t *testing.T) {
		c, _ := s.dial("a", token, nil)
		if g := c.expect("goodbye"); g["reason"] != "heartbeat_timeout" {
			t.Fatalf("goodbye %v", g)
		}
		if code := c.closeCode(5 * time.Second); code != 4003 {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("flood 1008", func(t *testing.T) {
		c, _ := s.dial("a", token, nil)
		for i := 0; i < 200; i++ {
			b, _ := json.Marshal(frame{"type": "typing", "room": "general", "typing": true})
			ctx, cancel := contextWithTimeout(time.Second)
			err := c.c.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				break
			}
		}
		if code := c.closeCode(5 * time.Second); code != 1008 {
			t.Fatalf("close %d", code)
		}
	})
}

// TestForeignOrigin: a browser page of another origin cannot open a
// socket: 403 before the upgrade.
func TestForeignOrigin(t *testing.T) {
	s := startServer(t)
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, s.wsURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, resp %v", err, resp)
	}
}

// TestLogoutClosesSockets: every socket of a session closes with 4002
// within a second of the logout.
func TestLogoutClosesSockets(t *testing.T) {
	s := startServer(t)
	token := s.login("user_1")
	tab1, _ := s.dial("tab1", token, nil)
	tab2, _ := s.dial("tab2", token, nil)
	t0 := time.Now()
	if code, env := s.do("POST", "/api/auth/logout", token, nil); code != 200 {
		t.Fatalf("logout %d %+v", code, env.Error)
	}
	for _, c := range []*client{tab1, tab2} {
		if g := c.expect("goodbye"); g["reason"] != "logged_out" {
			t.Fatalf("goodbye %v", g)
		}
		if code := c.closeCode(time.Second); code != 4002 {
			t.Fatalf("close %d", code)
		}
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("sockets closed %s after the logout", d)
	}
	if code, _ := s.do("GET", "/api/auth/me", token, nil); code != 401 {
		t.Fatalf("me after logout: %d", code)
	}
}

// TestResumeAcrossRestart: a client that saw up to seq 2 reconnects to a
// restarted server and gets exactly 3..5, then live messages; a resend of
// an acknowledged command gets the original ack and appends nothing.
func TestResumeAcrossRestart(t *testing.T) {
	s := startServer(t)
	aliceTok, bobTok := s.login("user_1"), s.login("user_2")
	alice, _ := s.dial("alice", aliceTok, nil)
	alice.mustAck(frame{"type": "join", "room": "general"})
	bob, _ := s.dial("bob", bobTok, nil)
	bob.mustAck(frame{"type": "join", "room": "general"})
	var acks []frame
	for i := 1; i <= 5; i++ {
		alice.send(frame{"type": "chat", "id": fmt.Sprintf("c%d", i), "room": "general", "text": fmt.Sprintf("m%d", i)})
	}
	for len(acks) < 5 {
		if f := alice.expect("ack"); f["seq"] != nil {
			acks = append(acks, f)
		}
	}
	s.restart()

	bob2, _ := s.dial("bob2", bobTok, map[string]uint64{"general": 2})
	for want := uint64(3); want <= 5; want++ {
		if m := bob2.expectMessage("general"); seqOf(m) != want || m["text"] != fmt.Sprintf("m%d", want) {
			t.Fatalf("resumed %v, want seq %d", m, want)
		}
	}
	alice2, _ := s.dial("alice2", aliceTok, map[string]uint64{"general": 5})
	// Resend c3 after the restart: the original ack, nothing appended.
	alice2.send(frame{"type": "chat", "id": "c3", "room": "general", "text": "m3"})
	dup := alice2.expect("ack")
	if dup["id"] != "c3" || dup["seq"] != acks[2]["seq"] || dup["at"] != acks[2]["at"] {
		t.Fatalf("resent c3: %v, original %v", dup, acks[2])
	}
	// The next new message is seq 6, and bob2 sees it next: nothing was
	// appended or delivered for the resend.
	if a := alice2.mustAck(frame{"type": "chat", "room": "general", "text": "m6"}); seqOf(a) != 6 {
		t.Fatalf("next seq %v", a)
	}
	if m := bob2.expectMessage("general"); seqOf(m) != 6 || m["text"] != "m6" {
		t.Fatalf("next live message %v", m)
	}
}
