package ws

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"switchboard/commands"
	"switchboard/domain/presence"
)

// Commands is what the gateway asks of the write side; *commands.Handlers
// implements it.
type Commands interface {
	PostChat(context.Context, commands.PostChat) (commands.Ack, error)
	Nudge(context.Context, commands.Nudge) (commands.Ack, error)
	Wink(context.Context, commands.Wink) (commands.Ack, error)
	CreateRoom(context.Context, commands.CreateRoom) (commands.Ack, error)
	OpenDirect(context.Context, commands.OpenDirect) (commands.Ack, error)
	Invite(context.Context, commands.Invite) (commands.Ack, error)
	JoinRoom(context.Context, commands.JoinRoom) (commands.Ack, error)
	LeaveRoom(context.Context, commands.LeaveRoom) (commands.Ack, error)
	MoveReadMarker(context.Context, commands.MoveReadMarker) (commands.Ack, error)
	ChangeProfile(context.Context, commands.ChangeProfile) (uint64, error)
	SetStatus(ctx context.Context, user string, status presence.Status) (uint64, error)
	Connect(ctx context.Context, user string) (uint64, error)
	Disconnect(ctx context.Context, user string) (uint64, error)
	Heartbeat(ctx context.Context, user string) (uint64, error)
	RenewSession(ctx context.Context, sessionID string) (time.Time, error)
}

// SessionInfo is a session as the read side knows it.
type SessionInfo struct {
	ID, User  string
	ExpiresAt time.Time
	Ended     bool
	// EndReason is "logout", "expired" or "revoked" when Ended.
	EndReason string
}

// Views is what the gateway reads: the projections, wired by cmd.
type Views interface {
	// SessionByTokenHash resolves the SHA-256 (hex) of a session token.
	SessionByTokenHash(hash string) (SessionInfo, bool)
	// Session returns a session by id.
	Session(id string) (SessionInfo, bool)
	// Me returns how user sees themself (status as chosen).
	Me(user string) (userInfo Presence, ok bool)
	// RoomsOf lists the rooms user is a member of.
	RoomsOf(user string) []RoomInfo
	// Members lists a room's members.
	Members(room string) []string
	// IsMember reports whether user is a member of room.
	IsMember(room, user string) bool
	// Latest returns a room's newest messages (at most 100, oldest first)
	// and whether they are all it has.
	Latest(room string) ([]Message, bool)
	// Since returns every message of room after seq, oldest first.
	Since(ctx context.Context, room string, seq uint64) ([]Message, error)
	// PresenceFor lists everyone's presence as viewer sees it (invisible
	// users as offline, except viewer themself).
	PresenceFor(viewer string) []Presence
	// Sync waits until the views have applied the log up to position.
	Sync(ctx context.Context, position uint64) error
}

// Change is one change of the views the gateway fans out (Fan), in log
// order.
type Change struct {
	// Exactly one of the following is set.
	Message  *RoomMessage
	Member   *MemberChange
	Receipt  *Receipt
	Presence *Presence // as the user themself sees it; others get Status made visible
	Ended    *SessionInfo
}

// RoomMessage is a message posted to a room.
type RoomMessage struct {
	Room    string
	Message Message
}

// MemberChange is a change of a room's membership.
type MemberChange struct {
	Room, User string
	Change     string // "joined", "left", "invited"
}

// Receipt is a moved read marker.
type Receipt struct {
	Room, User string
	Seq        uint64
}

// Config configures the gateway. Zero values take the defaults noted.
type Config struct {
	// OriginPatterns are the allowed Origin hosts besides the request's own
	// host (path.Match patterns, e.g. "chat.example.com"). Empty: same
	// origin only.
	OriginPatterns []string
	// HelloTimeout: a socket that sends no valid hello in time is closed
	// with 4001. Zero: 10 s.
	HelloTimeout time.Duration
	// IdleTimeout: a socket silent this long is closed with 4003. Zero:
	// 90 s.
	IdleTimeout time.Duration
	// TypingTTL: the server clears a typing indicator this long after the
	// last typing:true. Zero: 3 s.
	TypingTTL time.Duration
	// WriteTimeout bounds one write to a socket. Zero: 5 s.
	WriteTimeout time.Duration
	// SendQueue bounds the frames waiting for one socket; a socket whose
	// queue overflows is a slow consumer, closed with 4008. Zero: 256.
	SendQueue int
	// SendQueueBytes bounds the bytes waiting for one socket. Zero: 1 MiB.
	SendQueueBytes int
	// FrameRate and FrameBurst are the per-socket flood guard (token
	// bucket, frames per second). Zero: 20 and 40.
	FrameRate  float64
	FrameBurst int
	// FloodClose is how many frames over the limit within a minute close
	// the socket with 1008. Zero: 30.
	FloodClose int
	// Limits is what welcome tells clients (the same value /api/config
	// shows), encoded as JSON.
	Limits any
	// Signals carries typing indicators to every node of a cluster. Nil:
	// this node's sockets only.
	Signals Signals
	// Logger logs connections and failures. Nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// Signals publishes the ephemeral signals that must reach the sockets of
// every node: a typing indicator goes out through PublishTyping and
// comes back, on every node including this one, to Gateway.ReceiveTyping.
// Signals are fire and forget: one that is lost only leaves an indicator
// to its server-side clear.
type Signals interface {
	PublishTyping(room, user string, typing bool) error
}

func (c *Config) defaults() {
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 90 * time.Second
	}
	if c.TypingTTL <= 0 {
		c.TypingTTL = 3 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 1 << 20
	}
	if c.FrameRate <= 0 {
		c.FrameRate = 20
	}
	if c.FrameBurst <= 0 {
		c.FrameBurst = 40
	}
	if c.FloodClose <= 0 {
		c.FloodClose = 30
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Gateway serves the WebSocket protocol at the path it is mounted on.
type Gateway struct {
	cfg   Config
	cmds  Commands
	views Views
	log   *slog.Logger

	mu       sync.RWMutex
	byUser   map[string]map[*conn]struct{}
	bySess   map[string]map[*conn]struct{}
	typing   map[typingKey]*time.Timer
	closing  bool
	all      sync.WaitGroup
	shutdown chan struct{}

	timers *deadlines // every socket's timeouts

	// Fan's own: rooms' members as of the last membership change fanned
	// out, and the sockets a change goes to (reused).
	members map[string][]string
	targets []*conn

	// counters for /metrics
	Stats Stats
}

// Stats are the gateway's counters; read them with atomic loads.
type Stats struct {
	Connections   atomic.Int64 // open sockets
	Accepted      atomic.Int64 // sockets accepted since start
	FramesIn      atomic.Int64
	FramesOut     atomic.Int64
	SlowConsumers atomic.Int64
	Rejected      atomic.Int64 // frames answered with an error
}

type typingKey struct{ room, user string }

// New returns a gateway. Its sockets hear of the views' changes through
// Fan.
func New(cmds Commands, views Views, cfg Config) *Gateway {
	cfg.defaults()
	return &Gateway{
		cfg: cfg, cmds: cmds, views: views, log: cfg.Logger,
		byUser:   map[string]map[*conn]struct{}{},
		bySess:   map[string]map[*conn]struct{}{},
		typing:   map[typingKey]*time.Timer{},
		timers:   newDeadlines(),
		members:  map[string][]string{},
		shutdown: make(chan struct{}),
	}
}

// ServeHTTP upgrades the request to a WebSocket after checking its Origin
// (a foreign origin gets 403 before the upgrade) and serves it.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.RLock()
	closing := g.closing
	g.mu.RUnlock()
	if closing {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	sw := &smallBuffers{ResponseWriter: w}
	wc, err := websocket.Accept(sw, r, &websocket.AcceptOptions{
		OriginPatterns:  g.cfg.OriginPatterns,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		g.log.Info("ws: upgrade refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	wc.SetReadLimit(MaxFrameBytes)
	c := newConn(g, wc, r.RemoteAddr, sw.conn, sw.br)
	g.all.Add(1)
	g.Stats.Accepted.Add(1)
	g.Stats.Connections.Add(1)
	// The socket is served by a goroutine of its own and the handler
	// returns: net/http's connection, the request and the handlers' frames
	// become garbage instead of living as long as the socket. Still one
	// goroutine per socket. The request's context ends when the handler
	// returns, so the socket runs on a context of its own (which nothing
	// cancels, as nothing cancelled a hijacked request's: sockets end by
	// being closed).
	go g.serve(c)
}

// serve runs one upgraded socket until it closes. A panic is logged and
// ends only its socket, as net/http would have done for its handler.
func (g *Gateway) serve(c *conn) {
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("ws: panic", "user", c.user, "remote", c.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
		g.Stats.Connections.Add(-1)
		g.all.Done()
	}()
	c.serve(context.Background())
}

// Shutdown says goodbye (server_shutdown) to every socket, closes them and
// waits for their handlers, or until ctx ends.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	g.each(func(c *conn) { c.cut(closeServerShutdown, reasonServerShutdown) })
	done := make(chan struct{})
	go func() { g.all.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// each calls fn for every open socket (outside the registry lock).
func (g *Gateway) each(fn func(*conn)) {
	g.mu.RLock()
	var cs []*conn
	for _, set := range g.byUser {
		for c := range set {
			cs = append(cs, c)
		}
	}
	g.mu.RUnlock()
	for _, c := range cs {
		fn(c)
	}
}

// conns returns the sockets of a user.
func (g *Gateway) conns(user string) []*conn {
	g.mu.RLock()
	defer g.mu.RUnlock()
	set := g.byUser[user]
	out := make([]*conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

// register adds an authenticated socket; first reports whether it is its
// user's first on this node.
func (g *Gateway) register(c *conn) (first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.byUser[c.user]
	if set == nil {
		set = map[*conn]struct{}{}
		g.byUser[c.user] = set
	}
	first = len(set) == 0
	set[c] = struct{}{}
	ss := g.bySess[c.session]
	if ss == nil {
		ss = map[*conn]struct{}{}
		g.bySess[c.session] = ss
	}
	ss[c] = struct{}{}
	return first
}

// unregister removes a socket; last reports whether it was its user's last
// on this node.
func (g *Gateway) unregister(c *conn) (last bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.byUser[c.user]
	if _, ok := set[c]; !ok {
		return false
	}
	delete(set, c)
	if len(set) == 0 {
		delete(g.byUser, c.user)
		last = true
	}
	if ss := g.bySess[c.session]; ss != nil {
		delete(ss, c)
		if len(ss) == 0 {
			delete(g.bySess, c.session)
		}
	}
	return last
}

// Fan sends one change of the views to the sockets that may see it. The
// views call it as they apply the log: from one goroutine at a time, in
// log order, once the change is applied and before the next one is, so
// what Fan reads from the views is exactly as of the change (cmd wires it
// to the projections' hub). It never waits for a socket: frames go to
// bounded per-socket queues, and a full queue cuts its socket off (4008).
func (g *Gateway) Fan(ch Change) {
	defer func() {
		// A bug here must not stop the views (Fan runs on their
		// goroutine) nor leave anyone silently without a message: every
		// socket is told to reconnect, and resumes from the views.
		if p := recover(); p != nil {
			g.log.Error("ws: panic in fan-out; reconnecting every socket", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			clear(g.members)
			g.each(func(c *conn) { c.cut(closeSlowConsumer, reasonSlowConsumer) })
		}
	}()
	if g.Stats.Connections.Load() == 0 {
		// Nobody to tell (a start catching up with the log): a socket
		// that connects later reads the views as they are then.
		clear(g.members)
		return
	}
	switch {
	case ch.Message != nil:
		m := ch.Message
		b := encode(messageFrame{Type: "message", Room: m.Room, Message: m.Message})
		for _, c := range g.socketsOf(g.roomMembers(m.Room)) {
			c.deliver(m.Room, m.Message.Seq, b)
		}
		clear(g.targets)
		if m.Message.Sender != "" {
			g.clearTyping(m.Room, m.Message.Sender)
		}
	case ch.Member != nil:
		m := ch.Member
		delete(g.members, m.Room)
		b := encode(memberFrame{Type: "member", Room: m.Room, User: m.User, Change: m.Change})
		sent := map[string]bool{}
		for _, u := range g.views.Members(m.Room) {
			sent[u] = true
			for _, c := range g.conns(u) {
				c.send(b)
			}
		}
		// The user concerned hears of it too (an invitee is not a member;
		// one who left no longer is), and their other sockets start or
		// stop following the room.
		for _, c := range g.conns(m.User) {
			switch m.Change {
			case "joined":
				c.follow(m.Room)
			case "left":
				c.unfollow(m.Room)
			}
			if !sent[m.User] {
				c.send(b)
			}
		}
	case ch.Receipt != nil:
		r := ch.Receipt
		b := encode(receiptFrame{Type: "receipt", Room: r.Room, User: r.User, Seq: r.Seq})
		for _, c := range g.socketsOf(g.roomMembers(r.Room)) {
			c.send(b)
		}
		clear(g.targets)
	case ch.Presence != nil:
		p := *ch.Presence
		self := encode(presenceFrame{Type: "presence", Presence: p})
		if p.Status == string(presence.Invisible) {
			p.Status = string(presence.Offline)
		}
		others := encode(presenceFrame{Type: "presence", Presence: p})
		g.each(func(c *conn) {
			if c.user == ch.Presence.User {
				c.send(self)
			} else {
				c.send(others)
			}
		})
	case ch.Ended != nil:
		reason := reasonLoggedOut
		if ch.Ended.EndReason == "expired" {
			reason = reasonSessionExpired
		}
		g.mu.RLock()
		var cs []*conn
		for c := range g.bySess[ch.Ended.ID] {
			cs = append(cs, c)
		}
		g.mu.RUnlock()
		for _, c := range cs {
			c.cut(closeSessionEnded, reason)
		}
	}
}

// roomMembers returns a room's members (Fan's caller): the views' list,
// kept until a membership change of the room is fanned out. Fan runs as
// the views apply each change, so a kept list is the views' list.
func (g *Gateway) roomMembers(room string) []string {
	ms, ok := g.members[room]
	if !ok {
		ms = g.views.Members(room)
		g.members[room] = ms
	}
	return ms
}

// socketsOf returns the open sockets of users (Fan's caller), in a
// slice that the next call reuses: clear it after use.
func (g *Gateway) socketsOf(users []string) []*conn {
	cs := g.targets[:0]
	g.mu.RLock()
	for _, u := range users {
		for c := range g.byUser[u] {
			cs = append(cs, c)
		}
	}
	g.mu.RUnlock()
	g.targets = cs
	return cs
}

// setTyping relays a typing indicator to the room's other members (never
// to the typist's own sockets) and arms the server-side clear.
func (g *Gateway) setTyping(room, user string, typing bool) {
	key := typingKey{room, user}
	g.mu.Lock()
	if t := g.typing[key]; t != nil {
		t.Stop()
		delete(g.typing, key)
	}
	if typing {
		g.typing[key] = time.AfterFunc(g.cfg.TypingTTL, func() { g.clearTyping(room, user) })
	}
	g.mu.Unlock()
	g.relayTyping(room, user, typing)
}

// clearTyping sends typing:false for a typist whose indicator is on.
func (g *Gateway) clearTyping(room, user string) {
	key := typingKey{room, user}
	g.mu.Lock()
	t, on := g.typing[key]
	if on {
		t.Stop()
		delete(g.typing, key)
	}
	g.mu.Unlock()
	if on {
		g.relayTyping(room, user, false)
	}
}

func (g *Gateway) relayTyping(room, user string, typing bool) {
	b := encode(typingFrame{Type: "typing", Room: room, User: user, Typing: typing})
	for _, u := range g.views.Members(room) {
		if u == user {
			continue
		}
		for _, c := range g.conns(u) {
			c.send(b)
		}
	}
}

// Typing relays a typing indicator on behalf of a user who is not on a
// socket (a bot): same relay and same server-side clear.
func (g *Gateway) Typing(room, user string, typing bool) { g.announceTyping(room, user, typing) }

// ReceiveTyping relays a typing indicator that came through Signals (from
// this node or another) to this node's sockets.
func (g *Gateway) ReceiveTyping(room, user string, typing bool) { g.setTyping(room, user, typing) }

// typing_ sends a typing indicator to every node through Signals, or
// straight to this node's sockets when there is none or it fails.
func (g *Gateway) announceTyping(room, user string, typing bool) {
	if g.cfg.Signals != nil {
		err := g.cfg.Signals.PublishTyping(room, user, typing)
		if err == nil {
			return
		}
		// Debug: the signals' owner logs the outage itself, once.
		g.log.Debug("typing signal not published; relayed on this node only", "err", err)
	}
	g.setTyping(room, user, typing)
}
