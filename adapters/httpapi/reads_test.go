package httpapi_test

import (
	"net/http"
	"testing"

	"switchboard/adapters/httpapi"
	"switchboard/eventstore"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	e.fake.seedUser("bob", "bobs password", false)
	e.fake.setStatus("bob", "invisible")

	expect(t, e.get("/api/users", ""), http.StatusUnauthorized, "unauthorized")
	var d struct {
		Users []httpapi.User `json:"users"`
	}
	e.get("/api/users", e.login("alice", "correct horse")).data(t, &d)
	if len(d.Users) != 2 || d.Users[1].Handle != "bob" || d.Users[1].Status != "offline" {
		t.Errorf("alice sees %+v", d.Users)
	}
	d.Users = nil
	e.get("/api/users", e.login("bob", "bobs password")).data(t, &d)
	if d.Users[1].Status != "invisible" {
		t.Errorf("bob sees himself as %q", d.Users[1].Status)
	}
	// The view's own data is not changed by the API.
	if u, _ := e.fake.User("bob"); u.Status != "invisible" {
		t.Errorf("view mutated: %+v", u)
	}

	demo := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) { c.Demo = true })
	demo.fake.seedUser("user_1", "", true)
	demo.fake.setStatus("user_1", "invisible")
	r := demo.get("/api/users", "")
	expect(t, r, http.StatusOK, "")
	d.Users = nil
	r.data(t, &d)
	if len(d.Users) != 1 || d.Users[0].Status != "offline" {
		t.Errorf("demo directory: %+v", d.Users)
	}
	// A stale token does not turn the public directory into a 401.
	expect(t, demo.get("/api/users", "stale"), http.StatusOK, "")
}

func TestRooms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	e.fake.seedRoom(httpapi.Room{ID: "general", Name: "General", Visibility: "public", LastSeq: 3})
	e.fake.seedRoom(httpapi.Room{ID: "secret", Name: "Secret", Visibility: "private"}, "bob")
	e.fake.seedRoom(httpapi.Room{ID: "team", Name: "Team", Visibility: "private", Members: []string{"alice"}}, "alice")

	expect(t, e.get("/api/rooms", ""), http.StatusUnauthorized, "unauthorized")
	var d struct {
		Rooms []httpapi.Room `json:"rooms"`
	}
	e.get("/api/rooms", e.login("alice", "correct horse")).data(t, &d)
	if len(d.Rooms) != 2 || d.Rooms[0].ID != "general" || d.Rooms[0].LastSeq != 3 || d.Rooms[1].ID != "team" || d.Rooms[1].Members[0] != "alice" {
		t.Errorf("rooms = %+v", d.Rooms)
	}

	empty := newEnv(t)
	empty.fake.seedUser("alice", "correct horse", false)
	r := empty.get("/api/rooms", empty.login("alice", "correct horse"))
	if string(r.env.Data) != `{"rooms":[]}` {
		t.Errorf("no rooms: %s", r.env.Data)
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	e.fake.seedRoom(httpapi.Room{ID: "general", Visibility: "public"}, "alice")
	e.fake.seedRoom(httpapi.Room{ID: "music", Visibility: "public"})
	e.fake.seedRoom(httpapi.Room{ID: "secret", Visibility: "private"}, "bob")
	e.fake.seedRoom(httpapi.Room{ID: "quiet", Visibility: "public"}, "alice")
	e.fake.seedMessages("general", 120)
	tok := e.login("alice", "correct horse")

	type page struct {
		Room     string            `json:"room"`
		Messages []httpapi.Message `json:"messages"`
		Complete bool              `json:"complete"`
	}
	get := func(query string) page {
		t.Helper()
		r := e.get("/api/rooms/general/messages"+query, tok)
		expect(t, r, http.StatusOK, "")
		var p page
		r.data(t, &p)
		return p
	}
	p := get("")
	if p.Room != "general" || len(p.Messages) != 50 || p.Messages[0].Seq != 120 || p.Messages[49].Seq != 71 || p.Complete {
		t.Errorf("default page: room %q, %d messages, %d…%d, complete %v", p.Room, len(p.Messages), p.Messages[0].Seq, p.Messages[len(p.Messages)-1].Seq, p.Complete)
	}
	if m := p.Messages[0]; m.ID != "m120" || m.Sender != "alice" || m.SenderName != "ALICE" || m.Kind != "chat" || m.Text != "hello 120" || m.At != 120_000 {
		t.Errorf("message = %+v", m)
	}
	p = get("?before=71&limit=100")
	if len(p.Messages) != 70 || p.Messages[0].Seq != 70 || p.Messages[69].Seq != 1 || !p.Complete {
		t.Errorf("older page: %d messages, complete %v", len(p.Messages), p.Complete)
	}
	p = get("?before=21&limit=20")
	if len(p.Messages) != 20 || !p.Complete {
		t.Errorf("exact last page: %d messages, complete %v", len(p.Messages), p.Complete)
	}
	p = get("?before=1")
	if len(p.Messages) != 0 || !p.Complete {
		t.Errorf("before the first: %+v", p)
	}
	r := e.get("/api/rooms/quiet/messages", tok)
	if string(r.env.Data) != `{"room":"quiet","messages":[],"complete":true}` {
		t.Errorf("empty room: %s", r.env.Data)
	}

	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/rooms/general/messages?limit=101", 400, "invalid_payload"},
		{"/api/rooms/general/messages?limit=0", 400, "invalid_payload"},
		{"/api/rooms/general/messages?limit=abc", 400, "invalid_payload"},
		{"/api/rooms/general/messages?before=0", 400, "invalid_payload"},
		{"/api/rooms/general/messages?before=-3", 400, "invalid_payload"},
		{"/api/rooms/general/messages?before=1&before=2", 400, "invalid_payload"},
		{"/api/rooms/general/messages?limit=%zz", 400, "invalid_payload"},
		{"/api/rooms/nowhere/messages", 404, "not_found"},
		{"/api/rooms/NOT%20AN%20ID/messages", 404, "not_found"},
		{"/api/rooms/music/messages", 403, "not_member"},
		{"/api/rooms/secret/messages", 404, "not_found"},
	} {
		r := e.get(c.path, tok)
		if r.status != c.status || r.code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.path, r.status, r.raw, c.status, c.code)
		}
	}
	expect(t, e.get("/api/rooms/general/messages", ""), http.StatusUnauthorized, "unauthorized")

	e.fake.set(func(f *fake) { f.failPage = eventstore.ErrUnavailable })
	expect(t, e.get("/api/rooms/general/messages", tok), http.StatusServiceUnavailable, "unavailable")
}

// A post the write side acknowledged (here: recorded, not yet applied by
// the read side) is in the next page of messages: the API catches the
// read side up first.
func TestMessagesReadYourWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	e.fake.seedRoom(httpapi.Room{ID: "general", Visibility: "public"}, "alice")
	e.fake.seedMessages("general", 3)
	tok := e.login("alice", "correct horse")
	e.fake.set(func(f *fake) {
		f.record(func() {
			f.msgs["general"] = append(f.msgs["general"], httpapi.Message{ID: "m4", Seq: 4, Sender: "alice", Kind: "chat", Text: "just acked"})
		})
	})
	r := e.get("/api/rooms/general/messages", tok)
	expect(t, r, http.StatusOK, "")
	var p struct {
		Room     string            `json:"room"`
		Messages []httpapi.Message `json:"messages"`
		Complete bool              `json:"complete"`
	}
	r.data(t, &p)
	if len(p.Messages) != 4 || p.Messages[0].Seq != 4 {
		t.Fatalf("got %d messages, newest %+v; want the acknowledged seq 4 first", len(p.Messages), p.Messages)
	}
}
