package decode

import (
	"reflect"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/presence"
	"switchboard/domain/quota"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/domain/user"
)

var at = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

// samples holds one event of every type, with the awkward texts the codec
// may write: escapes, non-ASCII, HTML characters it escapes, empty fields.
func samples() []domain.Event {
	return []domain.Event{
		user.UserRegistered{Handle: "alice", DisplayName: "Alice \"A\" <b>", PasswordHash: "$argon2id$v=19$x", At: at},
		user.UserRegistered{Handle: "clippy", DisplayName: "Clippy 📎", Bot: &user.Persona{Key: "clippy", Archetype: "helper", Style: "eager\nand\ttabbed"}, Demo: true, Avatar: "av_1", PersonalMessage: "héllo", At: at},
		user.UserRegistered{Handle: "empty", Bot: &user.Persona{}, At: at},
		user.ProfileChanged{Handle: "alice", DisplayName: "Al", PersonalMessage: "back\\slash", Avatar: "", At: at},
		session.SessionStarted{Session: "s1", User: "alice", TokenHash: "ab12", Verifier: "pow", ExpiresAt: at.Add(20 * time.Minute), At: at},
		session.SessionRenewed{Session: "s1", ExpiresAt: at.Add(40 * time.Minute), At: at.Add(time.Minute)},
		session.SessionEnded{Session: "s1", Reason: session.ReasonLogout, At: at},
		room.RoomCreated{Room: "general", Name: "General & more", Visibility: room.Public, By: "alice", ClientID: "c1", At: at},
		room.RoomCreated{Room: "dm_x", Visibility: room.Direct, Members: []string{"alice", "bob"}, By: "alice", At: at},
		room.RoomCreated{Room: "empty", Members: []string{}, At: at},
		room.MemberInvited{Room: "r", User: "bob", By: "alice", ClientID: "c2", At: at},
		room.MemberJoined{Room: "r", User: "bob", ClientID: "c3", At: at},
		room.MemberLeft{Room: "r", User: "bob", At: at},
		room.MessagePosted{Room: "r", Seq: 18446744073709551615, Sender: "bob", Kind: room.KindChat, Text: "hi \u2028 there\u0000 \x7f <script>", ClientID: "c4", At: at},
		room.MessagePosted{Room: "r", Seq: 2, Sender: "clippy", Kind: room.KindBot, Text: "ok", TriggerSeq: 1, At: at},
		room.MessagePosted{Room: "r", Seq: 3, Kind: room.KindSystem, Text: "down", CauseID: "res-1", ClientID: "res-1", At: at},
		room.MessagePosted{Room: "r", Seq: 4, Sender: "bob", Kind: room.KindWink, Wink: "frog", At: at},
		room.ReadMarkerMoved{Room: "r", User: "bob", Seq: 3, At: at},
		presence.PresenceChanged{User: "bob", Status: presence.Online, Chosen: presence.Online, Reason: presence.ReasonConnected, At: at},
		presence.HeartbeatRecorded{User: "bob", At: at},
		quota.QuotaReserved{Reservation: "r1", Day: "2026-03-01", User: "bob", Bot: "clippy", Room: "r", TriggerSeq: 1, Tokens: 1024, At: at},
		quota.QuotaCharged{Reservation: "r1", User: "bob", PromptTokens: 10, GeneratedTokens: 0, At: at},
		quota.QuotaReleased{Reservation: "r1", User: "bob", Reason: "backend_error", At: at},
		quota.BotsEnabled{By: "ops", At: at},
		quota.BotsDisabled{At: at},
	}
}

// TestFastMatchesCodec: every payload the codec writes takes the fast path
// and decodes to the codec's value.
func TestFastMatchesCodec(t *testing.T) {
	t.Parallel()
	shared := NewDecoder()
	for _, e := range append(samples(), samples()...) {
		typ, data, err := codec.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		want, err := codec.Decode(typ, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []*Decoder{nil, shared} {
			got, ok := d.fast(typ, data)
			if !ok {
				t.Errorf("%s %s: fast path refused the codec's own payload", typ, data)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s:\n got %#v\nwant %#v", typ, data, got, want)
			}
		}
	}
}

// oddities are payloads the codec never writes, which the fast path must
// either decode as the codec does or hand over to it.
var oddities = []struct{ typ, data string }{
	{"MessagePosted", `{"Room":"r","seq":1,"at":"2026-03-01T12:00:00Z"}`},              // case-insensitive key
	{"MessagePosted", `{"room":"r","seq":1,"extra":true,"at":"2026-03-01T12:00:00Z"}`}, // unknown key
	{"MessagePosted", `{"room":"r","room":"s","at":"2026-03-01T12:00:00Z"}`},           // repeated key
	{"MessagePosted", `{"room":null,"seq":1,"at":"2026-03-01T12:00:00Z"}`},             // null
	{"MessagePosted", `{"room":"r","seq":1.5}`},                                        // not an integer
	{"MessagePosted", `{"room":"r","seq":-1}`},
	{"MessagePosted", `{"room":"r","seq":01}`},
	{"MessagePosted", `{"room":"r"} x`},
	{"MessagePosted", `{"room":"r","at":"yesterday"}`},
	{"MessagePosted", `{"r\u006fom":"r"}`},
	{"UserRegistered", `{"handle":"a","bot":{"key":"k"},"bot":{"style":"s"}}`},
	{"UserRegistered", `{"handle":"a","bot":null}`},
	{"RoomCreated", `{"room":"a","members":null}`},
	{"RoomCreated", `{"room":"a","members":["x",]}`},
	{"QuotaCharged", `{"reservation":"r","promptTokens":99999999999999999999}`},
	{"Unknown", `{}`},
	{"HeartbeatRecorded", `[]`},
	{"HeartbeatRecorded", ``},
	{"HeartbeatRecorded", "{\"user\":\"a\xffb\"}"},
	{"MessagePosted", `{"room":"r","text":"\ud83d\ude00 \ud800x \udc00\ud800\u0041 \u00e9\/\b\f\r","seq":1}`},
	{"MessagePosted", `{"room":"r","text":"bad \' escape"}`},
	{"MessagePosted", `{"room":"r","text":"bad \u12 escape"}`},
	{"MessagePosted", "{\"room\":\"r\",\"text\":\"\\n and \xff\"}"},
	{"MessagePosted", `{"room":"r","kind":"chat\u0021"}`},
}

// TestFallback: payloads outside the fast path still decode as the codec
// decodes them, errors included.
func TestFallback(t *testing.T) {
	t.Parallel()
	for _, c := range oddities {
		got, gotErr := NewDecoder().Decode(c.typ, []byte(c.data))
		want, wantErr := codec.Decode(c.typ, []byte(c.data))
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Errorf("%s %s: error %v, codec says %v", c.typ, c.data, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s:\n got %#v\nwant %#v", c.typ, c.data, got, want)
		}
	}
}

// FuzzFast: whenever the fast path accepts a payload, the codec accepts it
// too and decodes the same value.
func FuzzFast(f *testing.F) {
	types := codec.Types()
	for _, e := range samples() {
		typ, data, _ := codec.Encode(e)
		for i, t := range types {
			if t == typ {
				f.Add(uint8(i), data)
			}
		}
	}
	for _, c := range oddities {
		for i, t := range types {
			if t == c.typ {
				f.Add(uint8(i), []byte(c.data))
			}
		}
	}
	shared := NewDecoder()
	f.Fuzz(func(t *testing.T, ti uint8, data []byte) {
		typ := types[int(ti)%len(types)]
		got, ok := shared.fast(typ, data)
		if !ok {
			return
		}
		want, err := codec.Decode(typ, data)
		if err != nil {
			t.Fatalf("%s %q: fast path accepted what the codec refuses: %v", typ, data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %q:\n got %#v\nwant %#v", typ, data, got, want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	_, data, _ := codec.Encode(room.MessagePosted{Room: "general", Seq: 12345, Sender: "user_1", Kind: room.KindChat, Text: "hello there, how are you doing today?", ClientID: "c-123456", At: at})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode("MessagePosted", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := codec.Decode("MessagePosted", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
