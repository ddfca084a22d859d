package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/presence"
	"switchboard/domain/quota"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/domain/user"
	"switchboard/eventstore"
)

// world makes random but valid event sequences by sending random commands
// through the domain's deciders and keeping the states they fold, so the
// projections see what the real system writes: messages only from
// members, bot replies to human messages, charges of real reservations,
// sessions that end once. The same seed gives the same log.
type world struct {
	rng *rand.Rand
	p   domain.Policy
	now time.Time
	n   int // counter for ids

	humans, bots []string
	users        map[string]user.State
	rooms        []string
	roomSt       map[string]room.State
	sessions     map[string]session.State
	live         []string // session ids not ended
	pres         map[string]presence.State
	quotas       map[string]quota.State // by day
	pending      []pendingRes
	sw           quota.SwitchState
}

type pendingRes struct{ id, day string }

// op is one append: events for one stream.
type op struct {
	stream string
	evs    []domain.Event
}

func newWorld(seed uint64) *world {
	return &world{
		rng:      rand.New(rand.NewPCG(seed, seed^0x5eed)),
		p:        domain.DefaultPolicy(),
		now:      time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
		users:    map[string]user.State{},
		roomSt:   map[string]room.State{},
		sessions: map[string]session.State{},
		pres:     map[string]presence.State{},
		quotas:   map[string]quota.State{},
	}
}

func (w *world) id(prefix string) string {
	w.n++
	return fmt.Sprintf("%s%d", prefix, w.n)
}

func pick[T any](w *world, xs []T) T { return xs[w.rng.IntN(len(xs))] }

var words = []string{"hello", "there", "how", "are", "you", "fine", "thanks", "MSN", "nudge",
	"\"quoted\"", "back\\slash", "<b>bold</b>", "é", "日本語", "emoji 🎉", "tab\there", "line\nbreak", "a\u2028b", "&amp;"}

func (w *world) text(n int) string {
	s := pick(w, words)
	for i := w.rng.IntN(n); i > 0; i-- {
		s += " " + pick(w, words)
	}
	return s
}

// step tries one random command and returns its events (none if the
// decider refused it or had nothing to do).
func (w *world) step() []op {
	w.now = w.now.Add(time.Duration(w.rng.IntN(2000)) * time.Millisecond)
	if w.rng.IntN(2000) == 0 {
		w.now = w.now.Add(6 * time.Hour) // days pass for the quota ledger
	}
	if len(w.humans) < 8 {
		return w.register()
	}
	if len(w.rooms) < 2 {
		return w.createRoom(room.Public)
	}
	switch r := w.rng.IntN(1000); {
	case r < 380:
		return w.post(room.KindChat)
	case r < 400:
		return w.post(room.KindNudge)
	case r < 420:
		return w.post(room.KindWink)
	case r < 450:
		return w.botReply()
	case r < 460:
		return w.system()
	case r < 530:
		return w.readMarker()
	case r < 580:
		return w.membership()
	case r < 586:
		return w.createRoom(pick(w, []room.Visibility{room.Public, room.Private}))
	case r < 592:
		return w.direct()
	case r < 720:
		return w.presence()
	case r < 820:
		return w.session()
	case r < 900:
		return w.quota()
	case r < 903:
		return w.register()
	case r < 925:
		return w.profile()
	case r < 927:
		return w.kill()
	default:
		return w.post(room.KindChat)
	}
}

// next returns the next non-empty append.
func (w *world) next() op {
	for {
		if ops := w.step(); len(ops) > 0 {
			return ops[0]
		}
	}
}

func (w *world) register() []op {
	bot := len(w.bots) < 3 && w.rng.IntN(4) == 0
	h := w.id("user_")
	c := user.Register{Handle: h, DisplayName: "User " + w.text(2), At: w.now}
	if bot {
		h = w.id("bot_")
		c.Handle = h
		c.Bot = &user.Persona{Key: "p" + h[4:], Archetype: "helper", Style: "terse"}
	} else if w.rng.IntN(2) == 0 {
		c.Demo = true
	} else {
		c.PasswordHash = "$argon2id$" + h
	}
	evs, err := user.Decide(w.users[h], c, w.p)
	if err != nil || len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		w.users[h] = user.Evolve(w.users[h], e)
	}
	if bot {
		w.bots = append(w.bots, h)
	} else {
		w.humans = append(w.humans, h)
	}
	return []op{{user.Stream(h), evs}}
}

func (w *world) profile() []op {
	h := pick(w, w.humans)
	name, msg := "User "+w.text(2), w.text(4)
	c := user.ChangeProfile{DisplayName: &name, PersonalMessage: &msg, At: w.now}
	evs, err := user.Decide(w.users[h], c, w.p)
	if err != nil || len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		w.users[h] = user.Evolve(w.users[h], e)
	}
	return []op{{user.Stream(h), evs}}
}

// roomOp decides c on the room and folds the result.
func (w *world) roomOp(id string, c room.Command) []op {
	st, ok := w.roomSt[id]
	if !ok {
		st = room.New(w.p)
	}
	evs, err := room.Decide(st, c, w.p)
	if err != nil || len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		st = room.Evolve(st, e)
	}
	w.roomSt[id] = st
	return []op{{room.Stream(id), evs}}
}

func (w *world) createRoom(vis room.Visibility) []op {
	id := w.id("room")
	ops := w.roomOp(id, room.Create{Room: id, Name: "Room " + w.text(1), Visibility: vis, By: pick(w, w.humans), ClientID: w.id("c"), At: w.now})
	if ops != nil {
		w.rooms = append(w.rooms, id)
	}
	return ops
}

func (w *world) direct() []op {
	a, b := pick(w, w.humans), pick(w, append(w.humans[:len(w.humans):len(w.humans)], w.bots...))
	if a == b {
		return nil
	}
	id := room.DirectID(a, b)
	_, existed := w.roomSt[id]
	ops := w.roomOp(id, room.OpenDirect{Room: id, By: a, With: b, WithExists: true, ClientID: w.id("c"), At: w.now})
	if ops != nil && !existed {
		w.rooms = append(w.rooms, id)
	}
	return ops
}

// member returns a random member of a random room.
func (w *world) member() (string, string, bool) {
	id := pick(w, w.rooms)
	ms := w.roomSt[id].Members()
	if len(ms) == 0 {
		return "", "", false
	}
	return id, pick(w, ms), true
}

func (w *world) post(kind room.Kind) []op {
	id, by, ok := w.member()
	if !ok {
		return nil
	}
	switch kind {
	case room.KindNudge:
		return w.roomOp(id, room.Nudge{Room: id, By: by, ClientID: w.id("c"), At: w.now})
	case room.KindWink:
		return w.roomOp(id, room.Wink{Room: id, By: by, ClientID: w.id("c"), Wink: pick(w, room.Winks()), At: w.now})
	}
	return w.roomOp(id, room.PostChat{Room: id, By: by, ClientID: w.id("c"), Text: w.text(12), At: w.now})
}

func (w *world) botReply() []op {
	if len(w.bots) == 0 {
		return nil
	}
	id := pick(w, w.rooms)
	last := w.roomSt[id].LastSeq()
	if last == 0 {
		return nil
	}
	trigger := last - uint64(w.rng.IntN(int(min(last, 5))))
	return w.roomOp(id, room.PostBot{Room: id, Bot: pick(w, w.bots), TriggerSeq: trigger, Text: w.text(20), At: w.now})
}

func (w *world) system() []op {
	id := pick(w, w.rooms)
	return w.roomOp(id, room.PostSystem{Room: id, Text: "Bot unavailable: " + w.text(2), CauseID: w.id("cause"), At: w.now})
}

func (w *world) readMarker() []op {
	id, by, ok := w.member()
	if !ok {
		return nil
	}
	last := w.roomSt[id].LastSeq()
	if last == 0 {
		return nil
	}
	return w.roomOp(id, room.MoveReadMarker{Room: id, By: by, Seq: 1 + w.rng.Uint64N(last), At: w.now})
}

func (w *world) membership() []op {
	id := pick(w, w.rooms)
	u := pick(w, w.humans)
	st := w.roomSt[id]
	switch {
	case st.IsMember(u) && w.rng.IntN(3) == 0:
		return w.roomOp(id, room.Leave{Room: id, By: u, ClientID: w.id("c"), At: w.now})
	case st.Visibility() == room.Private && !st.IsMember(u) && !st.IsInvited(u):
		ms := st.Members()
		if len(ms) == 0 {
			return nil
		}
		return w.roomOp(id, room.Invite{Room: id, User: u, UserExists: true, By: pick(w, ms), ClientID: w.id("c"), At: w.now})
	default:
		return w.roomOp(id, room.Join{Room: id, By: u, ClientID: w.id("c"), At: w.now})
	}
}

func (w *world) presence() []op {
	u := pick(w, w.humans)
	var c presence.Command
	switch r := w.rng.IntN(10); {
	case r < 3:
		c = presence.Connect{User: u, At: w.now}
	case r < 6:
		c = presence.Heartbeat{User: u, At: w.now}
	case r < 8:
		c = presence.SetStatus{User: u, Status: pick(w, []presence.Status{presence.Online, presence.Busy, presence.Away, presence.Invisible}), At: w.now}
	case r < 9:
		c = presence.Disconnect{User: u, At: w.now}
	default:
		c = presence.Sweep{User: u, At: w.now.Add(3 * time.Minute)}
	}
	evs, err := presence.Decide(w.pres[u], c, w.p)
	if err != nil || len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		w.pres[u] = presence.Evolve(w.pres[u], e)
	}
	return []op{{presence.Stream(u), evs}}
}

func (w *world) session() []op {
	var id string
	var c session.Command
	if len(w.live) == 0 || w.rng.IntN(4) == 0 {
		id = w.id("s")
		sum := sha256.Sum256([]byte(id))
		c = session.Start{Session: id, User: pick(w, w.humans), TokenHash: hex.EncodeToString(sum[:]), Verifier: "pow", PasswordOK: true, VerificationOK: true, At: w.now}
	} else {
		i := w.rng.IntN(len(w.live))
		id = w.live[i]
		switch r := w.rng.IntN(10); {
		case r < 6:
			c = session.Renew{At: w.now}
		case r < 8:
			c = session.End{Reason: session.ReasonLogout, At: w.now}
		default:
			c = session.Expire{At: w.now}
		}
	}
	st := w.sessions[id]
	evs, err := session.Decide(st, c, w.p)
	if err != nil || len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		st = session.Evolve(st, e)
	}
	w.sessions[id] = st
	if _, ok := c.(session.Start); ok {
		w.live = append(w.live, id)
	}
	if ended, _ := st.Ended(); ended {
		for i, l := range w.live {
			if l == id {
				w.live = append(w.live[:i], w.live[i+1:]...)
				break
			}
		}
		delete(w.sessions, id)
	}
	return []op{{session.Stream(id), evs}}
}

func (w *world) quota() []op {
	var day string
	var c quota.Command
	if len(w.pending) == 0 || w.rng.IntN(2) == 0 {
		if len(w.bots) == 0 {
			return nil
		}
		day = quota.Day(w.now)
		id := w.id("res")
		c = quota.Reserve{Reservation: id, Day: day, User: pick(w, w.humans), Bot: pick(w, w.bots), Room: pick(w, w.rooms), TriggerSeq: 1, At: w.now}
		w.pending = append(w.pending, pendingRes{id, day})
	} else {
		i := w.rng.IntN(len(w.pending))
		r := w.pending[i]
		w.pending = append(w.pending[:i], w.pending[i+1:]...)
		day = r.day
		if w.rng.IntN(4) == 0 {
			c = quota.Release{Reservation: r.id, Reason: "backend_error", At: w.now}
		} else {
			c = quota.Charge{Reservation: r.id, PromptTokens: w.rng.IntN(500), GeneratedTokens: w.rng.IntN(300), At: w.now}
		}
	}
	st := w.quotas[day]
	evs, err := quota.Decide(st, c, w.p)
	if err != nil || len(evs) == 0 {
		if _, ok := c.(quota.Reserve); ok {
			w.pending = w.pending[:len(w.pending)-1]
		}
		return nil
	}
	for _, e := range evs {
		st = quota.Evolve(st, e)
	}
	w.quotas[day] = st
	return []op{{quota.Stream(day), evs}}
}

func (w *world) kill() []op {
	evs, err := quota.DecideSwitch(w.sw, quota.SetBotsEnabled{Enabled: !w.sw.Enabled(), By: "ops", At: w.now})
	if err != nil || len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		w.sw = quota.EvolveSwitch(w.sw, e)
	}
	return []op{{quota.SwitchStream(), evs}}
}

// proposed encodes an op's events with ids drawn from the world's rng.
func (w *world) proposed(o op) []eventstore.Proposed {
	out := make([]eventstore.Proposed, len(o.evs))
	for i, e := range o.evs {
		typ, data, err := codec.Encode(e)
		if err != nil {
			panic(err)
		}
		var id uuid.UUID
		for j := range id {
			id[j] = byte(w.rng.Uint32())
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		out[i] = eventstore.Proposed{ID: id, Type: typ, Data: data}
	}
	return out
}

// fill appends at least n records of the world's making to store and
// returns the head.
func (w *world) fill(tb testing.TB, store eventstore.Store, n int) uint64 {
	tb.Helper()
	ctx := context.Background()
	var head uint64
	for written := 0; written < n; {
		o := w.next()
		res, err := store.Append(ctx, o.stream, eventstore.Any, w.proposed(o))
		if err != nil {
			tb.Fatalf("append to %s: %v", o.stream, err)
		}
		head = res.Position
		written += len(o.evs)
	}
	return head
}
