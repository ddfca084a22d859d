package projections

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/room"
	"switchboard/eventstore"
	"switchboard/projections/internal/decode"
)

// LatestSize is how many of each room's newest messages History keeps in
// memory.
const LatestSize = 100

// anchorEvery is the spacing of History's per-room index into the room's
// stream: the revision of messages 1, 1+anchorEvery, 1+2·anchorEvery, …
// Room streams hold membership events between messages, so a message's seq
// does not tell its revision; with the index, reading any run of old
// messages starts at most anchorEvery-1 messages early. It costs 8 bytes
// per 64 messages. Changing it changes the snapshot schema.
const anchorEvery = 64

// historySchema is the version of History's snapshot payload.
const historySchema = 1

// Message is one message of a room, as the wire protocol shows it (the
// gateway adds the sender's display name).
type Message struct {
	// ID is the record's ID: the wire message id.
	ID     string
	Seq    uint64
	Sender string // empty for system messages
	Kind   room.Kind
	Text   string // chat, bot and system
	Wink   string // wink
	// TriggerSeq is the message a bot replied to; 0 otherwise.
	TriggerSeq uint64
	At         time.Time
}

// History is the room history projection: the newest LatestSize messages of
// every room, in memory, and reads of older ones from the room's stream.
//
// Its state is the buffers and a sparse index of revisions (see
// anchorEvery); the store is only queried, never part of the state.
type History struct {
	store eventstore.Store

	mu    sync.RWMutex
	rooms map[string]*roomLog
	// gen counts Captures. A room whose gen is older may share its ring
	// with a capture being encoded: Apply copies the ring before
	// overwriting a message in it (copy on write). Appending never
	// disturbs a capture, which sees only the messages it was given.
	gen uint64

	hint sizeHint
}

type roomLog struct {
	ring    []msg // up to LatestSize; when full, ring[head] is the oldest
	head    int
	lastSeq uint64
	anchors []uint64 // anchors[k]: a revision at or before message k·anchorEvery+1
	gen     uint64   // History.gen when the ring was last copied or made
}

var (
	_ Capturer   = (*History)(nil)
	_ Projection = (*History)(nil)
	_ Notifier   = (*History)(nil)
	_ Dumper     = (*History)(nil)
)

// NewHistory returns an empty history that reads older messages from
// store (nil if Since and Page will not need the store).
func NewHistory(store eventstore.Store) *History {
	return &History{store: store, rooms: make(map[string]*roomLog)}
}

// Name implements Projection.
func (h *History) Name() string { return HistoryName }

// msg is a Message as History keeps it: the ID as 16 bytes, made a string
// only when a query asks (applying and restoring allocate less).
type msg struct {
	id      uuid.UUID
	seq     uint64
	sender  string
	kind    room.Kind
	text    string
	wink    string
	trigger uint64
	at      time.Time
}

func msgOf(rec eventstore.Record, e room.MessagePosted) msg {
	return msg{id: rec.ID, seq: e.Seq, sender: e.Sender, kind: e.Kind, text: e.Text, wink: e.Wink, trigger: e.TriggerSeq, at: e.At.UTC()}
}

func (m *msg) public() Message {
	return Message{ID: m.id.String(), Seq: m.seq, Sender: m.sender, Kind: m.kind, Text: m.text, Wink: m.wink, TriggerSeq: m.trigger, At: m.at}
}

func messageOf(rec eventstore.Record, e room.MessagePosted) Message {
	m := msgOf(rec, e)
	return m.public()
}

// Apply implements Projection: MessagePosted only. A message whose seq is
// not above the room's last is ignored (the decider never writes one).
func (h *History) Apply(rec eventstore.Record, ev domain.Event) {
	e, ok := ev.(room.MessagePosted)
	if !ok {
		return
	}
	m := msgOf(rec, e)
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[e.Room]
	if r == nil {
		r = &roomLog{gen: h.gen}
		h.rooms[e.Room] = r
	}
	if e.Seq <= r.lastSeq {
		return
	}
	r.lastSeq = e.Seq
	for k := (e.Seq - 1) / anchorEvery; uint64(len(r.anchors)) <= k; {
		r.anchors = append(r.anchors, rec.Revision)
	}
	if len(r.ring) < LatestSize {
		r.ring = append(r.ring, m)
		return
	}
	if r.gen != h.gen {
		r.ring, r.gen = slices.Clone(r.ring), h.gen
	}
	r.ring[r.head] = m
	r.head = (r.head + 1) % LatestSize
}

// Notify implements Notifier: MessagePosted to RoomTopic.
func (h *History) Notify(rec eventstore.Record, ev domain.Event, hub *Hub) {
	if e, ok := ev.(room.MessagePosted); ok && hub.Listening(RoomTopic(e.Room)) {
		hub.Publish(MessagePosted{Position: rec.Position, Room: e.Room, Message: messageOf(rec, e)}, RoomTopic(e.Room))
	}
}

// ordered returns the room's buffer, oldest first (h.mu held). The slice
// is new; the messages are the buffer's.
func (r *roomLog) ordered() []msg {
	out := make([]msg, 0, len(r.ring))
	out = append(out, r.ring[r.head:]...)
	return append(out, r.ring[:r.head]...)
}

// buffered returns the room's buffer as Messages, oldest first (h.mu
// held).
func (r *roomLog) buffered() []Message {
	out := make([]Message, 0, len(r.ring))
	for i := range r.ring {
		out = append(out, r.ring[(r.head+i)%len(r.ring)].public())
	}
	return out
}

// anchor returns a revision at or before message seq (h.mu held).
func (r *roomLog) anchor(seq uint64) uint64 {
	if len(r.anchors) == 0 {
		return 0
	}
	k := (max(seq, 1) - 1) / anchorEvery
	if k >= uint64(len(r.anchors)) {
		k = uint64(len(r.anchors)) - 1
	}
	return r.anchors[k]
}

// Latest returns the room's newest messages (at most LatestSize),
// oldest first, and whether they are all the room has (complete is false
// when older messages exist). An unknown room has none, complete.
func (h *History) Latest(roomID string) (msgs []Message, complete bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[roomID]
	if r == nil || len(r.ring) == 0 {
		return nil, true
	}
	msgs = r.buffered()
	return msgs, msgs[0].Seq <= 1
}

// LastSeq returns the seq of the room's newest message applied; 0 if none.
func (h *History) LastSeq(roomID string) uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if r := h.rooms[roomID]; r != nil {
		return r.lastSeq
	}
	return 0
}

// Since returns every message of the room with a seq above after, oldest
// first and without gaps, up to the newest applied: from the buffer when it
// reaches back far enough, otherwise the older part is read from the room's
// stream in the store. This is how a reconnecting client resumes. The
// result may be long (a client far behind gets everything it missed).
func (h *History) Since(ctx context.Context, roomID string, after uint64) ([]Message, error) {
	h.mu.RLock()
	r := h.rooms[roomID]
	if r == nil || r.lastSeq <= after {
		h.mu.RUnlock()
		return nil, nil
	}
	buf := r.buffered()
	first := buf[0].Seq
	if first <= after+1 {
		h.mu.RUnlock()
		i := 0
		for i < len(buf) && buf[i].Seq <= after {
			i++
		}
		return buf[i:], nil
	}
	rev := r.anchor(after + 1)
	h.mu.RUnlock()
	old, err := h.read(ctx, roomID, rev, after+1, first-1)
	if err != nil {
		return nil, err
	}
	return append(old, buf...), nil
}

// MaxPage is the most messages Page returns.
const MaxPage = 100

// Page returns up to limit messages of the room with a seq below before,
// newest first, for GET /api/rooms/{id}/messages?before=&limit=. before = 0
// means from the newest; limit is clamped to 1…MaxPage (0 means MaxPage).
// Messages older than the buffer are read from the room's stream.
func (h *History) Page(ctx context.Context, roomID string, before uint64, limit int) ([]Message, error) {
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	h.mu.RLock()
	r := h.rooms[roomID]
	if r == nil || len(r.ring) == 0 || before == 1 {
		h.mu.RUnlock()
		return nil, nil
	}
	hi := r.lastSeq
	if before != 0 && before-1 < hi {
		hi = before - 1
	}
	lo := uint64(1)
	if hi > uint64(limit) {
		lo = hi - uint64(limit) + 1
	}
	buf := r.buffered()
	first := buf[0].Seq
	var msgs []Message
	if lo < first {
		rev := r.anchor(lo)
		h.mu.RUnlock()
		old, err := h.read(ctx, roomID, rev, lo, min(hi, first-1))
		if err != nil {
			return nil, err
		}
		msgs = old
	} else {
		h.mu.RUnlock()
	}
	for _, m := range buf {
		if m.Seq >= lo && m.Seq <= hi {
			msgs = append(msgs, m)
		}
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, nil
}

// readBatch is how many records one read of a room stream asks for.
const readBatch = 256

// read returns the messages lo…hi of the room from its stream, starting at
// revision rev (at or before message lo), oldest first. They must all be
// there: a gap is an error.
func (h *History) read(ctx context.Context, roomID string, rev, lo, hi uint64) ([]Message, error) {
	if h.store == nil {
		return nil, fmt.Errorf("projections: history of room %q: messages before seq %d are not buffered and no store was given", roomID, hi+1)
	}
	stream := room.Stream(roomID)
	out := make([]Message, 0, min(hi-lo+1, 4*readBatch))
	for {
		recs, err := h.store.ReadStream(ctx, stream, eventstore.Forwards, rev, readBatch)
		if err != nil {
			return nil, fmt.Errorf("projections: history of room %q: %w", roomID, err)
		}
		for _, rec := range recs {
			if rec.Type != "MessagePosted" {
				continue
			}
			ev, err := decode.Decode(rec.Type, rec.Data)
			if err != nil {
				continue // ignored by Apply too
			}
			e, ok := ev.(room.MessagePosted)
			if !ok || e.Seq < lo || e.Room != roomID {
				continue
			}
			if e.Seq > hi {
				return out, checkRun(roomID, out, lo, hi)
			}
			out = append(out, messageOf(rec, e))
			if e.Seq == hi {
				return out, checkRun(roomID, out, lo, hi)
			}
		}
		if len(recs) < readBatch {
			return out, checkRun(roomID, out, lo, hi)
		}
		rev = recs[len(recs)-1].Revision + 1
	}
}

// checkRun reports an error unless msgs are exactly the seqs lo…hi.
func checkRun(roomID string, msgs []Message, lo, hi uint64) error {
	for i, m := range msgs {
		if m.Seq != lo+uint64(i) {
			return fmt.Errorf("projections: history of room %q: seq %d missing from the stream", roomID, lo+uint64(i))
		}
	}
	if uint64(len(msgs)) != hi-lo+1 {
		return fmt.Errorf("projections: history of room %q: seqs %d to %d missing from the stream", roomID, lo+uint64(len(msgs)), hi)
	}
	return nil
}

// MarshalSnapshot implements Projection.
func (h *History) MarshalSnapshot() ([]byte, error) { return h.Capture()() }

// roomView is a room as captured for a snapshot: its ring and anchors are
// shared with the live room, which copies its ring before changing a
// message in it and only appends to its anchors.
type roomView struct {
	id      string
	lastSeq uint64
	anchors []uint64
	ring    []msg
	head    int
}

// Capture implements Capturer: it takes the rooms' slices under the lock
// (a pointer copy per room), and the returned function encodes them,
// concurrently with Apply, which copies a shared ring before overwriting
// it. The whole buffer is never copied on the apply path.
func (h *History) Capture() func() ([]byte, error) {
	h.mu.Lock()
	h.gen++
	views := make([]roomView, 0, len(h.rooms))
	for id, r := range h.rooms {
		views = append(views, roomView{id, r.lastSeq, r.anchors[:len(r.anchors):len(r.anchors)], r.ring[:len(r.ring):len(r.ring)], r.head})
	}
	h.mu.Unlock()
	return func() ([]byte, error) {
		slices.SortFunc(views, func(a, b roomView) int { return strings.Compare(a.id, b.id) })
		e := h.hint.enc()
		e.uint(historySchema)
		e.uint(uint64(len(views)))
		for _, r := range views {
			e.str(r.id)
			e.uint(r.lastSeq)
			e.uint(uint64(len(r.anchors)))
			prev := uint64(0)
			for _, a := range r.anchors {
				e.uint(a - prev) // anchors only grow
				prev = a
			}
			e.uint(uint64(len(r.ring)))
			for i := range r.ring {
				m := &r.ring[(r.head+i)%len(r.ring)]
				e.b = append(e.b, m.id[:]...)
				e.uint(m.seq)
				e.str(m.sender)
				e.str(string(m.kind))
				e.str(m.text)
				e.str(m.wink)
				e.uint(m.trigger)
				e.time(m.at)
			}
		}
		h.hint.note(len(e.b))
		return e.b, nil
	}
}

// UnmarshalSnapshot implements Projection.
func (h *History) UnmarshalSnapshot(data []byte) error {
	d := dec{b: data}
	d.version(HistoryName, historySchema)
	rooms := make(map[string]*roomLog)
	names := make(map[string]string)
	var lens [LatestSize]int
	var texts []byte
	for n := d.count(3); n > 0 && d.err == nil; n-- {
		id := d.str()
		r := &roomLog{lastSeq: d.uint()}
		prev := uint64(0)
		for k := d.count(1); k > 0 && d.err == nil; k-- {
			prev += d.uint()
			r.anchors = append(r.anchors, prev)
		}
		k := d.count(23) // the least a message takes
		if k > LatestSize {
			d.fail()
		}
		r.ring = make([]msg, k)
		// The texts of a room share one allocation, and repeated names
		// (senders, kinds, winks) one string each: restoring allocates
		// per room, not per message.
		texts = texts[:0]
		for i := range r.ring {
			m := &r.ring[i]
			copy(m.id[:], d.raw(16))
			m.seq = d.uint()
			m.sender = d.shared(names)
			m.kind = room.Kind(d.shared(names))
			t := d.raw(int(d.uint()))
			texts = append(texts, t...)
			lens[i] = len(t)
			m.wink = d.shared(names)
			m.trigger = d.uint()
			m.at = d.time()
		}
		all := string(texts)
		for i := range r.ring {
			r.ring[i].text, all = all[:lens[i]], all[lens[i]:]
			// What Apply builds: seqs from 1, rising, the last one lastSeq.
			if m := &r.ring[i]; m.seq == 0 || i > 0 && m.seq <= r.ring[i-1].seq || i == len(r.ring)-1 && m.seq != r.lastSeq {
				d.fail()
			}
		}
		if len(r.ring) > 0 && len(r.anchors) == 0 {
			d.fail()
		}
		rooms[id] = r
	}
	if err := d.done(); err != nil {
		return err
	}
	h.mu.Lock()
	h.gen++ // rooms restored share nothing: any gen would do
	for _, r := range rooms {
		r.gen = h.gen
	}
	h.rooms = rooms
	h.mu.Unlock()
	h.hint.note(len(data))
	return nil
}

// Dump implements Dumper.
func (h *History) Dump(w io.Writer) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, id := range sortedKeys(h.rooms) {
		r := h.rooms[id]
		if _, err := fmt.Fprintf(w, "room %s lastSeq=%d anchors=%v\n", id, r.lastSeq, r.anchors); err != nil {
			return err
		}
		for _, m := range r.ordered() {
			if _, err := fmt.Fprintf(w, "room %s message seq=%d id=%s sender=%q kind=%s text=%q wink=%q trigger=%d at=%s\n",
				id, m.seq, m.id, m.sender, m.kind, m.text, m.wink, m.trigger, m.at.Format(time.RFC3339Nano)); err != nil {
				return err
			}
		}
	}
	return nil
}
