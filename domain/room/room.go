package room

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"switchboard/domain"
)

// Stream returns the name of the stream of the room with this id.
func Stream(id string) string { return "room-" + id }

// MaxIDLen bounds a room id.
const MaxIDLen = 64

// DirectPrefix starts the id of every direct room, and only theirs: Create
// refuses ids with it.
const DirectPrefix = "dm_"

// ValidateID checks a room id: 1–64 characters of a–z, 0–9, '_' and '-'.
// Ids appear in stream names and URLs, so they are kept to characters that
// need no escaping anywhere; they are case-sensitive and never folded.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return &domain.InvalidError{Field: "Room", Reason: "length must be 1 to 64"}
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return &domain.InvalidError{Field: "Room", Reason: "only a-z, 0-9, '_' and '-' are allowed"}
		}
	}
	return nil
}

// DirectID returns the id of the direct room of two users (handles): "dm_"
// and the first 20 characters of the lowercase, unpadded base32 of
// SHA-256(min(a, b) + "\n" + max(a, b)). Both users get the same id
// whichever opens it, and the id does not spell out who talks to whom.
func DirectID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(a + "\n" + b))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])
	return DirectPrefix + strings.ToLower(enc[:20])
}

// Visibility says who may join a room.
type Visibility string

// The visibilities.
const (
	Public  Visibility = "public"  // anyone may join
	Private Visibility = "private" // members invite others
	Direct  Visibility = "direct"  // exactly two users, fixed at creation
)

// Kind is the kind of a message.
type Kind string

// The kinds of message.
const (
	KindChat   Kind = "chat"   // text from a member
	KindNudge  Kind = "nudge"  // shakes the others' windows
	KindWink   Kind = "wink"   // an animation from the catalogue (Winks)
	KindBot    Kind = "bot"    // a bot's reply to a message
	KindSystem Kind = "system" // a notice from Switchboard itself
)

// Human reports whether k is posted by a member (chat, nudge, wink), as
// opposed to bots and the system. Only human messages are rate-limited and
// may trigger a bot.
func (k Kind) Human() bool { return k == KindChat || k == KindNudge || k == KindWink }

// Winks returns the catalogue of winks, in a fixed order. A new slice each
// call: the catalogue cannot be changed at run time.
func Winks() []string {
	return []string{
		"beaver", "bow", "dancing_pig", "frog", "guitar_smash", "heart",
		"kiss", "knock", "laugh", "rose", "silly_face", "ufo",
	}
}

// IsWink reports whether name is in the catalogue.
func IsWink(name string) bool {
	switch name {
	case "beaver", "bow", "dancing_pig", "frog", "guitar_smash", "heart",
		"kiss", "knock", "laugh", "rose", "silly_face", "ufo":
		return true
	}
	return false
}

// MaxClientIDLen bounds a client command id.
const MaxClientIDLen = 64

// TriggerHorizon is how many of a room's latest messages a bot may reply
// to. The room keeps the kind of these messages (one byte each) to check
// that a trigger is a human message and was not answered yet; a reply to
// anything older is refused.
const TriggerHorizon = 10_000
