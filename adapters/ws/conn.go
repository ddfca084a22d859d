package ws

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/domain/room"
)

// conn is one socket. Its reader runs in the handler goroutine; a writer
// goroutine runs only while frames are queued, so an idle socket costs one
// goroutine.
//
// Lock order: Gateway.mu before conn.mu is never needed; conn.mu is held
// only around its own fields and the queue, never while calling out
// except Views.Since during gap filling (in-memory reads).
type conn struct {
	g      *Gateway
	ws     *websocket.Conn
	remote string

	// set once by hello, read-only after
	user, session string

	mu        sync.Mutex
	queue     [][]byte
	queued    int // bytes in queue
	writing   bool
	closed    bool
	rooms     map[string]uint64 // followed rooms → last seq sent
	cutting   bool              // goodbye queued: close once it is written
	cutCode   websocket.StatusCode
	cutReason string
	expTimer  *time.Timer

	idle     *time.Timer // hello timeout, then idle timeout
	watchdog *time.Timer // a write that takes too long: slow consumer
	authed   atomic.Bool // hello accepted

	// flood guard (reader goroutine only)
	tokens       float64
	lastRefill   time.Time
	penaltyUntil time.Time   // frames before this ignored a rate_limited
	violations   []time.Time // when they came, over the last minute
}

func newConn(g *Gateway, wc *websocket.Conn, remote string) *conn {
	c := &conn{g: g, ws: wc, remote: remote, tokens: float64(g.cfg.FrameBurst), lastRefill: g.cfg.Now()}
	c.watchdog = time.AfterFunc(time.Hour, c.writeStuck)
	c.watchdog.Stop()
	return c
}

// writeStuck runs when a write has waited WriteTimeout for the client to
// read: the client is cut off with 4008 (it resumes by seq).
func (c *conn) writeStuck() {
	c.g.Stats.SlowConsumers.Add(1)
	c.mu.Lock()
	c.queue, c.queued = nil, 0
	c.cutting = true
	c.mu.Unlock()
	go c.ws.Close(closeSlowConsumer, reasonSlowConsumer)
}

// serve runs the socket until it closes.
func (c *conn) serve(ctx context.Context) {
	g := c.g
	// Until a valid hello: 4001 after HelloTimeout.
	c.idle = time.AfterFunc(g.cfg.HelloTimeout, func() {
		if c.authed.Load() {
			c.cut(closeHeartbeat, reasonHeartbeatTimeout)
		} else {
			c.closeWith(closeBadHello, "no hello")
		}
	})
	defer func() {
		c.idle.Stop()
		c.mu.Lock()
		c.closed = true
		if c.expTimer != nil {
			c.expTimer.Stop()
		}
		c.mu.Unlock()
		if c.user != "" && g.unregister(c) {
			bg, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := g.cmds.Disconnect(bg, c.user); err != nil {
				g.log.Warn("ws: presence disconnect", "user", c.user, "err", err)
			}
			cancel()
		}
		c.ws.CloseNow()
	}()
	for {
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			if s := websocket.CloseStatus(err); s == -1 && !errors.Is(err, context.Canceled) {
				g.log.Debug("ws: read", "user", c.user, "err", err)
			}
			return
		}
		g.Stats.FramesIn.Add(1)
		if typ != websocket.MessageText {
			c.closeNow(closeBinary, "binary frames are not accepted")
			return
		}
		f, err := decodeFrame(b)
		if errors.Is(err, errInvalidUTF8) {
			c.closeNow(closeInvalidUTF8, "invalid UTF-8")
			return
		}
		switch c.allow(f.ID) {
		case frameDrop:
			continue
		case frameClose:
			return
		}
		if c.user == "" {
			if err != nil || f.Type != typeHello {
				c.closeNow(closeBadHello, "the first frame must be hello")
				return
			}
			if !c.hello(ctx, f) {
				return
			}
			continue
		}
		c.idle.Reset(g.cfg.IdleTimeout)
		if err != nil {
			c.fail(idOfErr(err), err)
			continue
		}
		c.handle(ctx, f)
	}
}

func idOfErr(err error) string {
	var pe *payloadError
	if errors.As(err, &pe) {
		return pe.id
	}
	return ""
}

type verdict int

const (
	frameOK verdict = iota
	frameDrop
	frameClose
)

// allow runs the flood guard: a token bucket per socket. A frame over the
// limit is answered rate_limited and dropped; FloodClose frames within a
// minute that ignore that answer close the socket with 1008.
func (c *conn) allow(id string) verdict {
	cfg := &c.g.cfg
	now := cfg.Now()
	c.tokens += now.Sub(c.lastRefill).Seconds() * cfg.FrameRate
	c.lastRefill = now
	if burst := float64(cfg.FrameBurst); c.tokens > burst {
		c.tokens = burst
	}
	if c.tokens >= 1 {
		c.tokens--
		return frameOK
	}
	// Over the limit: the frame is dropped and the client told when to
	// resend. Only frames that ignore that advice count toward the close,
	// so a client that backs off as asked is never cut off.
	wait := time.Duration((1 - c.tokens) / cfg.FrameRate * float64(time.Second))
	if now.Before(c.penaltyUntil) {
		cut := 0
		for cut < len(c.violations) && now.Sub(c.violations[cut]) > time.Minute {
			cut++
		}
		c.violations = append(c.violations[cut:], now)
		if len(c.violations) >= cfg.FloodClose {
			c.closeNow(closeFlooding, "flooding")
			return frameClose
		}
	}
	// Advise whole milliseconds, rounded up; forgive a client that comes
	// back a little early (timer granularity, clock reads).
	retry := max(1, (wait + time.Millisecond - 1).Milliseconds())
	c.penaltyUntil = now.Add(wait - 20*time.Millisecond)
	c.sendJSON(errorFrame{Type: "error", ID: id, Code: codeRateLimited, Message: "too many frames: slow down and resend", RetryAfterMs: retry})
	c.g.Stats.Rejected.Add(1)
	return frameDrop
}

// hello authenticates the socket, sends welcome and resumes the rooms the
// client asks for. It reports whether the socket goes on.
func (c *conn) hello(ctx context.Context, f frame) bool {
	g := c.g
	sess, ok := g.views.SessionByTokenHash(commands.TokenHash(f.Token))
	now := g.cfg.Now()
	if !ok || sess.Ended || !now.Before(sess.ExpiresAt) {
		c.closeNow(closeBadHello, "invalid or expired session")
		return false
	}
	c.user, c.session = sess.User, sess.ID
	c.authed.Store(true)
	c.idle.Reset(g.cfg.IdleTimeout)
	c.armExpiry(sess.ExpiresAt)

	// welcome goes first, then what resumed rooms missed; the socket is
	// registered for live changes after that. A message posted in between
	// reaches it through the gap filling of deliver.
	me, _ := g.views.Me(c.user)
	rooms := g.views.RoomsOf(c.user)
	w := welcomeFrame{
		Type:      "welcome",
		User:      userInfo{Handle: c.user, DisplayName: me.DisplayName, PersonalMessage: me.PersonalMessage, Avatar: me.Avatar, Status: me.Status},
		ExpiresAt: ms(sess.ExpiresAt),
		Rooms:     rooms,
		Presence:  g.views.PresenceFor(c.user),
		Limits:    g.cfg.Limits,
	}
	if w.Rooms == nil {
		w.Rooms = []RoomInfo{}
	}
	c.mu.Lock()
	c.rooms = make(map[string]uint64, len(rooms))
	c.enqueueLocked(encode(w))
	for _, r := range rooms {
		c.rooms[r.ID] = r.LastSeq
	}
	for id, seq := range f.Resume {
		last, member := c.rooms[id]
		if !member || seq >= last {
			continue
		}
		c.rooms[id] = seq
		if err := c.fillLocked(ctx, id, last); err != nil {
			c.mu.Unlock()
			g.log.Warn("ws: resume", "user", c.user, "room", id, "err", err)
			c.closeNow(websocket.StatusInternalError, "resume failed")
			return false
		}
	}
	c.mu.Unlock()
	if g.register(c) {
		if _, err := g.cmds.Connect(ctx, c.user); err != nil {
			g.log.Warn("ws: presence connect", "user", c.user, "err", err)
		}
	}
	g.log.Info("ws: connected", "user", c.user, "remote", c.remote, "rooms", len(rooms), "resumed", len(f.Resume))
	return true
}

// fillLocked sends the messages of room after the seq already sent, up to
// at least upTo (c.mu held).
func (c *conn) fillLocked(ctx context.Context, roomID string, upTo uint64) error {
	after := c.rooms[roomID]
	msgs, err := c.g.views.Since(ctx, roomID, after)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Seq != after+1 {
			continue // never send a gap or a duplicate
		}
		c.enqueueLocked(encode(messageFrame{Type: "message", Room: roomID, Message: m}))
		after = m.Seq
	}
	c.rooms[roomID] = after
	if after < upTo {
		return errors.New("ws: views are behind the requested seq")
	}
	return nil
}

// deliver sends a room message frame unless this socket already has it;
// if messages are missing before it, they are sent first.
func (c *conn) deliver(roomID string, seq uint64, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.rooms[roomID]
	switch {
	case !ok || c.closed:
		return // not following this room
	case seq <= last:
		return // sent already (resume, history)
	case seq == last+1:
		c.rooms[roomID] = seq
		c.enqueueLocked(b)
	default:
		if err := c.fillLocked(context.Background(), roomID, seq); err != nil {
			c.g.log.Warn("ws: gap fill", "user", c.user, "room", roomID, "err", err)
		}
	}
}

// follow starts following a room from its current seq (a join made on
// another socket of the same user).
func (c *conn) follow(roomID string) {
	msgs, _ := c.g.views.Latest(roomID)
	var last uint64
	if len(msgs) > 0 {
		last = msgs[len(msgs)-1].Seq
	}
	c.mu.Lock()
	if _, ok := c.rooms[roomID]; !ok && c.rooms != nil {
		c.rooms[roomID] = last
	}
	c.mu.Unlock()
}

func (c *conn) unfollow(roomID string) {
	c.mu.Lock()
	delete(c.rooms, roomID)
	c.mu.Unlock()
}

// send queues a frame for the socket.
func (c *conn) send(b []byte) {
	c.mu.Lock()
	c.enqueueLocked(b)
	c.mu.Unlock()
}

func (c *conn) sendJSON(v any) { c.send(encode(v)) }

// enqueueLocked queues b (c.mu held). A full queue means the client cannot
// keep up: it is told goodbye and cut off with 4008, never left with a gap.
func (c *conn) enqueueLocked(b []byte) {
	if c.closed || c.cutting {
		return
	}
	if len(c.queue) >= c.g.cfg.SendQueue || c.queued+len(b) > c.g.cfg.SendQueueBytes {
		c.g.Stats.SlowConsumers.Add(1)
		c.cutLocked(closeSlowConsumer, reasonSlowConsumer)
		return
	}
	c.queue = append(c.queue, b)
	c.queued += len(b)
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// writeLoop writes queued frames until the queue is empty, then ends.
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing = false
			cut := c.cutting && !c.closed
			c.mu.Unlock()
			if cut {
				c.ws.Close(c.cutCode, c.cutReason)
			}
			return
		}
		b := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.queued -= len(b)
		c.mu.Unlock()
		// A write that does not finish in WriteTimeout means the client
		// stopped reading: the watchdog starts the 4008 close, whose frame
		// goes out as soon as the client reads again (or the close gives
		// up after its own timeout).
		c.watchdog.Reset(c.g.cfg.WriteTimeout)
		err := c.ws.Write(context.Background(), websocket.MessageText, b)
		c.watchdog.Stop()
		if err != nil {
			c.mu.Lock()
			c.writing = false
			c.closed = true
			c.mu.Unlock()
			c.ws.CloseNow()
			return
		}
		c.g.Stats.FramesOut.Add(1)
	}
}

// cut says goodbye and closes the socket with code, after what is already
// queued (so the client has everything up to the goodbye).
func (c *conn) cut(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	c.cutLocked(code, reason)
	c.mu.Unlock()
}

func (c *conn) cutLocked(code websocket.StatusCode, reason string) {
	if c.closed || c.cutting {
		return
	}
	if code == closeSlowConsumer && len(c.queue) >= c.g.cfg.SendQueue {
		// The backlog will never drain: drop it; the client resumes by seq.
		c.queue, c.queued = nil, 0
	}
	c.queue = append(c.queue, encode(goodbyeFrame{Type: "goodbye", Reason: reason}))
	c.cutting, c.cutCode, c.cutReason = true, code, reason
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// closeWith closes the socket with a close code from outside the reader
// (a timer), in the background: the close handshake may take seconds.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	go c.ws.Close(code, reason)
}

// closeNow closes the socket with a close code from the reader goroutine,
// which then returns: Close reads the peer's answer itself.
func (c *conn) closeNow(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.ws.Close(code, reason)
}

// armExpiry (re)schedules the session check at the session's expiry.
func (c *conn) armExpiry(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := max(0, at.Sub(c.g.cfg.Now()))
	if c.expTimer == nil {
		c.expTimer = time.AfterFunc(d, c.checkExpiry)
	} else {
		c.expTimer.Reset(d)
	}
}

// checkExpiry closes the socket with 4002 if its session is over; another
// tab may have renewed it, in which case it re-arms.
func (c *conn) checkExpiry() {
	sess, found := c.g.views.Session(c.session)
	now := c.g.cfg.Now()
	if found && !sess.Ended && now.Before(sess.ExpiresAt) {
		c.armExpiry(sess.ExpiresAt)
		return
	}
	c.cut(closeSessionEnded, reasonSessionExpired)
}

// fail answers a frame with an error frame.
func (c *conn) fail(id string, err error) {
	code, retry, ok := errorCode(err)
	if !ok {
		c.g.log.Error("ws: command failed", "user", c.user, "err", err)
	}
	c.g.Stats.Rejected.Add(1)
	c.sendJSON(errorFrame{Type: "error", ID: id, Code: code, Message: errorMessage(err, code, ok), RetryAfterMs: retry})
}

// handle executes one frame of an authenticated socket. Frames of one
// socket are handled in order (the reader waits for each command), so
// pipelined sends are appended in the order sent.
func (c *conn) handle(ctx context.Context, f frame) {
	g := c.g
	cmds := g.cmds
	ack := func(a commands.Ack, err error, withRoom bool) {
		if err != nil {
			c.fail(f.ID, err)
			return
		}
		fr := ackFrame{Type: "ack", ID: f.ID}
		if a.Seq > 0 {
			fr.Seq, fr.At = a.Seq, ms(a.At)
		}
		if withRoom {
			fr.Room = a.Room
		}
		c.sendJSON(fr)
	}
	switch f.Type {
	case typeHello:
		c.fail(f.ID, &payloadError{id: f.ID, msg: "already said hello"})
	case typeChat:
		a, err := cmds.PostChat(ctx, commands.PostChat{Room: f.Room, User: c.user, ClientID: f.ID, Text: *f.Text})
		ack(a, err, false)
	case typeNudge:
		a, err := cmds.Nudge(ctx, commands.Nudge{Room: f.Room, User: c.user, ClientID: f.ID})
		ack(a, err, false)
	case typeWink:
		a, err := cmds.Wink(ctx, commands.Wink{Room: f.Room, User: c.user, ClientID: f.ID, Wink: f.Wink})
		ack(a, err, false)
	case typeCreateRoom:
		vis := room.Visibility(f.Visibility)
		if vis != room.Public && vis != room.Private {
			c.fail(f.ID, &payloadError{id: f.ID, msg: `visibility must be "public" or "private"`})
			return
		}
		a, err := cmds.CreateRoom(ctx, commands.CreateRoom{User: c.user, ClientID: f.ID, Name: f.Name, Visibility: vis})
		if err == nil {
			c.joined(ctx, a)
		}
		ack(a, err, true)
	case typeDM:
		a, err := cmds.OpenDirect(ctx, commands.OpenDirect{User: c.user, ClientID: f.ID, With: f.User})
		if err == nil {
			c.joined(ctx, a)
		}
		ack(a, err, true)
	case typeInvite:
		a, err := cmds.Invite(ctx, commands.Invite{Room: f.Room, User: c.user, ClientID: f.ID, Invitee: f.User})
		ack(a, err, false)
	case typeJoin:
		a, err := cmds.JoinRoom(ctx, commands.JoinRoom{Room: f.Room, User: c.user, ClientID: f.ID})
		ack(a, err, true)
		if err == nil {
			c.joined(ctx, a)
		}
	case typeLeave:
		a, err := cmds.LeaveRoom(ctx, commands.LeaveRoom{Room: f.Room, User: c.user, ClientID: f.ID})
		if err == nil {
			c.unfollow(f.Room)
		}
		ack(a, err, false)
	case typeTyping:
		if !g.views.IsMember(f.Room, c.user) {
			c.fail("", domain.ErrNotMember)
			return
		}
		g.announceTyping(f.Room, c.user, *f.Typing)
	case typeRead:
		if _, err := cmds.MoveReadMarker(ctx, commands.MoveReadMarker{Room: f.Room, User: c.user, Seq: *f.Seq}); err != nil {
			c.fail("", err)
		}
	case typePresence:
		c.presence(ctx, f)
	case typeHeartbeat:
		exp, err := cmds.RenewSession(ctx, c.session)
		if err != nil {
			c.fail("", err)
			return
		}
		if _, err := cmds.Heartbeat(ctx, c.user); err != nil {
			g.log.Warn("ws: heartbeat", "user", c.user, "err", err)
		}
		c.armExpiry(exp)
		c.sendJSON(heartbeatFrame{Type: "heartbeat", At: ms(g.cfg.Now()), ExpiresAt: ms(exp)})
	}
}

// joined sends the history of a room just joined (or opened) and follows
// it from there.
func (c *conn) joined(ctx context.Context, a commands.Ack) {
	g := c.g
	if a.Position > 0 {
		if err := g.views.Sync(ctx, a.Position); err != nil {
			return
		}
	}
	msgs, complete := g.views.Latest(a.Room)
	if msgs == nil {
		msgs = []Message{}
	}
	var last uint64
	if len(msgs) > 0 {
		last = msgs[len(msgs)-1].Seq
	}
	c.mu.Lock()
	c.enqueueLocked(encode(historyFrame{Type: "history", Room: a.Room, Messages: msgs, Complete: complete}))
	if prev, ok := c.rooms[a.Room]; !ok || prev < last {
		c.rooms[a.Room] = last
	}
	c.mu.Unlock()
}

// presence changes status and profile; both are validated by the domain.
func (c *conn) presence(ctx context.Context, f frame) {
	cmds := c.g.cmds
	if f.Status != nil {
		st := presence.Status(*f.Status)
		if !st.Choosable() {
			c.fail(f.ID, &payloadError{id: f.ID, msg: `status must be online, busy, away or invisible`})
			return
		}
		if _, err := cmds.SetStatus(ctx, c.user, st); err != nil {
			c.fail(f.ID, err)
			return
		}
	}
	if f.DisplayName != nil || f.PersonalMessage != nil {
		if _, err := cmds.ChangeProfile(ctx, commands.ChangeProfile{User: c.user, ClientID: f.ID, DisplayName: f.DisplayName, PersonalMessage: f.PersonalMessage}); err != nil {
			c.fail(f.ID, err)
			return
		}
	}
	c.sendJSON(ackFrame{Type: "ack", ID: f.ID})
}
