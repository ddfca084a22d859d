package projections

import (
	"context"
	"errors"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
)

type testNotice uint64

func (n testNotice) Pos() uint64 { return uint64(n) }

func TestHub(t *testing.T) {
	t.Parallel()
	h := NewHub()
	a := h.Listen(4, RoomTopic("general"), UserTopic("bob"))
	b := h.Listen(1, RoomTopic("music"))
	if !h.Active() || !h.Listening(RoomTopic("music")) || h.Listening(RoomTopic("other")) {
		t.Fatal("Active/Listening wrong")
	}

	// Published to two of a's topics: delivered once.
	h.Publish(testNotice(1), RoomTopic("general"), UserTopic("bob"))
	h.Publish(testNotice(2), RoomTopic("other"))
	if n := <-a.C(); n.Pos() != 1 || len(a.C()) != 0 {
		t.Fatalf("a got %v, %d more", n, len(a.C()))
	}

	// b's buffer holds one: the second notice drops it.
	h.Publish(testNotice(3), RoomTopic("music"))
	h.Publish(testNotice(4), RoomTopic("music"))
	if n := <-b.C(); n.Pos() != 3 {
		t.Fatalf("b got %v", n)
	}
	if _, open := <-b.C(); open {
		t.Fatal("b not closed after overflowing")
	}
	if !errors.Is(b.Err(), ErrResync) {
		t.Fatalf("b.Err() = %v", b.Err())
	}
	if h.Listening(RoomTopic("music")) {
		t.Error("dropped listener still indexed")
	}

	// Topics come and go.
	a.Add(RoomTopic("music"))
	a.Remove(RoomTopic("general"))
	h.Publish(testNotice(5), RoomTopic("general"))
	h.Publish(testNotice(6), RoomTopic("music"))
	if n := <-a.C(); n.Pos() != 6 {
		t.Fatalf("a got %v after Add/Remove", n)
	}
	if got := len(a.Topics()); got != 2 {
		t.Errorf("a has %d topics", got)
	}
	if a.Err() != nil {
		t.Errorf("open listener: Err() = %v", a.Err())
	}

	a.Close()
	a.Close()
	if _, open := <-a.C(); open || !errors.Is(a.Err(), ErrClosed) {
		t.Fatalf("closed listener: %v", a.Err())
	}
	if h.Active() {
		t.Error("hub active without listeners")
	}
	c := h.Listen(0, PresenceTopic())
	h.Close()
	if _, open := <-c.C(); open || !errors.Is(c.Err(), ErrClosed) {
		t.Fatalf("after hub Close: %v", c.Err())
	}
	if d := h.Listen(1, PresenceTopic()); !errors.Is(d.Err(), ErrClosed) {
		t.Fatalf("listener of a closed hub: %v", d.Err())
	}
	h.Publish(testNotice(7), PresenceTopic())
}

// TestPublishAllocs: a notice for a topic nobody listens to costs nothing.
func TestPublishAllocs(t *testing.T) {
	h := NewHub()
	l := h.Listen(1, RoomTopic("general"))
	defer l.Close()
	var n Notice = testNotice(1)
	if allocs := testing.AllocsPerRun(100, func() { h.Publish(n, RoomTopic("music"), UserTopic("bob")) }); allocs != 0 {
		t.Errorf("Publish to topics without listeners: %v allocations", allocs)
	}
}

func next(t *testing.T, l *Listener) Notice {
	t.Helper()
	select {
	case n, ok := <-l.C():
		if !ok {
			t.Fatalf("listener closed: %v", l.Err())
		}
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notice")
	}
	return nil
}

// TestNotices: the runner publishes what the gateway needs, to the right
// topics, once, after every projection applied the record.
func TestNotices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	r, set := startRunner(t, store, Options{})
	roomL := r.Hub().Listen(0, RoomTopic("general"), UserTopic("bob"))
	presL := r.Hub().Listen(0, PresenceTopic())
	dirL := r.Hub().Listen(0, DirectoryTopic())

	rw := newRoomWriter(t, store, "general")
	rw.do(room.Join{Room: "general", By: "bob"})
	rw.post("bob", "hi")
	rw.do(room.MoveReadMarker{Room: "general", By: "bob", Seq: 1})

	n := next(t, roomL).(RoomCreated)
	if n.Room.ID != "general" || n.Room.Visibility != room.Public {
		t.Errorf("RoomCreated = %+v", n)
	}
	if d := next(t, dirL).(RoomCreated); d.Room.ID != "general" {
		t.Errorf("directory got %+v", d)
	}
	next(t, roomL) // alice joins
	j := next(t, roomL).(MemberChanged)
	if j.User != "bob" || j.Change != Joined || j.Room != "general" {
		t.Errorf("MemberChanged = %+v", j)
	}
	m := next(t, roomL).(MessagePosted)
	if m.Message.Text != "hi" || m.Message.Seq != 1 || m.Message.Sender != "bob" || m.Room != "general" {
		t.Errorf("MessagePosted = %+v", m)
	}
	// Every projection has applied a notice's position when it arrives.
	if r.Applied() < m.Pos() {
		t.Errorf("notice at %d arrived with applied %d", m.Pos(), r.Applied())
	}
	if got := set.History.LastSeq("general"); got != 1 {
		t.Errorf("history at the notice: last seq %d", got)
	}
	if rm := next(t, roomL).(ReadMarkerMoved); rm.User != "bob" || rm.Seq != 1 {
		t.Errorf("ReadMarkerMoved = %+v", rm)
	}

	app := func(stream string, evs ...domain.Event) uint64 {
		res, err := store.Append(ctx, stream, eventstore.Any, rw.w.proposed(op{stream, evs}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Position
	}
	at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	app(presence.Stream("bob"), presence.PresenceChanged{User: "bob", Status: presence.Invisible, Chosen: presence.Invisible, Reason: presence.ReasonStatus, At: at})
	if p := next(t, presL).(PresenceChanged); p.Presence.User != "bob" || p.Presence.Status != presence.Invisible {
		t.Errorf("PresenceChanged = %+v", p)
	}
	app(session.Stream("s1"), session.SessionStarted{Session: "s1", User: "bob", TokenHash: "h1", ExpiresAt: at.Add(time.Hour), At: at})
	pos := app(session.Stream("s1"), session.SessionEnded{Session: "s1", Reason: session.ReasonLogout, At: at})
	if e := next(t, roomL).(SessionEnded); e.User != "bob" || e.Session != "s1" || e.Reason != session.ReasonLogout || e.Pos() != pos {
		t.Errorf("SessionEnded = %+v (want position %d)", e, pos)
	}
	if err := r.Sync(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if len(roomL.C())+len(presL.C())+len(dirL.C()) != 0 {
		t.Error("unexpected notices left")
	}
}

// TestAllTopic: a listener of AllTopic gets every notice once, in order,
// whatever topics it was published to.
func TestAllTopic(t *testing.T) {
	h := NewHub()
	all := h.Listen(10, AllTopic())
	room := h.Listen(10, RoomTopic("a"))
	h.Publish(MessagePosted{Position: 1, Room: "a"}, RoomTopic("a"), UserTopic("bob"))
	h.Publish(PresenceChanged{Position: 2}, PresenceTopic())
	h.Publish(SessionEnded{Position: 3}, UserTopic("bob"))
	for want := uint64(1); want <= 3; want++ {
		if n := <-all.C(); n.Pos() != want {
			t.Fatalf("all listener got position %d, want %d", n.Pos(), want)
		}
	}
	if n := <-room.C(); n.Pos() != 1 {
		t.Fatalf("room listener got %d", n.Pos())
	}
	select {
	case n := <-all.C():
		t.Fatalf("extra notice %v", n)
	case n := <-room.C():
		t.Fatalf("extra room notice %v", n)
	default:
	}
}

// A sink hears every notice, whatever its topics, in publication order,
// before Publish returns; detaching or closing the hub stops it.
func TestHubSink(t *testing.T) {
	t.Parallel()
	h := NewHub()
	if h.Active() || h.Listening(RoomTopic("general")) {
		t.Fatal("an empty hub is active")
	}
	var got []uint64
	detach := h.Attach(func(n Notice) { got = append(got, n.Pos()) })
	if !h.Active() || !h.Listening(RoomTopic("general")) || !h.Listening() {
		t.Fatal("a hub with a sink is not listening")
	}
	l := h.Listen(8, RoomTopic("music"))
	h.Publish(testNotice(1), RoomTopic("general"))
	h.Publish(testNotice(2), RoomTopic("music"), UserTopic("bob"))
	h.Publish(testNotice(3))
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("sink got %v, want [1 2 3] before Publish returned", got)
	}
	if n := <-l.C(); n.Pos() != 2 || len(l.C()) != 0 {
		t.Fatalf("listener got %v (and %d more) beside the sink", n, len(l.C()))
	}
	detach()
	detach()
	h.Publish(testNotice(4), RoomTopic("music"))
	if len(got) != 3 {
		t.Fatalf("detached sink got %v", got)
	}
	l.Close()
	if h.Active() {
		t.Fatal("active with no listener and no sink")
	}

	h.Attach(func(n Notice) { got = append(got, n.Pos()) })
	h.Close()
	h.Publish(testNotice(5))
	if h.Active() || len(got) != 3 {
		t.Fatalf("after Close: active %v, sink got %v", h.Active(), got)
	}
	h.Attach(func(n Notice) { t.Error("a sink attached to a closed hub was called") })
	h.Publish(testNotice(6))
}
