package projections

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/domain/quota"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/domain/user"
	"switchboard/eventstore"
)

var t0 = time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)

// feedAll applies events to p as records of the given stream at
// consecutive positions, then round-trips p through its snapshot to check
// that nothing is lost there either.
func feedAll(tb testing.TB, p Projection, stream string, evs ...domain.Event) {
	tb.Helper()
	for i, ev := range evs {
		p.Apply(eventstore.Record{ID: uuid.New(), Stream: stream, Position: uint64(i + 1), Revision: uint64(i)}, ev)
	}
	b, err := p.MarshalSnapshot()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.UnmarshalSnapshot(b); err != nil {
		tb.Fatal(err)
	}
	b2, _ := p.MarshalSnapshot()
	if string(b) != string(b2) {
		tb.Fatalf("%s: snapshot round trip changes the encoding", p.Name())
	}
}

func TestPresenceVisibility(t *testing.T) {
	t.Parallel()
	p := NewPresence()
	feedAll(t, p, "x-1",
		user.UserRegistered{Handle: "alice", DisplayName: "Alice", At: t0},
		user.UserRegistered{Handle: "bob", DisplayName: "Bob", At: t0},
		user.UserRegistered{Handle: "clippy", DisplayName: "Clippy", Bot: &user.Persona{Key: "clippy"}, At: t0},
		presence.PresenceChanged{User: "alice", Status: presence.Busy, Chosen: presence.Busy, Reason: presence.ReasonConnected, At: t0},
		presence.HeartbeatRecorded{User: "alice", At: t0},
		presence.PresenceChanged{User: "bob", Status: presence.Invisible, Chosen: presence.Invisible, Reason: presence.ReasonStatus, At: t0},
		presence.HeartbeatRecorded{User: "bob", At: t0.Add(time.Second)},
		user.ProfileChanged{Handle: "bob", DisplayName: "Bobby", PersonalMessage: "shh", At: t0},
	)
	if u, _ := p.Visible("alice", "bob"); u.Status != presence.Offline || u.Chosen != "" || !u.LastHeartbeat.IsZero() || u.DisplayName != "Bobby" || u.PersonalMessage != "shh" {
		t.Errorf("bob as alice sees him: %+v", u)
	}
	if u, _ := p.Visible("bob", "bob"); u.Status != presence.Invisible || u.Chosen != presence.Invisible || u.LastHeartbeat.IsZero() {
		t.Errorf("bob as he sees himself: %+v", u)
	}
	if u, _ := p.Visible("bob", "alice"); u.Status != presence.Busy || u.LastHeartbeat != t0 {
		t.Errorf("alice as bob sees her: %+v", u)
	}
	list := p.List("alice")
	if len(list) != 3 || list[2].User != "clippy" || !list[2].Bot || list[2].Status != presence.Offline {
		t.Errorf("List = %+v", list)
	}
	if _, ok := p.Get("nobody"); ok {
		t.Error("unknown user found")
	}
	if c := p.Counts(); c[presence.Busy] != 1 || c[presence.Invisible] != 1 || c[presence.Offline] != 1 {
		t.Errorf("Counts = %v", c)
	}
}

func TestDirectory(t *testing.T) {
	t.Parallel()
	d := NewDirectory()
	dm := room.DirectID("alice", "bob")
	feedAll(t, d, "x-1",
		user.UserRegistered{Handle: "alice", DisplayName: "Alice", Demo: true, At: t0},
		user.UserRegistered{Handle: "bob", DisplayName: "Bob", At: t0},
		user.UserRegistered{Handle: "carol", DisplayName: "Carol", At: t0},
		user.UserRegistered{Handle: "clippy", DisplayName: "Clippy", Bot: &user.Persona{Key: "clippy"}, At: t0},
		user.ProfileChanged{Handle: "carol", DisplayName: "Caz", At: t0},
		room.RoomCreated{Room: "general", Name: "General", Visibility: room.Public, By: "alice", At: t0},
		room.MemberJoined{Room: "general", User: "alice", At: t0},
		room.RoomCreated{Room: "secret", Name: "Secret", Visibility: room.Private, By: "alice", At: t0},
		room.MemberJoined{Room: "secret", User: "alice", At: t0},
		room.MemberInvited{Room: "secret", User: "bob", By: "alice", At: t0},
		room.RoomCreated{Room: "hidden", Name: "Hidden", Visibility: room.Private, By: "carol", At: t0},
		room.MemberJoined{Room: "hidden", User: "carol", At: t0},
		room.RoomCreated{Room: dm, Visibility: room.Direct, Members: []string{"bob", "alice"}, By: "bob", At: t0},
		room.MessagePosted{Room: dm, Seq: 1, Sender: "bob", Kind: room.KindChat, Text: "hi", At: t0},
		room.MessagePosted{Room: dm, Seq: 2, Sender: "alice", Kind: room.KindChat, Text: "yo", At: t0.Add(time.Minute)},
		room.ReadMarkerMoved{Room: dm, User: "alice", Seq: 2, At: t0},
		room.ReadMarkerMoved{Room: dm, User: "alice", Seq: 1, At: t0}, // never backwards
		room.MemberLeft{Room: dm, User: "alice", At: t0},
		room.MemberJoined{Room: "general", User: "bob", At: t0},
		room.MemberLeft{Room: "general", User: "bob", At: t0},
	)
	ids := func(rs []Room) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, c := range []struct {
		user string
		want []string
	}{
		{"alice", []string{dm, "general", "secret"}}, // left the dm: still hers
		{"bob", []string{dm, "general", "secret"}},   // invited to secret
		{"carol", []string{"general", "hidden"}},
		{"dave", []string{"general"}},
	} {
		if got := ids(d.RoomsVisibleTo(c.user)); !slices.Equal(got, c.want) {
			t.Errorf("RoomsVisibleTo(%s) = %v, want %v", c.user, got, c.want)
		}
	}
	if got := ids(d.RoomsOf("alice")); !slices.Equal(got, []string{"general", "secret"}) {
		t.Errorf("RoomsOf(alice) = %v", got)
	}
	r, ok := d.Room(dm)
	if !ok || r.Members != 1 || !slices.Equal(r.Direct, []string{"alice", "bob"}) || r.LastSeq != 2 || !r.LastMessageAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("Room(dm) = %+v", r)
	}
	if got := d.Members("secret"); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("Members(secret) = %v", got)
	}
	if got := d.Invited("secret"); !slices.Equal(got, []string{"bob"}) || !d.IsInvited("secret", "bob") || d.IsMember("secret", "bob") {
		t.Errorf("Invited(secret) = %v", got)
	}
	if got := d.ReadMarkers(dm); !slices.Equal(got, []ReadMarker{{"alice", 2}}) || d.ReadMarker(dm, "alice") != 2 {
		t.Errorf("ReadMarkers = %v", got)
	}
	if u, ok := d.User("clippy"); !ok || !u.IsBot() || u.Bot != "clippy" {
		t.Errorf("User(clippy) = %+v", u)
	}
	if u, _ := d.User("carol"); u.DisplayName != "Caz" {
		t.Errorf("carol's profile change lost: %+v", u)
	}
	if us := d.Users(); len(us) != 4 || us[0].Handle != "alice" || !us[0].Demo {
		t.Errorf("Users = %+v", us)
	}
	if _, ok := d.Room("nope"); ok {
		t.Error("unknown room found")
	}
	if got := len(d.Rooms()); got != 4 {
		t.Errorf("Rooms: %d", got)
	}
}

func TestQuotaLedger(t *testing.T) {
	t.Parallel()
	q := NewQuota()
	day1, day2 := quota.Day(t0), quota.Day(t0.Add(time.Hour))
	feed := func(day string, evs ...domain.Event) {
		for _, ev := range evs {
			q.Apply(eventstore.Record{Stream: quota.Stream(day)}, ev)
		}
	}
	feed(day1,
		quota.QuotaReserved{Reservation: "r1", Day: day1, User: "bob", Bot: "clippy", Room: "general", TriggerSeq: 4, Tokens: 1024, At: t0},
		quota.QuotaReserved{Reservation: "r2", Day: day1, User: "bob", Bot: "clippy", Room: "general", TriggerSeq: 5, Tokens: 1024, At: t0},
		quota.QuotaReserved{Reservation: "r3", Day: day1, User: "alice", Bot: "clippy", Room: "general", TriggerSeq: 6, Tokens: 1024, At: t0},
		quota.QuotaCharged{Reservation: "r1", User: "bob", PromptTokens: 100, GeneratedTokens: 50, At: t0},
		quota.QuotaCharged{Reservation: "r1", User: "bob", PromptTokens: 100, GeneratedTokens: 50, At: t0}, // settled already
		quota.QuotaReleased{Reservation: "r2", User: "bob", Reason: "timeout", At: t0},
		quota.QuotaReleased{Reservation: "nope", User: "bob", At: t0},
	)
	// Reservation ids are per day: r1 on day 2 is another reservation.
	// r3, made on day 1 and charged after midnight, counts on day 1.
	feed(day2, quota.QuotaReserved{Reservation: "r1", Day: day2, User: "bob", Bot: "clippy", Tokens: 1024, At: t0.Add(time.Hour)})
	feed(day1, quota.QuotaCharged{Reservation: "r3", User: "alice", PromptTokens: 10, GeneratedTokens: 5, At: t0.Add(time.Hour)})
	feed("", quota.BotsDisabled{By: "ops", At: t0})

	if got := q.UserDay("bob", day1); got != (Usage{Reserved: 2, Charged: 1, Released: 1, PromptTokens: 100, GeneratedTokens: 50}) {
		t.Errorf("bob on day 1: %+v", got)
	}
	d1 := q.Day(day1)
	if d1.Total != (Usage{Reserved: 3, Charged: 2, Released: 1, PromptTokens: 110, GeneratedTokens: 55}) || d1.Total.Tokens() != 165 || len(d1.Users) != 2 {
		t.Errorf("day 1: %+v", d1)
	}
	if got := q.Total(); got.Reserved != 4 || got.Charged != 2 || got.Outstanding() != 1 {
		t.Errorf("total: %+v", got)
	}
	if got := q.UserTotal("bob"); got.Reserved != 3 || got.Outstanding() != 1 {
		t.Errorf("bob total: %+v", got)
	}
	out := q.Outstanding()
	if len(out) != 1 || out[0].ID != "r1" || out[0].Day != day2 || out[0].Tokens != 1024 {
		t.Errorf("outstanding: %+v", out)
	}
	if got := q.Days(); !slices.Equal(got, []string{day1, day2}) {
		t.Errorf("Days = %v", got)
	}
	if on, at, by := q.BotsEnabled(); on || !at.Equal(t0) || by != "ops" {
		t.Errorf("switch: %t %v %q", on, at, by)
	}
	feedAll(t, q, "x-1")
	if got := q.Total(); got.Reserved != 4 {
		t.Errorf("after snapshot round trip: %+v", got)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	s := NewSessions()
	feedAll(t, s, "x-1",
		session.SessionStarted{Session: "s1", User: "bob", TokenHash: "h1", Verifier: "pow", ExpiresAt: t0.Add(20 * time.Minute), At: t0},
		session.SessionStarted{Session: "s2", User: "bob", TokenHash: "h2", ExpiresAt: t0.Add(20 * time.Minute), At: t0},
		session.SessionStarted{Session: "s3", User: "alice", TokenHash: "h3", ExpiresAt: t0.Add(20 * time.Minute), At: t0},
		session.SessionRenewed{Session: "s1", ExpiresAt: t0.Add(30 * time.Minute), At: t0.Add(10 * time.Minute)},
		session.SessionEnded{Session: "s2", Reason: session.ReasonLogout, At: t0.Add(time.Minute)},
		session.SessionRenewed{Session: "s2", ExpiresAt: t0.Add(time.Hour), At: t0}, // after the end: ignored
	)
	x, ok := s.ByTokenHash("h1")
	if !ok || x.ID != "s1" || x.User != "bob" || !x.ExpiresAt.Equal(t0.Add(30*time.Minute)) || !x.RenewedAt.Equal(t0.Add(10*time.Minute)) || x.Ended {
		t.Errorf("h1: %+v", x)
	}
	if x, _ := s.ByTokenHash("h2"); !x.Ended || x.EndReason != session.ReasonLogout || !x.ExpiresAt.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("h2: %+v", x)
	}
	if got := s.ByUser("bob"); len(got) != 1 || got[0].ID != "s1" {
		t.Errorf("ByUser(bob) = %+v", got)
	}
	if s.Live() != 2 {
		t.Errorf("Live = %d", s.Live())
	}

	// Ended sessions are kept up to EndedSessionsKept, oldest forgotten.
	for i := 0; i < EndedSessionsKept+5; i++ {
		id := fmt.Sprint("e", i)
		s.Apply(eventstore.Record{}, session.SessionStarted{Session: id, User: "carol", TokenHash: "t" + id, At: t0})
		s.Apply(eventstore.Record{}, session.SessionEnded{Session: id, Reason: session.ReasonExpired, At: t0})
	}
	if _, ok := s.ByTokenHash("h2"); ok {
		t.Error("oldest ended session still kept")
	}
	if _, ok := s.ByTokenHash("te5"); !ok {
		t.Error("recent ended session forgotten")
	}
	if _, ok := s.ByID("e4"); ok {
		t.Error("e4 still kept")
	}
	if s.Live() != 2 || len(s.ByUser("carol")) != 0 {
		t.Errorf("Live = %d", s.Live())
	}
	feedAll(t, s, "x-1")
	if _, ok := s.ByTokenHash("h1"); !ok {
		t.Error("live session lost in the snapshot")
	}
}

// Members is cached between membership changes; every change shows.
func TestDirectoryMembersFollowChanges(t *testing.T) {
	t.Parallel()
	d := NewDirectory()
	pos := uint64(0)
	apply := func(ev domain.Event) {
		pos++
		d.Apply(eventstore.Record{ID: uuid.New(), Stream: "room-lobby", Position: pos}, ev)
	}
	apply(room.RoomCreated{Room: "lobby", Name: "Lobby", Visibility: room.Public, By: "bob", At: t0})
	for _, step := range []struct {
		ev   domain.Event
		want []string
	}{
		{room.MemberJoined{Room: "lobby", User: "bob", At: t0}, []string{"bob"}},
		{room.MemberJoined{Room: "lobby", User: "alice", At: t0}, []string{"alice", "bob"}},
		{room.MessagePosted{Room: "lobby", Seq: 1, Sender: "bob", Kind: room.KindChat, Text: "hi", At: t0}, []string{"alice", "bob"}},
		{room.MemberLeft{Room: "lobby", User: "bob", At: t0}, []string{"alice"}},
		{room.MemberJoined{Room: "lobby", User: "carol", At: t0}, []string{"alice", "carol"}},
	} {
		apply(step.ev)
		for range 2 { // the second answer comes from the cache
			if got := d.Members("lobby"); !slices.Equal(got, step.want) {
				t.Fatalf("after %T: Members = %v, want %v", step.ev, got, step.want)
			}
		}
	}
	// A snapshot round trip starts a fresh cache.
	b, _ := d.MarshalSnapshot()
	if err := d.UnmarshalSnapshot(b); err != nil {
		t.Fatal(err)
	}
	if got := d.Members("lobby"); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Fatalf("after a snapshot: %v", got)
	}
}
