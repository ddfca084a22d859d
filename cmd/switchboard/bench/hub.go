package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// Baseline is the physical-limit reference: the smallest server that
// speaks enough of the protocol for the load generator, built on the same
// WebSocket library as the gateway, with no persistence, no read models
// and no presence. A chat frame is acknowledged at once (seq from an
// in-memory counter per room) and its message frame, encoded once, is
// queued to every member's socket. Each socket has a bounded queue of 256
// frames, written by a goroutine that runs while frames wait; a socket
// whose queue overflows is closed (4008), as the gateway does. hello
// accepts any token as the user's name.
//
// The figures of the real server are reported as ratios to this one's:
// what it costs beyond reading, encoding and writing the frames.
type Baseline struct {
	mu    sync.RWMutex // guards rooms and each room's members
	rooms map[string]*hubRoom
	conns atomic.Int64
	all   sync.WaitGroup
}

type hubRoom struct {
	seq     uint64
	members map[*hubConn]struct{}
}

// hubConn is one socket. Like the gateway's, its queue is a slice and its
// writer goroutine runs only while frames are queued, so an idle socket
// costs its reader goroutine and the library's buffers, nothing more.
type hubConn struct {
	ws   *websocket.Conn
	user string

	mu      sync.Mutex
	queue   [][]byte
	writing bool
	closed  bool
}

// hubQueue is the most frames a socket may have waiting.
const hubQueue = 256

// NewBaseline returns an empty hub.
func NewBaseline() *Baseline { return &Baseline{rooms: map[string]*hubRoom{}} }

// hubFrame is every client frame the hub understands.
type hubFrame struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	// hello
	Token string `json:"token"`
	// join, chat
	Room string `json:"room"`
	Text string `json:"text"`
	// create_room
	Name string `json:"name"`
}

type hubMessage struct {
	ID         string `json:"id"`
	Seq        uint64 `json:"seq"`
	Sender     string `json:"sender"`
	SenderName string `json:"senderName"`
	Kind       string `json:"kind"`
	Text       string `json:"text"`
	At         int64  `json:"at"`
}

// ServeHTTP upgrades and serves one socket.
func (h *Baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(16 << 10)
	c := &hubConn{ws: ws}
	h.all.Add(1)
	h.conns.Add(1)
	defer func() {
		h.leaveAll(c)
		c.close(websocket.StatusNormalClosure, "")
		h.conns.Add(-1)
		h.all.Done()
	}()
	ctx := r.Context()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var f hubFrame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		now := time.Now().UnixMilli()
		switch f.Type {
		case "hello":
			c.user = f.Token
			c.send(mustJSON(map[string]any{"type": "welcome", "user": map[string]string{"handle": c.user}, "rooms": []any{}, "presence": []any{}}))
		case "create_room":
			c.send(mustJSON(map[string]any{"type": "ack", "id": f.ID, "room": f.Name}))
			h.join(f.Name, c)
		case "join":
			h.join(f.Room, c)
			c.send(mustJSON(map[string]any{"type": "ack", "id": f.ID, "room": f.Room}))
			c.send(mustJSON(map[string]any{"type": "history", "room": f.Room, "messages": []any{}, "complete": true}))
		case "heartbeat":
			c.send(mustJSON(map[string]any{"type": "heartbeat", "at": now, "expiresAt": now + 20*60*1000}))
		case "chat":
			h.post(c, f, now)
		default:
			if f.ID != "" {
				c.send(mustJSON(map[string]any{"type": "ack", "id": f.ID}))
			}
		}
	}
}

func (h *Baseline) join(room string, c *hubConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		r = &hubRoom{members: map[*hubConn]struct{}{}}
		h.rooms[room] = r
	}
	r.members[c] = struct{}{}
}

func (h *Baseline) leaveAll(c *hubConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rooms {
		delete(r.members, c)
	}
}

// post acknowledges a chat message and broadcasts it. The room's lock is
// held across the fan-out so that every member gets the room's messages
// in seq order, as the gateway guarantees.
func (h *Baseline) post(c *hubConn, f hubFrame, now int64) {
	h.mu.Lock()
	r := h.rooms[f.Room]
	if r == nil {
		h.mu.Unlock()
		c.send(mustJSON(map[string]any{"type": "error", "id": f.ID, "code": "not_member", "message": "not a member"}))
		return
	}
	r.seq++
	seq := r.seq
	msg := mustJSON(map[string]any{"type": "message", "room": f.Room, "message": hubMessage{
		ID: uuid.NewString(), Seq: seq, Sender: c.user, SenderName: c.user, Kind: "chat", Text: f.Text, At: now,
	}})
	c.send([]byte(`{"type":"ack","id":` + strconv.Quote(f.ID) + `,"seq":` + strconv.FormatUint(seq, 10) + `,"at":` + strconv.FormatInt(now, 10) + `}`))
	for m := range r.members {
		m.send(msg)
	}
	h.mu.Unlock()
}

// send queues a frame; a full queue closes the socket (slow consumer).
func (c *hubConn) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if len(c.queue) >= hubQueue {
		c.closeLocked(4008, "slow consumer")
		return
	}
	c.queue = append(c.queue, b)
	if !c.writing {
		c.writing = true
		go c.writer()
	}
}

func (c *hubConn) close(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

func (c *hubConn) closeLocked(code websocket.StatusCode, reason string) {
	if !c.closed {
		c.closed, c.queue = true, nil
		go c.ws.Close(code, reason)
	}
}

// writer writes queued frames until the queue is empty, then ends.
func (c *hubConn) writer() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		b := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.ws.Write(ctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			c.close(4008, "write failed")
			return
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are encoded
	}
	return b
}
