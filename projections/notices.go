package projections

import "switchboard/domain/session"

// Notice is a change a listener is told about: one of the types below.
// Every notice carries the log position of the record that caused it; when
// a listener receives it, every projection of the Runner has applied that
// position, so reading any of them shows the change.
type Notice interface {
	// Pos is the log position of the record that caused the notice.
	Pos() uint64
}

// MessagePosted: a message in Room. Published to RoomTopic(Room).
type MessagePosted struct {
	Position uint64
	Room     string
	Message  Message
}

// MemberChange says how a membership changed.
type MemberChange string

// The membership changes, as the wire protocol names them.
const (
	Joined  MemberChange = "joined"
	Left    MemberChange = "left"
	Invited MemberChange = "invited"
)

// MemberChanged: User joined, left or was invited to Room (By is who
// invited). Published to RoomTopic(Room) and UserTopic(User).
type MemberChanged struct {
	Position uint64
	Room     string
	User     string
	Change   MemberChange
	By       string
}

// ReadMarkerMoved: User has read Room up to Seq. Published to
// RoomTopic(Room).
type ReadMarkerMoved struct {
	Position uint64
	Room     string
	User     string
	Seq      uint64
}

// RoomCreated: a room exists. Published to RoomTopic, to UserTopic of its
// creator and (direct rooms) of both its users, and for public rooms to
// DirectoryTopic. A public or private room's creator joins with a
// MemberChanged that follows; a direct room's two users are members at
// once (Room.Direct).
type RoomCreated struct {
	Position uint64
	Room     Room
}

// PresenceChanged: a user's status changed. Presence.Status is the true
// status: show others Visible(...). Published to PresenceTopic.
type PresenceChanged struct {
	Position uint64
	Presence UserPresence
}

// ProfileChanged: a user's display name, personal message or avatar
// changed; Presence is the whole entry after the change. Published to
// PresenceTopic.
type ProfileChanged struct {
	Position uint64
	Presence UserPresence
}

// UserRegistered: a new user or bot. Published to DirectoryTopic and
// PresenceTopic.
type UserRegistered struct {
	Position uint64
	User     User
}

// SessionEnded: a session is over (logout, expiry, revocation): close its
// sockets. Published to UserTopic(User).
type SessionEnded struct {
	Position uint64
	Session  string
	User     string
	Reason   session.Reason
}

// BotsSwitched: the bot kill switch was flipped. Published to
// DirectoryTopic.
type BotsSwitched struct {
	Position uint64
	Enabled  bool
	By       string
}

func (n MessagePosted) Pos() uint64   { return n.Position }
func (n MemberChanged) Pos() uint64   { return n.Position }
func (n ReadMarkerMoved) Pos() uint64 { return n.Position }
func (n RoomCreated) Pos() uint64     { return n.Position }
func (n PresenceChanged) Pos() uint64 { return n.Position }
func (n ProfileChanged) Pos() uint64  { return n.Position }
func (n UserRegistered) Pos() uint64  { return n.Position }
func (n SessionEnded) Pos() uint64    { return n.Position }
func (n BotsSwitched) Pos() uint64    { return n.Position }
