package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/cmd/switchboard/app"
)

// expectPresence waits for a presence frame about user.
func (c *client) expectPresence(user string) frame {
	c.t.Helper()
	for {
		if f := c.expect("presence"); f["user"] == user {
			return f
		}
	}
}

// TestPresenceFanOut: status and profile changes reach everyone; an
// invisible user shows as offline to others but not to themself.
func TestPresenceFanOut(t *testing.T) {
	s := startServer(t)
	alice, w := s.dial("alice", s.login("user_1"), nil)
	if len(w["presence"].([]any)) < 27 {
		t.Fatalf("welcome lists %d users", len(w["presence"].([]any)))
	}
	bobTok := s.login("user_2")
	bob, _ := s.dial("bob", bobTok, nil)
	if p := alice.expectPresence("user_2"); p["status"] != "online" {
		t.Fatalf("bob connected: %v", p)
	}
	// bob's second tab only listens (frames that arrive before an ack are
	// skipped by the tab that sends the command).
	bobTab, _ := s.dial("bobTab", bobTok, nil)
	bob.mustAck(frame{"type": "presence", "status": "busy", "personalMessage": "in a meeting"})
	p := alice.expectPresence("user_2")
	for p["status"] != "busy" || p["personalMessage"] != "in a meeting" {
		p = alice.expectPresence("user_2")
	}
	bob.mustAck(frame{"type": "presence", "status": "invisible"})
	if p := alice.expectPresence("user_2"); p["status"] != "offline" {
		t.Fatalf("invisible user shown to others as %v", p["status"])
	}
	p = bobTab.expectPresence("user_2")
	for p["status"] == "busy" {
		p = bobTab.expectPresence("user_2")
	}
	if p["status"] != "invisible" {
		t.Fatalf("invisible user sees themself as %v", p["status"])
	}
	if r := bob.command(frame{"type": "presence", "displayName": ""}); r["code"] != "invalid_payload" {
		t.Fatalf("empty display name: %v", r)
	}
}

// TestReceiptsAndTabs: read receipts reach the room; a join on one tab is
// followed by the user's other tab.
func TestReceiptsAndTabs(t *testing.T) {
	s := startServer(t)
	aliceTok := s.login("user_1")
	tab1, _ := s.dial("tab1", aliceTok, nil)
	tab2, _ := s.dial("tab2", aliceTok, nil)
	bob, _ := s.dial("bob", s.login("user_2"), nil)
	bob.mustAck(frame{"type": "join", "room": "general"})
	tab1.mustAck(frame{"type": "join", "room": "general"})
	if m := tab2.expect("member"); m["room"] != "general" || m["user"] != "user_1" || m["change"] != "joined" {
		t.Fatalf("other tab heard %v", m)
	}
	ack := bob.mustAck(frame{"type": "chat", "room": "general", "text": "to both tabs"})
	for _, c := range []*client{tab1, tab2} {
		if m := c.expectMessage("general"); m["text"] != "to both tabs" {
			t.Fatalf("%s got %v", c.name, m)
		}
	}
	tab1.send(frame{"type": "read", "room": "general", "seq": seqOf(ack)})
	r := bob.expect("receipt")
	if r["user"] != "user_1" || r["room"] != "general" || seqOf(r) != seqOf(ack) {
		t.Fatalf("receipt %v", r)
	}
}

// TestSessionExpiresMidSocket: a socket whose session runs out is told
// goodbye and closed with 4002, without any request of its own.
func TestSessionExpiresMidSocket(t *testing.T) {
	s := startServer(t, func(c *app.Config) {
		c.Policy.SessionTTL = 1500 * time.Millisecond
		c.Policy.SessionRenewInterval = 500 * time.Millisecond
		c.Policy.SessionMaxLifetime = 0
	})
	c, w := s.dial("alice", s.login("user_1"), nil)
	exp := time.UnixMilli(int64(w["expiresAt"].(float64)))
	if g := c.expect("goodbye"); g["reason"] != "session_expired" {
		t.Fatalf("goodbye %v", g)
	}
	if code := c.closeCode(2 * time.Second); code != 4002 {
		t.Fatalf("close %d", code)
	}
	if late := time.Since(exp); late > time.Second {
		t.Fatalf("closed %s after the expiry", late)
	}
}

// TestSlowConsumer: with shrunken socket buffers, a client that stops
// reading is cut off with 4008 while a fast client in the same room gets
// every message.
func TestSlowConsumer(t *testing.T) {
	small := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 8<<10)
		})
		return serr
	}
	s := startServer(t, func(c *app.Config) {
		c.ListenControl = small
		c.Gateway.SendQueue = 64
		c.Gateway.WriteTimeout = time.Second
		c.Gateway.FrameRate, c.Gateway.FrameBurst = 10_000, 10_000
	})
	fast, _ := s.dial("fast", s.login("user_1"), nil)
	fast.mustAck(frame{"type": "join", "room": "general"})
	// The slow client: tiny receive buffer, and it never reads after its
	// join.
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		return serr
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, _, err := websocket.Dial(ctx, s.wsURL(), &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
		HTTPHeader: http.Header{"Origin": {s.url}},
	})
	if err != nil {
		t.Fatal(err)
	}
	slow := &client{t: t, c: sc, name: "slow"}
	t.Cleanup(func() { sc.CloseNow() })
	slow.send(frame{"type": "hello", "token": s.login("user_2")})
	slow.expect("welcome")
	slow.mustAck(frame{"type": "join", "room": "general"})

	// The slow client reads, but only a frame every 200 ms.
	slowDone := make(chan error, 1)
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _, err := sc.Read(ctx)
			cancel()
			if err != nil {
				slowDone <- err
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	poster, _ := s.dial("poster", s.login("user_3"), nil)
	poster.mustAck(frame{"type": "join", "room": "general"})
	text := fmt.Sprintf("%0512d", 0)
	const n = 300
	got := make(chan error, 1)
	go func() {
		// The fast client reads every message, in order.
		want := uint64(1)
		for want <= n {
			f, err := fast.read(20 * time.Second)
			if err != nil {
				got <- err
				return
			}
			if f["type"] == "message" {
				if s := seqOf(f["message"].(frame)); s != want {
					got <- fmt.Errorf("fast client got seq %d, want %d", s, want)
					return
				}
				want++
			}
		}
		got <- nil
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		poster.mustAck(frame{"type": "chat", "room": "general", "text": text})
	}
	t.Logf("posted %d in %s", n, time.Since(t0))
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	t.Logf("fast client done after %s", time.Since(t0))
	if code := websocket.CloseStatus(<-slowDone); code != 4008 {
		t.Fatalf("slow client closed with %d, want 4008", code)
	}
}

// TestPrivateRoomLifecycle: create a private room, invite, join, leave —
// with the member frames each side sees, and the limits on who may act.
func TestPrivateRoomLifecycle(t *testing.T) {
	s := startServer(t)
	alice, _ := s.dial("alice", s.login("user_1"), nil)
	bob, _ := s.dial("bob", s.login("user_2"), nil)
	carol, _ := s.dial("carol", s.login("user_3"), nil)

	created := alice.mustAck(frame{"type": "create_room", "name": "Secret Base", "visibility": "private"})
	room, _ := created["room"].(string)
	if room == "" {
		t.Fatalf("create ack without a room: %v", created)
	}
	if h := alice.expect("history"); h["room"] != room || len(h["messages"].([]any)) != 0 {
		t.Fatalf("history of a new room %v", h)
	}
	if r := bob.command(frame{"type": "join", "room": room}); r["code"] != "forbidden" {
		t.Fatalf("uninvited join: %v", r)
	}
	if r := carol.command(frame{"type": "invite", "room": room, "user": "user_2"}); r["code"] != "not_member" && r["code"] != "forbidden" {
		t.Fatalf("invite by a non-member: %v", r)
	}
	alice.mustAck(frame{"type": "invite", "room": room, "user": "user_2"})
	for {
		m := bob.expect("member")
		if m["room"] == room && m["user"] == "user_2" && m["change"] == "invited" {
			break
		}
	}
	bob.mustAck(frame{"type": "join", "room": room})
	for {
		m := alice.expect("member")
		if m["room"] == room && m["user"] == "user_2" && m["change"] == "joined" {
			break
		}
	}
	alice.mustAck(frame{"type": "chat", "room": room, "text": "welcome"})
	if m := bob.expectMessage(room); m["text"] != "welcome" {
		t.Fatalf("bob got %v", m)
	}
	bob.mustAck(frame{"type": "leave", "room": room})
	for {
		m := alice.expect("member")
		if m["room"] == room && m["user"] == "user_2" && m["change"] == "left" {
			break
		}
	}
	if r := bob.command(frame{"type": "chat", "room": room, "text": "still here?"}); r["code"] != "not_member" {
		t.Fatalf("post after leaving: %v", r)
	}
	// A resent create gets the same room, not a second one.
	alice.send(frame{"type": "create_room", "id": created["id"], "name": "Secret Base", "visibility": "private"})
	for {
		a := alice.expect("ack")
		if a["id"] == created["id"] {
			if a["room"] != room {
				t.Fatalf("resent create made %v, want %s", a["room"], room)
			}
			break
		}
	}
}

// TestMetrics: /metrics serves the gateway's counters and the latency
// histograms in Prometheus text format.
func TestMetrics(t *testing.T) {
	s := startServer(t)
	c, _ := s.dial("alice", s.login("user_1"), nil)
	c.mustAck(frame{"type": "join", "room": "general"})
	c.mustAck(frame{"type": "chat", "room": "general", "text": "count me"})
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		"switchboard_ws_connections 1",
		"# TYPE switchboard_append_seconds histogram",
		`switchboard_command_seconds_count{command="chat"} 1`,
		"switchboard_projection_lag ",
		"switchboard_ws_frames_in_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
