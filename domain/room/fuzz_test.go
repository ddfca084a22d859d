package room_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/room"
)

var fuzzUsers = []string{"alice", "bob", "carol", "dave"}

// fuzzPolicy has small limits, so that short inputs reach them.
func fuzzPolicy() domain.Policy {
	p := domain.DefaultPolicy()
	p.ChatLimit, p.ChatWindow = 3, 10*time.Second
	p.NudgeLimit, p.NudgeWindow = 2, 5*time.Second
	p.WinkLimit, p.WinkWindow = 2, 5*time.Second
	p.MaxTextRunes = 8
	p.DedupMaxPerRoom, p.DedupWindow = 8, time.Minute
	return p
}

// fuzzCommand turns three bytes into a command on room id at time at.
func fuzzCommand(id string, op, a, b byte, at time.Time) room.Command {
	by := fuzzUsers[a%4]
	other := fuzzUsers[b%4]
	cid := "c" + strconv.Itoa(int(b%8))
	texts := []string{"hi", " yo ", "", "\x00", "toolongtext", "a\nb", "\xff", "@bot"}
	switch op % 16 {
	case 0:
		return room.Create{Room: id, Name: "R", Visibility: []room.Visibility{room.Public, room.Private, room.Direct}[b%3], By: by, ClientID: cid, At: at}
	case 1:
		return room.OpenDirect{Room: id, By: by, With: other, WithExists: b%5 != 0, ClientID: cid, At: at}
	case 2:
		return room.Invite{Room: id, User: other, UserExists: b%7 != 0, By: by, ClientID: cid, At: at}
	case 3, 4:
		return room.Join{Room: id, By: by, ClientID: cid, At: at}
	case 5:
		return room.Leave{Room: id, By: by, ClientID: cid, At: at}
	case 6, 7, 8, 9:
		return room.PostChat{Room: id, By: by, ClientID: cid, Text: texts[(a>>2)%8], At: at}
	case 10:
		return room.Nudge{Room: id, By: by, ClientID: cid, At: at}
	case 11:
		return room.Wink{Room: id, By: by, ClientID: cid, Wink: []string{"frog", "kiss", "pig"}[b%3], At: at}
	case 12:
		cid = ""
		if b%2 == 0 {
			cid = "bot-" + strconv.Itoa(int(a%4))
		}
		return room.PostBot{Room: id, Bot: "bot_clippy", TriggerSeq: uint64(a % 16), Text: texts[b%4], ClientID: cid, At: at}
	case 13:
		return room.PostSystem{Room: id, Text: "unavailable", CauseID: "cause-" + strconv.Itoa(int(a%3)), At: at}
	default:
		return room.MoveReadMarker{Room: id, By: by, Seq: uint64(b % 16), At: at}
	}
}

// fingerprint is what the invariants and the replay check compare.
type fingerprint struct {
	Exists     bool
	Visibility room.Visibility
	LastSeq    uint64
	Members    []string
	Invited    []bool
	Markers    []uint64
	Remembered int
}

func fingerprintOf(s room.State) fingerprint {
	f := fingerprint{Exists: s.Exists(), Visibility: s.Visibility(), LastSeq: s.LastSeq(), Members: s.Members(), Remembered: s.RememberedCount()}
	for _, u := range fuzzUsers {
		f.Invited = append(f.Invited, s.IsInvited(u))
		f.Markers = append(f.Markers, s.ReadMarker(u))
	}
	return f
}

func knownRejection(err error) bool {
	for _, target := range []error{domain.ErrNotMember, domain.ErrForbidden, domain.ErrNotFound, domain.ErrInvalid, domain.ErrTooLong, domain.ErrRateLimited, domain.ErrDuplicate} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

type post struct {
	kind room.Kind
	at   time.Time
}

type record struct {
	seq   uint64
	at    time.Time
	index int // position among recorded commands
}

func FuzzRoom(f *testing.F) {
	// Byte 0 picks the room; then triples (op, a, b) and a time step.
	f.Add([]byte{0, 0, 0, 0, 1, 3, 1, 1, 2, 6, 0, 1, 0, 6, 0, 2, 0, 6, 0, 3, 0, 6, 0, 4, 0, 12, 1, 0, 0, 14, 1, 3, 0})
	f.Add([]byte{1, 1, 0, 1, 0, 3, 2, 2, 0, 6, 1, 3, 1, 5, 0, 4, 1, 3, 0, 5, 1, 10, 0, 0, 1, 10, 0, 1, 1, 10, 0, 2, 1})
	f.Add([]byte{0, 0, 0, 1, 0, 2, 0, 2, 0, 3, 2, 3, 0, 8, 2, 7, 9, 9, 2, 7, 3, 13, 0, 0, 0, 13, 0, 0, 0, 12, 3, 0, 0})
	f.Add([]byte{0, 0, 4, 0, 0, 6, 0, 0, 200, 6, 0, 0, 200, 6, 0, 1, 0, 6, 0, 2, 0, 6, 0, 3, 0, 6, 0, 4, 0})
	p := fuzzPolicy()
	limits := map[room.Kind]struct {
		n int
		w time.Duration
	}{
		room.KindChat:  {p.ChatLimit, p.ChatWindow},
		room.KindNudge: {p.NudgeLimit, p.NudgeWindow},
		room.KindWink:  {p.WinkLimit, p.WinkWindow},
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		id := "general"
		if in[0]%2 == 1 {
			id = room.DirectID("alice", "bob")
		}
		in = in[1:]
		s := room.New(p)
		at := t0
		var (
			accepted []domain.Event
			kinds    = map[uint64]room.Kind{}
			replied  = map[uint64]record{}
			posts    = map[string][]post{}
			records  = map[[2]string]record{}
			order    []time.Time // times of recorded commands, in order
			markers  = map[string]uint64{}
		)
		for i := 0; i+3 < len(in) && i < 1200; i += 4 {
			at = at.Add(time.Duration(in[i+3]) * 100 * time.Millisecond)
			c := fuzzCommand(id, in[i], in[i+1], in[i+2], at)
			before := fingerprintOf(s)
			evs, err := room.Decide(s, c, p)
			if after := fingerprintOf(s); !reflect.DeepEqual(before, after) {
				t.Fatalf("Decide(%#v) modified the state", c)
			}
			if err != nil {
				if len(evs) > 0 {
					t.Fatalf("%#v: events and error %v", c, err)
				}
				if !knownRejection(err) {
					t.Fatalf("%#v: unexpected error %v", c, err)
				}
				var dup *domain.DuplicateError
				if errors.As(err, &dup) {
					var r record
					var ok bool
					if n, found := strings.CutPrefix(dup.ID, "trigger:"); found {
						seq, _ := strconv.ParseUint(n, 10, 64)
						r, ok = replied[seq]
					} else {
						r, ok = records[[2]string{actor(c), dup.ID}]
					}
					if cr, isCreate := c.(room.Create); isCreate && cr.By == s.CreatedBy() && dup.Seq == 0 && dup.At.Equal(s.CreatedAt()) {
						// The room remembers its creating command for good,
						// even when the id was since forgotten and reused.
						r, ok = record{at: dup.At}, true
					}
					if !ok || r.seq != dup.Seq || !r.at.Equal(dup.At) {
						t.Fatalf("%#v: %v does not match the original (%v, %+v)", c, err, ok, r)
					}
				}
				continue
			}
			for _, e := range evs {
				switch e := e.(type) {
				case room.MessagePosted:
					if e.Seq != s.LastSeq()+1 {
						t.Fatalf("seq %d after %d", e.Seq, s.LastSeq())
					}
					kinds[e.Seq] = e.Kind
					if e.Kind.Human() {
						if !s.IsMember(e.Sender) {
							t.Fatalf("%s message from non-member %s", e.Kind, e.Sender)
						}
						key := e.Sender + "/" + string(e.Kind)
						posts[key] = append(posts[key], post{e.Kind, e.At})
						lim := limits[e.Kind]
						n := 0
						for _, q := range posts[key] {
							if e.At.Sub(q.at) < lim.w {
								n++
							}
						}
						if n > lim.n {
							t.Fatalf("%d %ss by %s within %s (limit %d)", n, e.Kind, e.Sender, lim.w, lim.n)
						}
					}
					if e.Kind == room.KindBot {
						if !kinds[e.TriggerSeq].Human() {
							t.Fatalf("bot reply to %s message %d", kinds[e.TriggerSeq], e.TriggerSeq)
						}
						if _, ok := replied[e.TriggerSeq]; ok {
							t.Fatalf("second bot reply to %d", e.TriggerSeq)
						}
						replied[e.TriggerSeq] = record{seq: e.Seq, at: e.At}
					}
				case room.ReadMarkerMoved:
					if e.Seq <= markers[e.User] || e.Seq > s.LastSeq() {
						t.Fatalf("read marker of %s moved from %d to %d (last seq %d)", e.User, markers[e.User], e.Seq, s.LastSeq())
					}
					markers[e.User] = e.Seq
				}
				s = room.Evolve(s, e)
				accepted = append(accepted, e)
			}
			// The command is remembered now; a command accepted again with
			// the same id must have been forgotten by count or age.
			if by, cid := actor(c), clientID(c); cid != "" && len(evs) > 0 {
				key := [2]string{by, cid}
				if r, ok := records[key]; ok {
					later := order[r.index+1:]
					forgotten := len(later) >= p.DedupMaxPerRoom
					for _, t2 := range later {
						if t2.Sub(r.at) > p.DedupWindow {
							forgotten = true
						}
					}
					if !forgotten {
						t.Fatalf("%#v applied twice", c)
					}
				}
				seq := uint64(0)
				if m, ok := evs[0].(room.MessagePosted); ok {
					seq = m.Seq
				}
				records[key] = record{seq: seq, at: at, index: len(order)}
				order = append(order, at)
			}
			if s.Visibility() == room.Direct {
				for _, m := range s.Members() {
					if m != "alice" && m != "bob" {
						t.Fatalf("direct room has member %s", m)
					}
				}
			}
			for _, u := range fuzzUsers {
				if s.ReadMarker(u) != markers[u] || s.ReadMarker(u) > s.LastSeq() {
					t.Fatalf("read marker of %s is %d, want %d", u, s.ReadMarker(u), markers[u])
				}
			}
		}

		// Replaying the stream through the codec rebuilds the same state.
		r := room.New(p)
		for _, e := range accepted {
			typ, data, err := codec.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			d, err := codec.Decode(typ, data)
			if err != nil {
				t.Fatal(err)
			}
			r = room.Evolve(r, d)
		}
		if got, want := fingerprintOf(r), fingerprintOf(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("replay differs:\n got %+v\nwant %+v", got, want)
		}
	})
}

// actor and clientID return the deduplication key of a command.
func actor(c room.Command) string {
	switch c := c.(type) {
	case room.Create:
		return c.By
	case room.OpenDirect:
		return c.By
	case room.Invite:
		return c.By
	case room.Join:
		return c.By
	case room.Leave:
		return c.By
	case room.PostChat:
		return c.By
	case room.Nudge:
		return c.By
	case room.Wink:
		return c.By
	case room.PostBot:
		return c.Bot
	case room.MoveReadMarker:
		return c.By
	}
	return ""
}

func clientID(c room.Command) string {
	v := reflect.ValueOf(c)
	if f := v.FieldByName("ClientID"); f.IsValid() && f.String() != "" {
		return f.String()
	}
	if f := v.FieldByName("CauseID"); f.IsValid() {
		return f.String()
	}
	return ""
}
