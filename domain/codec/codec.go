package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/domain/quota"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/domain/user"
)

// ErrUnknownType is wrapped by the errors of Encode and Decode for a type
// name that is not registered.
var ErrUnknownType = errors.New("codec: unknown event type")

// Types returns the names of every registered event type, sorted. A new
// slice each call.
func Types() []string {
	return []string{
		"BotsDisabled",
		"BotsEnabled",
		"HeartbeatRecorded",
		"MemberInvited",
		"MemberJoined",
		"MemberLeft",
		"MessagePosted",
		"PresenceChanged",
		"ProfileChanged",
		"QuotaCharged",
		"QuotaReleased",
		"QuotaReserved",
		"ReadMarkerMoved",
		"RoomCreated",
		"SessionEnded",
		"SessionRenewed",
		"SessionStarted",
		"UserRegistered",
	}
}

// Decode returns the event of type typ encoded in data, as the value type
// (never a pointer) that the deciders' Evolve functions switch on. An
// unknown typ gives an error wrapping ErrUnknownType; malformed data, a
// JSON syntax or type error.
func Decode(typ string, data []byte) (domain.Event, error) {
	switch typ {
	case "UserRegistered":
		return decode[user.UserRegistered](typ, data)
	case "ProfileChanged":
		return decode[user.ProfileChanged](typ, data)
	case "SessionStarted":
		return decode[session.SessionStarted](typ, data)
	case "SessionRenewed":
		return decode[session.SessionRenewed](typ, data)
	case "SessionEnded":
		return decode[session.SessionEnded](typ, data)
	case "RoomCreated":
		return decode[room.RoomCreated](typ, data)
	case "MemberInvited":
		return decode[room.MemberInvited](typ, data)
	case "MemberJoined":
		return decode[room.MemberJoined](typ, data)
	case "MemberLeft":
		return decode[room.MemberLeft](typ, data)
	case "MessagePosted":
		return decode[room.MessagePosted](typ, data)
	case "ReadMarkerMoved":
		return decode[room.ReadMarkerMoved](typ, data)
	case "PresenceChanged":
		return decode[presence.PresenceChanged](typ, data)
	case "HeartbeatRecorded":
		return decode[presence.HeartbeatRecorded](typ, data)
	case "QuotaReserved":
		return decode[quota.QuotaReserved](typ, data)
	case "QuotaCharged":
		return decode[quota.QuotaCharged](typ, data)
	case "QuotaReleased":
		return decode[quota.QuotaReleased](typ, data)
	case "BotsEnabled":
		return decode[quota.BotsEnabled](typ, data)
	case "BotsDisabled":
		return decode[quota.BotsDisabled](typ, data)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
}

func decode[E domain.Event](typ string, data []byte) (domain.Event, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("codec: decode %s: %w", typ, err)
	}
	return e, nil
}

// Encode returns the type name and JSON payload of e. The payload is
// deterministic: the same event always encodes to the same bytes (struct
// fields in declaration order; times as RFC 3339 in the time's own zone,
// which the deciders always set to UTC). e must be a registered event
// type, as a value: pointers are refused so that what Decode returns is
// what was encoded.
func Encode(e domain.Event) (typ string, data []byte, err error) {
	if e == nil {
		return "", nil, errors.New("codec: encode: nil event")
	}
	if reflect.TypeOf(e).Kind() == reflect.Pointer {
		return "", nil, fmt.Errorf("codec: encode %T: events are values, not pointers", e)
	}
	typ = e.EventType()
	if name := reflect.TypeOf(e).Name(); name != typ {
		return "", nil, fmt.Errorf("codec: encode %T: EventType %q differs from the type name", e, typ)
	}
	if !registered(typ) {
		return "", nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("codec: encode %s: %w", typ, err)
	}
	return typ, data, nil
}

// registered reports whether typ is one of Types. The test checks that
// this, Types and Decode agree.
func registered(typ string) bool {
	switch typ {
	case "UserRegistered", "ProfileChanged",
		"SessionStarted", "SessionRenewed", "SessionEnded",
		"RoomCreated", "MemberInvited", "MemberJoined", "MemberLeft", "MessagePosted", "ReadMarkerMoved",
		"PresenceChanged", "HeartbeatRecorded",
		"QuotaReserved", "QuotaCharged", "QuotaReleased", "BotsEnabled", "BotsDisabled":
		return true
	}
	return false
}
