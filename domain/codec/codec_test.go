package codec_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
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

var t0 = time.Date(2025, 11, 23, 10, 0, 0, 123456789, time.UTC)

// samples holds one event of every type, every field set.
func samples() []domain.Event {
	return []domain.Event{
		user.UserRegistered{Handle: "bot_clippy", DisplayName: "Clippy", PasswordHash: "h", Demo: true,
			Bot: &user.Persona{Key: "clippy", Archetype: "paperclip", Style: "eager"}, Avatar: "av_bot_clippy", PersonalMessage: "It looks like…", At: t0},
		user.ProfileChanged{Handle: "user_1", DisplayName: "U", PersonalMessage: "pm", Avatar: "av_1", At: t0},
		session.SessionStarted{Session: "s", User: "u", TokenHash: strings.Repeat("0", 64), Verifier: "pow", ExpiresAt: t0.Add(time.Minute), At: t0},
		session.SessionRenewed{Session: "s", ExpiresAt: t0.Add(time.Hour), At: t0},
		session.SessionEnded{Session: "s", Reason: session.ReasonExpired, At: t0},
		room.RoomCreated{Room: "dm_x", Name: "n", Visibility: room.Direct, Members: []string{"a", "b"}, By: "a", ClientID: "c", At: t0},
		room.MemberInvited{Room: "r", User: "u", By: "b", ClientID: "c", At: t0},
		room.MemberJoined{Room: "r", User: "u", ClientID: "c", At: t0},
		room.MemberLeft{Room: "r", User: "u", ClientID: "c", At: t0},
		room.MessagePosted{Room: "r", Seq: 1 << 60, Sender: "s", Kind: room.KindBot, Text: "multi\nline \"quoted\" <b>&</b> 🎵",
			Wink: "frog", ClientID: "c", TriggerSeq: 7, CauseID: "x", At: t0},
		room.ReadMarkerMoved{Room: "r", User: "u", Seq: 9, At: t0},
		presence.PresenceChanged{User: "u", Status: presence.Invisible, Chosen: presence.Invisible, Reason: presence.ReasonStatus, At: t0},
		presence.HeartbeatRecorded{User: "u", At: t0},
		quota.QuotaReserved{Reservation: "r", Day: "2025-11-23", User: "u", Bot: "b", Room: "g", TriggerSeq: 3, Tokens: 1024, At: t0},
		quota.QuotaCharged{Reservation: "r", User: "u", PromptTokens: 10, GeneratedTokens: 20, At: t0},
		quota.QuotaReleased{Reservation: "r", User: "u", Reason: "backend_error", At: t0},
		quota.BotsEnabled{By: "admin", At: t0},
		quota.BotsDisabled{By: "admin", At: t0},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	t.Parallel()
	var seen []string
	for _, e := range samples() {
		typ, data, err := codec.Encode(e)
		if err != nil {
			t.Fatalf("Encode(%T): %v", e, err)
		}
		if want := reflect.TypeOf(e).Name(); typ != want || e.EventType() != want {
			t.Errorf("%T: type %q, EventType %q", e, typ, e.EventType())
		}
		got, err := codec.Decode(typ, data)
		if err != nil {
			t.Fatalf("Decode(%s): %v", typ, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s round trip:\n got %#v\nwant %#v", typ, got, e)
		}
		_, again, _ := codec.Encode(got)
		if string(again) != string(data) {
			t.Errorf("%s: encoding is not stable:\n%s\n%s", typ, data, again)
		}
		seen = append(seen, typ)
	}
	slices.Sort(seen)
	if types := codec.Types(); !reflect.DeepEqual(seen, types) {
		t.Fatalf("samples cover %v,\nTypes() is %v", seen, types)
	}
}

func TestZeroValuesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, typ := range codec.Types() {
		e, err := codec.Decode(typ, []byte("{}"))
		if err != nil {
			t.Fatalf("Decode(%s, {}): %v", typ, err)
		}
		if reflect.TypeOf(e).Kind() == reflect.Pointer || e.EventType() != typ {
			t.Fatalf("Decode(%s) = %T", typ, e)
		}
		_, data, err := codec.Encode(e)
		if err != nil {
			t.Fatalf("Encode(zero %s): %v", typ, err)
		}
		back, err := codec.Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("zero %s: %v, %#v", typ, err, back)
		}
	}
}

type unregistered struct{}

func (unregistered) EventType() string { return "unregistered" }

func TestRejects(t *testing.T) {
	t.Parallel()
	if _, err := codec.Decode("Nope", []byte("{}")); !errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("Decode(unknown) = %v", err)
	}
	if _, _, err := codec.Encode(unregistered{}); !errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("Encode(unregistered) = %v", err)
	}
	if _, _, err := codec.Encode(&room.MemberJoined{}); err == nil {
		t.Error("Encode(pointer) succeeded")
	}
	if _, _, err := codec.Encode(nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
	if _, err := codec.Decode("MessagePosted", []byte(`{"seq":"one"}`)); err == nil || errors.Is(err, codec.ErrUnknownType) {
		t.Errorf("Decode(bad field) = %v", err)
	}
	if _, err := codec.Decode("MessagePosted", []byte(`{`)); err == nil {
		t.Error("Decode(truncated) succeeded")
	}
	// Fields added by a later version are ignored.
	e, err := codec.Decode("MemberJoined", []byte(`{"room":"r","user":"u","at":"2025-11-23T10:00:00Z","future":1}`))
	if err != nil || e.(room.MemberJoined).User != "u" {
		t.Errorf("Decode(extra field) = %#v, %v", e, err)
	}
}

func TestEncodingIsReadable(t *testing.T) {
	t.Parallel()
	_, data, err := codec.Encode(room.MessagePosted{Room: "general", Seq: 3, Sender: "bob", Kind: room.KindChat, Text: "hi", ClientID: "c1", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"room":"general","seq":3,"sender":"bob","kind":"chat","text":"hi","clientId":"c1","at":"2025-11-23T10:00:00.123456789Z"}`
	if string(data) != want {
		t.Fatalf("payload\n got %s\nwant %s", data, want)
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range samples() {
		typ, data, _ := codec.Encode(e)
		f.Add(typ, data)
	}
	f.Add("MessagePosted", []byte(`{"seq":-1}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e, err := codec.Decode(typ, data)
		if err != nil {
			return
		}
		if e.EventType() != typ {
			t.Fatalf("Decode(%q) = %T", typ, e)
		}
		typ2, data2, err := codec.Encode(e)
		if err != nil {
			return // e.g. a time outside the years JSON can hold
		}
		e2, err := codec.Decode(typ2, data2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		_, data3, _ := codec.Encode(e2)
		if string(data3) != string(data2) {
			t.Fatalf("encoding not stable:\n%s\n%s", data2, data3)
		}
	})
}
