package room_test

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/room"
)

var t0 = time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

// Fixtures: "general" (public, created by alice), "secret" (private,
// created by alice) and the direct room of alice and bob.
var dm = room.DirectID("alice", "bob")

func created(id string, vis room.Visibility) []domain.Event {
	return []domain.Event{
		room.RoomCreated{Room: id, Name: "Room " + id, Visibility: vis, By: "alice", ClientID: "c-create", At: t0},
		room.MemberJoined{Room: id, User: "alice", ClientID: "c-create", At: t0},
	}
}

func direct() []domain.Event {
	return []domain.Event{room.RoomCreated{Room: dm, Visibility: room.Direct, Members: []string{"alice", "bob"}, By: "alice", ClientID: "c-dm", At: t0}}
}

func joined(id, user string) room.MemberJoined {
	return room.MemberJoined{Room: id, User: user, ClientID: "join-" + user, At: t0}
}

func left(id, user string) room.MemberLeft {
	return room.MemberLeft{Room: id, User: user, ClientID: "leave-" + user, At: t0}
}

func chat(id string, seq uint64, by string, at time.Time) room.MessagePosted {
	return room.MessagePosted{Room: id, Seq: seq, Sender: by, Kind: room.KindChat, Text: fmt.Sprintf("message %d", seq), ClientID: fmt.Sprintf("m%d", seq), At: at}
}

// posts returns n messages of one kind by user in room id, numbered from
// seq, one every step from start.
func posts(id string, kind room.Kind, by string, seq uint64, n int, start time.Time, step time.Duration) []domain.Event {
	var evs []domain.Event
	for i := range n {
		e := chat(id, seq+uint64(i), by, start.Add(time.Duration(i)*step))
		e.Kind = kind
		if kind != room.KindChat {
			e.Text = ""
		}
		if kind == room.KindWink {
			e.Wink = "frog"
		}
		evs = append(evs, e)
	}
	return evs
}

func cat(parts ...any) []domain.Event {
	var all []domain.Event
	for _, p := range parts {
		switch p := p.(type) {
		case []domain.Event:
			all = append(all, p...)
		case domain.Event:
			all = append(all, p)
		default:
			panic(fmt.Sprintf("cat: %T", p))
		}
	}
	return all
}

type testCase struct {
	name    string
	policy  *domain.Policy // nil: DefaultPolicy
	given   []domain.Event
	when    room.Command
	then    []domain.Event
	wantErr error
}

func run(t *testing.T, tests []testCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := domain.DefaultPolicy()
			if tt.policy != nil {
				p = *tt.policy
			}
			s := room.New(p)
			for _, e := range tt.given {
				s = room.Evolve(s, e)
			}
			got, err := room.Decide(s, tt.when, p)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.then) {
				t.Fatalf("events:\n got %#v\nwant %#v", got, tt.then)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	run(t, []testCase{
		{
			name: "create a public room and join it",
			when: room.Create{Room: "general", Name: " General Chat ", Visibility: room.Public, By: "alice", ClientID: "c1", At: t0},
			then: []domain.Event{
				room.RoomCreated{Room: "general", Name: "General Chat", Visibility: room.Public, By: "alice", ClientID: "c1", At: t0},
				room.MemberJoined{Room: "general", User: "alice", ClientID: "c1", At: t0},
			},
		},
		{
			name: "create a private room",
			when: room.Create{Room: "secret", Name: "Music 🎵", Visibility: room.Private, By: "bob", ClientID: "c1", At: t0},
			then: []domain.Event{
				room.RoomCreated{Room: "secret", Name: "Music 🎵", Visibility: room.Private, By: "bob", ClientID: "c1", At: t0},
				room.MemberJoined{Room: "secret", User: "bob", ClientID: "c1", At: t0},
			},
		},
		{
			name:    "create a direct room",
			when:    room.Create{Room: "x", Name: "X", Visibility: room.Direct, By: "alice", ClientID: "c1", At: t0},
			wantErr: &domain.InvalidError{Field: "Visibility", Reason: "must be public or private"},
		},
		{
			name:    "create with the direct prefix",
			when:    room.Create{Room: "dm_x", Name: "X", Visibility: room.Public, By: "alice", ClientID: "c1", At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "create with a bad id",
			when:    room.Create{Room: "General", Name: "X", Visibility: room.Public, By: "alice", ClientID: "c1", At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "create with an empty name",
			when:    room.Create{Room: "x", Name: "  ", Visibility: room.Public, By: "alice", ClientID: "c1", At: t0},
			wantErr: &domain.InvalidError{Field: "Name", Reason: "empty"},
		},
		{
			name: "create with a name of exactly 64 runes",
			when: room.Create{Room: "x", Name: strings.Repeat("é", 64), Visibility: room.Public, By: "alice", ClientID: "c1", At: t0},
			then: []domain.Event{
				room.RoomCreated{Room: "x", Name: strings.Repeat("é", 64), Visibility: room.Public, By: "alice", ClientID: "c1", At: t0},
				room.MemberJoined{Room: "x", User: "alice", ClientID: "c1", At: t0},
			},
		},
		{
			name:    "create with a name of 65 runes",
			when:    room.Create{Room: "x", Name: strings.Repeat("é", 65), Visibility: room.Public, By: "alice", ClientID: "c1", At: t0},
			wantErr: &domain.TooLongError{Field: "Name", Max: 64},
		},
		{
			name:    "resend the create",
			given:   created("general", room.Public),
			when:    room.Create{Room: "general", Name: "Other", Visibility: room.Public, By: "alice", ClientID: "c-create", At: sec(5)},
			wantErr: &domain.DuplicateError{ID: "c-create", Room: "general", At: t0},
		},
		{
			name:    "resend the create after the room forgot its command ids",
			policy:  &domain.Policy{SessionTTL: time.Minute, DedupMaxPerRoom: 1},
			given:   cat(created("general", room.Public), joined("general", "bob")),
			when:    room.Create{Room: "general", Name: "Other", Visibility: room.Public, By: "alice", ClientID: "c-create", At: sec(5)},
			wantErr: &domain.DuplicateError{ID: "c-create", Room: "general", At: t0},
		},
		{
			name:    "create an existing room",
			given:   created("general", room.Public),
			when:    room.Create{Room: "general", Name: "Mine", Visibility: room.Public, By: "bob", ClientID: "c1", At: t0},
			wantErr: room.ErrExists,
		},
		{
			name:    "create without client id",
			when:    room.Create{Room: "x", Name: "X", Visibility: room.Public, By: "alice", At: t0},
			wantErr: &domain.InvalidError{Field: "ClientID", Reason: "length must be 1 to 64"},
		},
		{
			name:    "create with a client id of 65 characters",
			when:    room.Create{Room: "x", Name: "X", Visibility: room.Public, By: "alice", ClientID: strings.Repeat("c", 65), At: t0},
			wantErr: &domain.InvalidError{Field: "ClientID", Reason: "length must be 1 to 64"},
		},
		{
			name:    "create without time",
			when:    room.Create{Room: "x", Name: "X", Visibility: room.Public, By: "alice", ClientID: "c1"},
			wantErr: &domain.InvalidError{Field: "At", Reason: "missing"},
		},
	})
}

func TestOpenDirect(t *testing.T) {
	t.Parallel()
	run(t, []testCase{
		{
			name: "open a new direct room",
			when: room.OpenDirect{Room: dm, By: "bob", With: "alice", WithExists: true, ClientID: "c1", At: t0},
			then: []domain.Event{room.RoomCreated{Room: dm, Visibility: room.Direct, Members: []string{"alice", "bob"}, By: "bob", ClientID: "c1", At: t0}},
		},
		{
			name:  "open it again",
			given: direct(),
			when:  room.OpenDirect{Room: dm, By: "alice", With: "bob", WithExists: true, ClientID: "c2", At: t0},
		},
		{
			name:  "the other user opens it",
			given: direct(),
			when:  room.OpenDirect{Room: dm, By: "bob", With: "alice", WithExists: true, ClientID: "c2", At: t0},
		},
		{
			name:    "resend the open",
			given:   direct(),
			when:    room.OpenDirect{Room: dm, By: "alice", With: "bob", WithExists: true, ClientID: "c-dm", At: sec(3)},
			wantErr: &domain.DuplicateError{ID: "c-dm", Room: dm, At: t0},
		},
		{
			name:  "open after leaving rejoins",
			given: cat(direct(), left(dm, "bob")),
			when:  room.OpenDirect{Room: dm, By: "bob", With: "alice", WithExists: true, ClientID: "c2", At: sec(1)},
			then:  []domain.Event{room.MemberJoined{Room: dm, User: "bob", ClientID: "c2", At: sec(1)}},
		},
		{
			name:    "a third user opens it",
			given:   direct(),
			when:    room.OpenDirect{Room: dm, By: "carol", With: "alice", WithExists: true, ClientID: "c1", At: t0},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "open a direct room with yourself",
			when:    room.OpenDirect{Room: room.DirectID("alice", "alice"), By: "alice", With: "alice", WithExists: true, ClientID: "c1", At: t0},
			wantErr: &domain.InvalidError{Field: "With", Reason: "cannot open a direct room with yourself"},
		},
		{
			name:    "open a direct room with nobody",
			when:    room.OpenDirect{Room: dm, By: "alice", With: "bob", ClientID: "c1", At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:    "open with the wrong room id",
			when:    room.OpenDirect{Room: room.DirectID("alice", "carol"), By: "alice", With: "bob", WithExists: true, ClientID: "c1", At: t0},
			wantErr: &domain.InvalidError{Field: "Room", Reason: "not the direct room of By and With"},
		},
	})
}

func TestMembership(t *testing.T) {
	t.Parallel()
	secret := created("secret", room.Private)
	general := created("general", room.Public)
	run(t, []testCase{
		{
			name:  "invite to a private room",
			given: secret,
			when:  room.Invite{Room: "secret", User: "bob", UserExists: true, By: "alice", ClientID: "i1", At: sec(1)},
			then:  []domain.Event{room.MemberInvited{Room: "secret", User: "bob", By: "alice", ClientID: "i1", At: sec(1)}},
		},
		{
			name:    "invite to a public room",
			given:   general,
			when:    room.Invite{Room: "general", User: "bob", UserExists: true, By: "alice", ClientID: "i1", At: t0},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "invite a third user to a direct room",
			given:   direct(),
			when:    room.Invite{Room: dm, User: "carol", UserExists: true, By: "alice", ClientID: "i1", At: t0},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "invite without being a member",
			given:   secret,
			when:    room.Invite{Room: "secret", User: "carol", UserExists: true, By: "bob", ClientID: "i1", At: t0},
			wantErr: domain.ErrNotMember,
		},
		{
			name:  "invite a member",
			given: cat(secret, room.MemberInvited{Room: "secret", User: "bob", By: "alice", ClientID: "i0", At: t0}, joined("secret", "bob")),
			when:  room.Invite{Room: "secret", User: "bob", UserExists: true, By: "alice", ClientID: "i1", At: t0},
		},
		{
			name:  "invite someone already invited",
			given: cat(secret, room.MemberInvited{Room: "secret", User: "bob", By: "alice", ClientID: "i0", At: t0}),
			when:  room.Invite{Room: "secret", User: "bob", UserExists: true, By: "alice", ClientID: "i1", At: t0},
		},
		{
			name:    "invite someone who does not exist",
			given:   secret,
			when:    room.Invite{Room: "secret", User: "nobody", By: "alice", ClientID: "i1", At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:  "join a public room",
			given: general,
			when:  room.Join{Room: "general", By: "bob", ClientID: "j1", At: sec(2)},
			then:  []domain.Event{room.MemberJoined{Room: "general", User: "bob", ClientID: "j1", At: sec(2)}},
		},
		{
			name:  "join a private room when invited",
			given: cat(secret, room.MemberInvited{Room: "secret", User: "bob", By: "alice", ClientID: "i0", At: t0}),
			when:  room.Join{Room: "secret", By: "bob", ClientID: "j1", At: t0},
			then:  []domain.Event{room.MemberJoined{Room: "secret", User: "bob", ClientID: "j1", At: t0}},
		},
		{
			name:    "join a private room uninvited",
			given:   secret,
			when:    room.Join{Room: "secret", By: "bob", ClientID: "j1", At: t0},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "rejoin a private room after leaving needs a new invitation",
			given:   cat(secret, room.MemberInvited{Room: "secret", User: "bob", By: "alice", ClientID: "i0", At: t0}, joined("secret", "bob"), left("secret", "bob")),
			when:    room.Join{Room: "secret", By: "bob", ClientID: "j2", At: t0},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "a third user joins a direct room",
			given:   direct(),
			when:    room.Join{Room: dm, By: "carol", ClientID: "j1", At: t0},
			wantErr: domain.ErrForbidden,
		},
		{
			name:  "one of the two rejoins a direct room",
			given: cat(direct(), left(dm, "alice")),
			when:  room.Join{Room: dm, By: "alice", ClientID: "j1", At: t0},
			then:  []domain.Event{room.MemberJoined{Room: dm, User: "alice", ClientID: "j1", At: t0}},
		},
		{
			name:  "join as a member",
			given: direct(),
			when:  room.Join{Room: dm, By: "bob", ClientID: "j1", At: t0},
		},
		{
			name:    "join a missing room",
			when:    room.Join{Room: "nowhere", By: "bob", ClientID: "j1", At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:    "resend a join",
			given:   cat(general, joined("general", "bob"), left("general", "bob")),
			when:    room.Join{Room: "general", By: "bob", ClientID: "join-bob", At: sec(9)},
			wantErr: &domain.DuplicateError{ID: "join-bob", Room: "general", At: t0},
		},
		{
			name:  "leave",
			given: cat(general, joined("general", "bob")),
			when:  room.Leave{Room: "general", By: "bob", ClientID: "l1", At: sec(1)},
			then:  []domain.Event{room.MemberLeft{Room: "general", User: "bob", ClientID: "l1", At: sec(1)}},
		},
		{
			name:  "leave a direct room",
			given: direct(),
			when:  room.Leave{Room: dm, By: "bob", ClientID: "l1", At: t0},
			then:  []domain.Event{room.MemberLeft{Room: dm, User: "bob", ClientID: "l1", At: t0}},
		},
		{
			name:    "leave without being a member",
			given:   general,
			when:    room.Leave{Room: "general", By: "bob", ClientID: "l1", At: t0},
			wantErr: domain.ErrNotMember,
		},
		{
			name:    "leave a missing room",
			when:    room.Leave{Room: "nowhere", By: "bob", ClientID: "l1", At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:    "a command for another room's stream",
			given:   general,
			when:    room.Leave{Room: "music", By: "alice", ClientID: "l1", At: t0},
			wantErr: &domain.InvalidError{Field: "Room", Reason: "does not match the stream"},
		},
	})
}

func TestPost(t *testing.T) {
	t.Parallel()
	general := cat(created("general", room.Public), joined("general", "bob"))
	posted := func(seq uint64, by, cid, text string, at time.Time) []domain.Event {
		return []domain.Event{room.MessagePosted{Room: "general", Seq: seq, Sender: by, Kind: room.KindChat, Text: text, ClientID: cid, At: at}}
	}
	run(t, []testCase{
		{
			name:  "chat",
			given: general,
			when:  room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "  hello\nworld \t", At: sec(1)},
			then:  posted(1, "bob", "m1", "hello\nworld", sec(1)),
		},
		{
			name:  "seqs continue across membership events",
			given: cat(general, chat("general", 1, "alice", t0), room.MemberJoined{Room: "general", User: "carol", ClientID: "j", At: t0}, chat("general", 2, "carol", t0), left("general", "carol")),
			when:  room.PostChat{Room: "general", By: "bob", ClientID: "m9", Text: "hi", At: sec(1)},
			then:  posted(3, "bob", "m9", "hi", sec(1)),
		},
		{
			name:    "chat without being a member",
			given:   general,
			when:    room.PostChat{Room: "general", By: "carol", ClientID: "m1", Text: "hi", At: t0},
			wantErr: domain.ErrNotMember,
		},
		{
			name:    "chat after leaving",
			given:   cat(general, left("general", "bob")),
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hi", At: t0},
			wantErr: domain.ErrNotMember,
		},
		{
			name:    "chat in a missing room",
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hi", At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:    "empty chat",
			given:   general,
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: " \n ", At: t0},
			wantErr: &domain.InvalidError{Field: "Text", Reason: "empty"},
		},
		{
			name:  "chat of exactly 2048 runes",
			given: general,
			when:  room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: strings.Repeat("ü", 2048), At: t0},
			then:  posted(1, "bob", "m1", strings.Repeat("ü", 2048), t0),
		},
		{
			name:    "chat of 2049 runes",
			given:   general,
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: strings.Repeat("ü", 2049), At: t0},
			wantErr: &domain.TooLongError{Field: "Text", Max: 2048},
		},
		{
			name:    "chat of invalid UTF-8",
			given:   general,
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hi \xc3\x28", At: t0},
			wantErr: &domain.InvalidError{Field: "Text", Reason: "invalid UTF-8"},
		},
		{
			name:    "chat with a control character",
			given:   general,
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "bell\a", At: t0},
			wantErr: &domain.InvalidError{Field: "Text", Reason: "control character"},
		},
		{
			name:    "chat without client id",
			given:   general,
			when:    room.PostChat{Room: "general", By: "bob", Text: "hi", At: t0},
			wantErr: &domain.InvalidError{Field: "ClientID", Reason: "length must be 1 to 64"},
		},
		{
			name:    "chat without time",
			given:   general,
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hi"},
			wantErr: &domain.InvalidError{Field: "At", Reason: "missing"},
		},
		{
			name:  "the 20th chat within the window",
			given: cat(general, posts("general", room.KindChat, "bob", 1, 19, t0, time.Second)),
			when:  room.PostChat{Room: "general", By: "bob", ClientID: "x", Text: "hi", At: sec(29)},
			then:  posted(20, "bob", "x", "hi", sec(29)),
		},
		{
			name:    "the 21st chat within the window",
			given:   cat(general, posts("general", room.KindChat, "bob", 1, 20, t0, time.Second)),
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "x", Text: "hi", At: sec(29)},
			wantErr: &domain.RateLimitedError{Action: "chat", RetryAfter: time.Second},
		},
		{
			name:    "the 21st chat a nanosecond before the oldest leaves the window",
			given:   cat(general, posts("general", room.KindChat, "bob", 1, 20, t0, time.Second)),
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "x", Text: "hi", At: sec(30).Add(-time.Nanosecond)},
			wantErr: &domain.RateLimitedError{Action: "chat", RetryAfter: time.Nanosecond},
		},
		{
			name:  "the 21st chat exactly when the oldest leaves the window",
			given: cat(general, posts("general", room.KindChat, "bob", 1, 20, t0, time.Second)),
			when:  room.PostChat{Room: "general", By: "bob", ClientID: "x", Text: "hi", At: sec(30)},
			then:  posted(21, "bob", "x", "hi", sec(30)),
		},
		{
			name:    "the window survives leaving and rejoining",
			given:   cat(general, posts("general", room.KindChat, "bob", 1, 20, t0, 0), left("general", "bob"), room.MemberJoined{Room: "general", User: "bob", ClientID: "j2", At: sec(1)}),
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "x", Text: "hi", At: sec(10)},
			wantErr: &domain.RateLimitedError{Action: "chat", RetryAfter: 20 * time.Second},
		},
		{
			name:  "the window is per user",
			given: cat(general, posts("general", room.KindChat, "bob", 1, 20, t0, 0)),
			when:  room.PostChat{Room: "general", By: "alice", ClientID: "x", Text: "hi", At: sec(1)},
			then:  posted(21, "alice", "x", "hi", sec(1)),
		},
		{
			name:  "chats do not count against nudges",
			given: cat(general, posts("general", room.KindChat, "bob", 1, 20, t0, 0)),
			when:  room.Nudge{Room: "general", By: "bob", ClientID: "n", At: sec(1)},
			then:  []domain.Event{room.MessagePosted{Room: "general", Seq: 21, Sender: "bob", Kind: room.KindNudge, ClientID: "n", At: sec(1)}},
		},
		{
			name:    "resend a chat",
			given:   cat(general, posted(1, "bob", "m1", "hello", sec(1))),
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hello", At: sec(5)},
			wantErr: &domain.DuplicateError{ID: "m1", Room: "general", Seq: 1, At: sec(1)},
		},
		{
			name:    "resend a chat after leaving",
			given:   cat(general, posted(1, "bob", "m1", "hello", sec(1)), left("general", "bob")),
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hello", At: sec(5)},
			wantErr: &domain.DuplicateError{ID: "m1", Room: "general", Seq: 1, At: sec(1)},
		},
		{
			name:  "another user's client id is not a repeat",
			given: cat(general, posted(1, "bob", "m1", "hello", sec(1))),
			when:  room.PostChat{Room: "general", By: "alice", ClientID: "m1", Text: "hello", At: sec(2)},
			then:  posted(2, "alice", "m1", "hello", sec(2)),
		},
		{
			name:   "a client id forgotten by count is applied again",
			policy: &domain.Policy{SessionTTL: time.Minute, DedupMaxPerRoom: 1, MaxTextRunes: 10},
			given:  cat(general, posted(1, "bob", "m1", "hello", sec(1)), posted(2, "bob", "m2", "hello", sec(2))),
			when:   room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hello", At: sec(3)},
			then:   posted(3, "bob", "m1", "hello", sec(3)),
		},
		{
			name:    "a client id within the count is still remembered",
			policy:  &domain.Policy{SessionTTL: time.Minute, DedupMaxPerRoom: 2, MaxTextRunes: 10},
			given:   cat(general, posted(1, "bob", "m1", "hello", sec(1)), posted(2, "bob", "m2", "hello", sec(2))),
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m2", Text: "hello", At: sec(3)},
			wantErr: &domain.DuplicateError{ID: "m2", Room: "general", Seq: 2, At: sec(2)},
		},
		{
			name:  "a client id forgotten by age is applied again",
			given: cat(general, posted(1, "bob", "m1", "hello", t0), posted(2, "alice", "a1", "later", t0.Add(24*time.Hour+time.Second))),
			when:  room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hello", At: t0.Add(25 * time.Hour)},
			then:  posted(3, "bob", "m1", "hello", t0.Add(25*time.Hour)),
		},
		{
			name:    "a client id exactly one window old is still remembered",
			given:   cat(general, posted(1, "bob", "m1", "hello", t0), posted(2, "alice", "a1", "later", t0.Add(24*time.Hour))),
			when:    room.PostChat{Room: "general", By: "bob", ClientID: "m1", Text: "hello", At: t0.Add(25 * time.Hour)},
			wantErr: &domain.DuplicateError{ID: "m1", Room: "general", Seq: 1, At: t0},
		},
		{
			name:  "nudge",
			given: general,
			when:  room.Nudge{Room: "general", By: "bob", ClientID: "n1", At: t0},
			then:  []domain.Event{room.MessagePosted{Room: "general", Seq: 1, Sender: "bob", Kind: room.KindNudge, ClientID: "n1", At: t0}},
		},
		{
			name:    "nudge without being a member",
			given:   general,
			when:    room.Nudge{Room: "general", By: "carol", ClientID: "n1", At: t0},
			wantErr: domain.ErrNotMember,
		},
		{
			name:    "the 4th nudge within 10 s",
			given:   cat(general, posts("general", room.KindNudge, "bob", 1, 3, t0, 2*time.Second)),
			when:    room.Nudge{Room: "general", By: "bob", ClientID: "n4", At: sec(6)},
			wantErr: &domain.RateLimitedError{Action: "nudge", RetryAfter: 4 * time.Second},
		},
		{
			name:  "the 4th nudge exactly 10 s after the first",
			given: cat(general, posts("general", room.KindNudge, "bob", 1, 3, t0, 2*time.Second)),
			when:  room.Nudge{Room: "general", By: "bob", ClientID: "n4", At: sec(10)},
			then:  []domain.Event{room.MessagePosted{Room: "general", Seq: 4, Sender: "bob", Kind: room.KindNudge, ClientID: "n4", At: sec(10)}},
		},
		{
			name:  "wink",
			given: general,
			when:  room.Wink{Room: "general", By: "bob", ClientID: "w1", Wink: "dancing_pig", At: t0},
			then:  []domain.Event{room.MessagePosted{Room: "general", Seq: 1, Sender: "bob", Kind: room.KindWink, Wink: "dancing_pig", ClientID: "w1", At: t0}},
		},
		{
			name:    "wink not in the catalogue",
			given:   general,
			when:    room.Wink{Room: "general", By: "bob", ClientID: "w1", Wink: "pig", At: t0},
			wantErr: &domain.InvalidError{Field: "Wink", Reason: "not in the catalogue"},
		},
		{
			name:    "the 4th wink within 10 s",
			given:   cat(general, posts("general", room.KindWink, "bob", 1, 3, t0, time.Second)),
			when:    room.Wink{Room: "general", By: "bob", ClientID: "w4", Wink: "frog", At: sec(3)},
			wantErr: &domain.RateLimitedError{Action: "wink", RetryAfter: 7 * time.Second},
		},
		{
			name:    "wink without being a member",
			given:   general,
			when:    room.Wink{Room: "general", By: "carol", ClientID: "w1", Wink: "frog", At: t0},
			wantErr: domain.ErrNotMember,
		},
		{
			name:  "chat in a direct room",
			given: direct(),
			when:  room.PostChat{Room: dm, By: "bob", ClientID: "m1", Text: "hey", At: t0},
			then:  []domain.Event{room.MessagePosted{Room: dm, Seq: 1, Sender: "bob", Kind: room.KindChat, Text: "hey", ClientID: "m1", At: t0}},
		},
	})
}

func TestBotAndSystem(t *testing.T) {
	t.Parallel()
	general := cat(created("general", room.Public), chat("general", 1, "alice", t0))
	reply := room.MessagePosted{Room: "general", Seq: 2, Sender: "bot_clippy", Kind: room.KindBot, Text: "It looks like you're writing a letter!", ClientID: "bot-1", TriggerSeq: 1, At: sec(2)}
	notice := room.MessagePosted{Room: "general", Seq: 2, Kind: room.KindSystem, Text: "Clippy is unavailable right now", ClientID: "cause-1", CauseID: "cause-1", At: sec(2)}
	run(t, []testCase{
		{
			name:  "a bot replies without being a member",
			given: general,
			when:  room.PostBot{Room: "general", Bot: "bot_clippy", TriggerSeq: 1, Text: " It looks like you're writing a letter! ", ClientID: "bot-1", At: sec(2)},
			then:  []domain.Event{reply},
		},
		{
			name:    "a second reply to the same message",
			given:   cat(general, reply),
			when:    room.PostBot{Room: "general", Bot: "bot_hal", TriggerSeq: 1, Text: "I'm afraid I can't do that.", ClientID: "bot-2", At: sec(3)},
			wantErr: &domain.DuplicateError{ID: "trigger:1", Room: "general", Seq: 2, At: sec(2)},
		},
		{
			name:    "a resent bot reply",
			given:   cat(general, reply),
			when:    room.PostBot{Room: "general", Bot: "bot_clippy", TriggerSeq: 1, Text: "again", ClientID: "bot-1", At: sec(3)},
			wantErr: &domain.DuplicateError{ID: "bot-1", Room: "general", Seq: 2, At: sec(2)},
		},
		{
			name:    "a reply to a bot message",
			given:   cat(general, reply),
			when:    room.PostBot{Room: "general", Bot: "bot_hal", TriggerSeq: 2, Text: "hi", At: sec(3)},
			wantErr: &domain.InvalidError{Field: "TriggerSeq", Reason: "not a human message"},
		},
		{
			name:    "a reply to a system message",
			given:   cat(general, notice),
			when:    room.PostBot{Room: "general", Bot: "bot_hal", TriggerSeq: 2, Text: "hi", At: sec(3)},
			wantErr: &domain.InvalidError{Field: "TriggerSeq", Reason: "not a human message"},
		},
		{
			name:    "a reply to a message that does not exist",
			given:   general,
			when:    room.PostBot{Room: "general", Bot: "bot_hal", TriggerSeq: 2, Text: "hi", At: sec(3)},
			wantErr: &domain.InvalidError{Field: "TriggerSeq", Reason: "no such message"},
		},
		{
			name:    "a reply to nothing",
			given:   general,
			when:    room.PostBot{Room: "general", Bot: "bot_hal", Text: "hi", At: sec(3)},
			wantErr: &domain.InvalidError{Field: "TriggerSeq", Reason: "no such message"},
		},
		{
			name:    "a reply in a missing room",
			when:    room.PostBot{Room: "general", Bot: "bot_hal", TriggerSeq: 1, Text: "hi", At: sec(3)},
			wantErr: domain.ErrNotFound,
		},
		{
			name:    "an empty reply",
			given:   general,
			when:    room.PostBot{Room: "general", Bot: "bot_hal", TriggerSeq: 1, Text: "", At: sec(3)},
			wantErr: &domain.InvalidError{Field: "Text", Reason: "empty"},
		},
		{
			name:  "bots are not rate-limited",
			given: cat(created("general", room.Public), posts("general", room.KindChat, "alice", 1, 20, t0, 0), posts("general", room.KindBot, "bot_tom", 21, 19, t0, 0)),
			when:  room.PostBot{Room: "general", Bot: "bot_tom", TriggerSeq: 20, Text: "hi :-)", At: t0},
			then:  []domain.Event{room.MessagePosted{Room: "general", Seq: 40, Sender: "bot_tom", Kind: room.KindBot, Text: "hi :-)", TriggerSeq: 20, At: t0}},
		},
		{
			name:  "a system notice",
			given: general,
			when:  room.PostSystem{Room: "general", Text: "Clippy is unavailable right now", CauseID: "cause-1", At: sec(2)},
			then:  []domain.Event{notice},
		},
		{
			name:    "the same notice again",
			given:   cat(general, notice),
			when:    room.PostSystem{Room: "general", Text: "Clippy is unavailable right now", CauseID: "cause-1", At: sec(4)},
			wantErr: &domain.DuplicateError{ID: "cause-1", Room: "general", Seq: 2, At: sec(2)},
		},
		{
			name:    "a notice in a missing room",
			when:    room.PostSystem{Room: "general", Text: "x", At: sec(2)},
			wantErr: domain.ErrNotFound,
		},
	})
}

func TestReadMarker(t *testing.T) {
	t.Parallel()
	general := cat(created("general", room.Public), joined("general", "bob"), posts("general", room.KindChat, "alice", 1, 5, t0, 0))
	run(t, []testCase{
		{
			name:  "move the read marker",
			given: general,
			when:  room.MoveReadMarker{Room: "general", By: "bob", Seq: 3, At: sec(1)},
			then:  []domain.Event{room.ReadMarkerMoved{Room: "general", User: "bob", Seq: 3, At: sec(1)}},
		},
		{
			name:  "move it to where it is",
			given: cat(general, room.ReadMarkerMoved{Room: "general", User: "bob", Seq: 3, At: t0}),
			when:  room.MoveReadMarker{Room: "general", By: "bob", Seq: 3, At: sec(1)},
		},
		{
			name:  "move it back",
			given: cat(general, room.ReadMarkerMoved{Room: "general", User: "bob", Seq: 4, At: t0}),
			when:  room.MoveReadMarker{Room: "general", By: "bob", Seq: 2, At: sec(1)},
		},
		{
			name:    "move it beyond the latest message",
			given:   general,
			when:    room.MoveReadMarker{Room: "general", By: "bob", Seq: 6, At: sec(1)},
			wantErr: &domain.InvalidError{Field: "Seq", Reason: "beyond the latest message"},
		},
		{
			name:    "move it without being a member",
			given:   general,
			when:    room.MoveReadMarker{Room: "general", By: "carol", Seq: 1, At: sec(1)},
			wantErr: domain.ErrNotMember,
		},
	})
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	var s room.State
	if s.Exists() || s.IsMember("alice") || s.LastSeq() != 0 || s.Members() != nil {
		t.Fatal("zero state is not empty")
	}
	for _, e := range cat(created("secret", room.Private),
		room.MemberInvited{Room: "secret", User: "carol", By: "alice", ClientID: "i1", At: t0},
		room.MemberInvited{Room: "secret", User: "bob", By: "alice", ClientID: "i2", At: t0},
		joined("secret", "bob"),
		posts("secret", room.KindChat, "bob", 1, 3, t0, time.Second),
		room.ReadMarkerMoved{Room: "secret", User: "bob", Seq: 2, At: t0},
		room.ReadMarkerMoved{Room: "secret", User: "bob", Seq: 1, At: t0},
	) {
		s = room.Evolve(s, e)
	}
	if got := s.Members(); !reflect.DeepEqual(got, []string{"alice", "bob"}) {
		t.Errorf("Members() = %v", got)
	}
	if !s.Exists() || s.ID() != "secret" || s.Name() != "Room secret" || s.Visibility() != room.Private || s.CreatedBy() != "alice" {
		t.Errorf("room: %v %v %v %v", s.ID(), s.Name(), s.Visibility(), s.CreatedBy())
	}
	if !s.IsInvited("carol") || s.IsInvited("bob") || s.IsMember("carol") || s.MemberCount() != 2 {
		t.Errorf("invitations: carol %v, bob %v", s.IsInvited("carol"), s.IsInvited("bob"))
	}
	if s.LastSeq() != 3 || s.ReadMarker("bob") != 2 || s.ReadMarker("alice") != 0 {
		t.Errorf("LastSeq %d, ReadMarker(bob) %d", s.LastSeq(), s.ReadMarker("bob"))
	}
	if seq, at, ok := s.Remembered("bob", "m2"); !ok || seq != 2 || !at.Equal(sec(1)) {
		t.Errorf("Remembered(bob, m2) = %d, %v, %v", seq, at, ok)
	}
	if s.DirectMembers() != nil {
		t.Error("DirectMembers of a private room")
	}

	d := room.Evolve(room.State{}, direct()[0])
	if got := d.DirectMembers(); !reflect.DeepEqual(got, []string{"alice", "bob"}) || !d.IsDirectMember("bob") || d.IsDirectMember("carol") {
		t.Errorf("DirectMembers() = %v", got)
	}
	if got := d.Members(); !reflect.DeepEqual(got, []string{"alice", "bob"}) {
		t.Errorf("direct Members() = %v", got)
	}
}

func TestDirectID(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("alice\nbob"))
	want := "dm_" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:20]
	if got := room.DirectID("alice", "bob"); got != want {
		t.Fatalf("DirectID = %q, want %q", got, want)
	}
	if room.DirectID("bob", "alice") != want {
		t.Fatal("DirectID depends on the order")
	}
	if room.DirectID("alice", "carol") == want {
		t.Fatal("DirectID collides")
	}
	if err := room.ValidateID(want); err != nil {
		t.Fatalf("DirectID is not a valid id: %v", err)
	}
	for _, ok := range []string{"general", "a", "r-1_x", strings.Repeat("a", 64)} {
		if err := room.ValidateID(ok); err != nil {
			t.Errorf("ValidateID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "General", "a b", "a/b", "é", strings.Repeat("a", 65)} {
		if err := room.ValidateID(bad); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("ValidateID(%q) = %v", bad, err)
		}
	}
	if room.Stream("general") != "room-general" {
		t.Error("Stream")
	}
}

func TestWinks(t *testing.T) {
	t.Parallel()
	ws := room.Winks()
	if len(ws) != 12 {
		t.Fatalf("%d winks", len(ws))
	}
	for _, w := range ws {
		if !room.IsWink(w) {
			t.Errorf("IsWink(%q) = false", w)
		}
	}
	for _, w := range []string{"", "Frog", "pig", "frog "} {
		if room.IsWink(w) {
			t.Errorf("IsWink(%q) = true", w)
		}
	}
	ws[0] = "changed"
	if room.Winks()[0] != "beaver" {
		t.Error("the catalogue can be changed through Winks()")
	}
}

func TestTriggerHorizon(t *testing.T) {
	t.Parallel()
	p := domain.DefaultPolicy()
	p.ChatLimit = 0
	s := room.New(p)
	for _, e := range created("general", room.Public) {
		s = room.Evolve(s, e)
	}
	post := func(c room.Command) domain.Event {
		t.Helper()
		evs, err := room.Decide(s, c, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			s = room.Evolve(s, e)
		}
		return evs[0]
	}
	for i := range room.TriggerHorizon {
		post(room.PostChat{Room: "general", By: "alice", ClientID: fmt.Sprint("m", i), Text: "x", At: t0})
	}
	post(room.PostBot{Room: "general", Bot: "bot", TriggerSeq: 1, Text: "first", At: t0})
	if _, err := room.Decide(s, room.PostBot{Room: "general", Bot: "bot", TriggerSeq: 1, Text: "again", At: t0}, p); !errors.Is(err, &domain.InvalidError{Field: "TriggerSeq", Reason: "too old to reply to"}) {
		t.Fatalf("reply beyond the horizon: %v", err)
	}
	if _, err := room.Decide(s, room.PostBot{Room: "general", Bot: "bot", TriggerSeq: 2, Text: "x", At: t0}, p); err != nil {
		t.Fatalf("reply to the oldest message within the horizon: %v", err)
	}
	if _, err := room.Decide(s, room.PostBot{Room: "general", Bot: "bot", TriggerSeq: room.TriggerHorizon + 1, Text: "x", At: t0}, p); !errors.Is(err, &domain.InvalidError{Field: "TriggerSeq", Reason: "not a human message"}) {
		t.Fatalf("reply to a bot reply: %v", err)
	}
}
