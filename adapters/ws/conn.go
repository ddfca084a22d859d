package ws

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/domain/room"
)

// conn is one socket. Its reader runs on a goroutine of its own; a writer
// goroutine runs only while frames are queued, so an idle socket costs one
// goroutine. Its timeouts run on the gateway's timers.
//
// Lock order: Gateway.mu before conn.mu is never needed; conn.mu is held
// only around its own fields and the queue, never while calling out
// except Views.Since during gap filling (in-memory reads).
type conn struct {
	g      *Gateway
	ws     *websocket.Conn
	remote string

	// Between frames the reader of a quiet socket waits for the next one
	// at the top of its stack (awaitFrame), not deep in Read, so that an
	// idle socket's stack shrinks to the minimum.
	rd     *bufio.Reader      // the socket's read buffer, as coder/websocket reads it
	raw    syscall.RawConn    // nil: the reader waits in Read
	ready  func(uintptr) bool // awaitFrame's test (c.readable)
	probe  [1]byte            // scratch for ready
	recent [3]int64           // reader: when the last three frames came (timers' clock; 0: none)

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
	handshake bool // a close handshake may be reading rd: leave it alone

	// Deadlines on the gateway's timers (Gateway.timers' clock; 0: none).
	idleAt   atomic.Int64 // hello timeout, then idle timeout
	writeAt  atomic.Int64 // the write in progress: slow consumer after it
	expAt    atomic.Int64 // the session's expiry: check it then
	timer    timerEntry
	authed   atomic.Bool // hello accepted
	handling atomic.Bool // the reader is handling a frame: the client is not silent

	// flood guard (reader goroutine only)
	tokens       float64
	lastRefill   time.Time
	penaltyUntil time.Time   // frames before this ignored a rate_limited
	violations   []time.Time // when they came, over the last minute
}

func newConn(g *Gateway, wc *websocket.Conn, remote string, nc net.Conn, rd *bufio.Reader) *conn {
	c := &conn{g: g, ws: wc, remote: remote, rd: rd, tokens: float64(g.cfg.FrameBurst), lastRefill: g.cfg.Now()}
	if sc, ok := nc.(syscall.Conn); ok && canAwait && rd != nil {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw, c.ready = raw, c.readable
		}
	}
	return c
}

// awaitFrame waits until the socket has something to read: the reader
// calls it between frames, where its stack is shallow. An idle socket's
// reader then sleeps in a small stack (the runtime halves a stack at a
// collection while less than a quarter of it is in use: an 8 KiB one
// becomes 4 KiB), where blocking in coder/websocket's Read would keep
// about 2 KiB of frames in use, and so 8 KiB. Frames the read buffer
// already holds, a close handshake in progress (which reads the socket
// itself) and a wake-up with nothing to read all end the wait: Read then
// waits or fails as it would have.
func (c *conn) awaitFrame() {
	if c.raw == nil {
		return
	}
	c.mu.Lock()
	wait := !c.handshake && c.rd.Buffered() == 0
	c.mu.Unlock()
	if wait {
		_ = c.raw.Read(c.ready) // an error is Read's to report
	}
}

// readable is awaitFrame's test, run with the socket's descriptor: false
// waits for it to become readable.
func (c *conn) readable(fd uintptr) bool { return readable(fd, c.probe[:]) }

// closeWS closes the socket with a close handshake from a goroutine other
// than the reader: the handshake reads the peer's answer through the
// read buffer, which the reader must no longer look at.
func (c *conn) closeWS(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	c.handshake = true
	c.mu.Unlock()
	c.ws.Close(code, reason)
}

// arm sets a deadline dur from now.
func (c *conn) arm(d *atomic.Int64, dur time.Duration) {
	t := c.g.timers
	at := t.after(dur)
	d.Store(at)
	t.schedule(c, at)
}

func (c *conn) timerEntry() *timerEntry { return &c.timer }

// expire acts on the deadlines that have come (on the gateway's timer
// goroutine) and returns the next one.
func (c *conn) expire(now int64) int64 {
	if takeDue(&c.idleAt, now) {
		// Until a valid hello: 4001; after it, silence: 4003. The time
		// the server takes to handle a frame (a slow disk under its
		// command) is not the client's silence: wait for it.
		switch {
		case c.handling.Load():
			c.idleAt.CompareAndSwap(0, c.g.timers.after(c.g.cfg.IdleTimeout))
		case c.authed.Load():
			c.cut(closeHeartbeat, reasonHeartbeatTimeout)
		default:
			c.closeWith(closeBadHello, "no hello")
		}
	}
	if takeDue(&c.writeAt, now) {
		c.writeStuck()
	}
	if takeDue(&c.expAt, now) {
		c.checkExpiry()
	}
	return earliest(&c.idleAt, &c.writeAt, &c.expAt)
}

// writeStuck runs when a write has waited WriteTimeout for the client to
// read: the client is cut off with 4008 (it resumes by seq).
func (c *conn) writeStuck() {
	c.g.Stats.SlowConsumers.Add(1)
	c.mu.Lock()
	c.queue, c.queued = nil, 0
	c.cutting = true
	c.mu.Unlock()
	go c.closeWS(closeSlowConsumer, reasonSlowConsumer)
}

// serve runs the socket until it closes.
func (c *conn) serve(ctx context.Context) {
	g := c.g
	c.arm(&c.idleAt, g.cfg.HelloTimeout)
	defer func() {
		g.timers.remove(c)
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		if c.user != "" && g.unregister(c) {
			bg, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := g.cmds.Disconnect(bg, c.user); err != nil {
				g.log.Warn("ws: presence disconnect", "user", c.user, "err", err)
			}
			cancel()
		}
		c.ws.CloseNow()
		if c.user != "" {
			// The access log has the upgrade; this is the socket's end.
			g.log.Info("ws: disconnected", "user", c.user, "remote", c.remote)
		}
	}()
	// The first frame is read straight away: before it, the read buffer
	// may not show yet what the client sent with its request.
	for ok := c.next(ctx); ok; ok = c.next(ctx) {
		if !c.busy() {
			c.awaitFrame()
		}
	}
}

// busyWindow: a socket that sent three frames within it is busy. Its
// reader waits for the next one in Read, as a busy socket's stack would
// only shrink at a collection to grow again at its next frame (a copy of
// the stack each time, tens of microseconds); a quiet one's reader waits
// in awaitFrame.
const busyWindow = 10 * time.Second

// busy reports whether the socket's last three frames came within
// busyWindow (reader goroutine).
func (c *conn) busy() bool {
	return c.recent[0] != 0 && c.g.timers.now()-c.recent[0] < int64(busyWindow)
}

// next reads and handles one frame; false ends the socket. It is apart
// from serve so that serve's frame stays small while awaitFrame waits.
func (c *conn) next(ctx context.Context) bool {
	g := c.g
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		if s := websocket.CloseStatus(err); s == -1 && !errors.Is(err, context.Canceled) {
			g.log.Debug("ws: read", "user", c.user, "err", err)
		}
		return false
	}
	c.recent[0], c.recent[1], c.recent[2] = c.recent[1], c.recent[2], g.timers.now()
	c.handling.Store(true)
	defer c.handling.Store(false)
	g.Stats.FramesIn.Add(1)
	if typ != websocket.MessageText {
		c.closeNow(closeBinary, "binary frames are not accepted")
		return false
	}
	f, err := decodeFrame(b)
	if errors.Is(err, errInvalidUTF8) {
		c.closeNow(closeInvalidUTF8, "invalid UTF-8")
		return false
	}
	switch c.allow(f.ID) {
	case frameDrop:
		return true
	case frameClose:
		return false
	}
	switch {
	case c.user == "":
		if err != nil || f.Type != typeHello {
			c.closeNow(closeBadHello, "the first frame must be hello")
			return false
		}
		if !c.hello(ctx, f) {
			return false
		}
	case err != nil:
		c.fail(idOfErr(err), err)
	default:
		c.handle(ctx, f)
	}
	// The client's silence counts from the end of its frame's handling.
	// (A frame dropped by the flood guard does not count.)
	c.arm(&c.idleAt, g.cfg.IdleTimeout)
	return true
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

// fillTimeout bounds a gap fill made while fanning out.
const fillTimeout = 2 * time.Second

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
		// On the views' goroutine (Fan): bounded, in case the fill has to
		// read old messages from a store that does not answer.
		ctx, cancel := context.WithTimeout(context.Background(), fillTimeout)
		defer cancel()
		if err := c.fillLocked(ctx, roomID, seq); err != nil {
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
			if cap(c.queue) > 8 {
				c.queue = nil // a burst's backlog: not kept while idle
			}
			cut := c.cutting && !c.closed
			c.mu.Unlock()
			if cut {
				c.closeWS(c.cutCode, c.cutReason)
			}
			return
		}
		b := c.queue[0]
		n := copy(c.queue, c.queue[1:]) // shifted, so that the array is reused
		c.queue[n] = nil
		c.queue = c.queue[:n]
		c.queued -= len(b)
		c.mu.Unlock()
		// A write that does not finish in WriteTimeout means the client
		// stopped reading: the watchdog starts the 4008 close, whose frame
		// goes out as soon as the client reads again (or the close gives
		// up after its own timeout).
		c.arm(&c.writeAt, c.g.cfg.WriteTimeout)
		err := c.ws.Write(context.Background(), websocket.MessageText, b)
		c.writeAt.Store(0)
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
	go c.closeWS(code, reason)
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
	c.arm(&c.expAt, max(0, at.Sub(c.g.cfg.Now())))
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
