package room

import "time"

// RoomCreated: the room exists. The first event of its stream. For a direct
// room, Members lists its two users (sorted), who are members from now on;
// a public or private room's creator joins with a MemberJoined that
// follows.
type RoomCreated struct {
	Room       string     `json:"room"`
	Name       string     `json:"name,omitempty"`
	Visibility Visibility `json:"visibility"`
	Members    []string   `json:"members,omitempty"`
	By         string     `json:"by"`
	ClientID   string     `json:"clientId,omitempty"`
	At         time.Time  `json:"at"`
}

// MemberInvited: User may join the private room.
type MemberInvited struct {
	Room     string    `json:"room"`
	User     string    `json:"user"`
	By       string    `json:"by"`
	ClientID string    `json:"clientId,omitempty"`
	At       time.Time `json:"at"`
}

// MemberJoined: User is a member. ClientID is User's command id.
type MemberJoined struct {
	Room     string    `json:"room"`
	User     string    `json:"user"`
	ClientID string    `json:"clientId,omitempty"`
	At       time.Time `json:"at"`
}

// MemberLeft: User is no longer a member. ClientID is User's command id.
type MemberLeft struct {
	Room     string    `json:"room"`
	User     string    `json:"user"`
	ClientID string    `json:"clientId,omitempty"`
	At       time.Time `json:"at"`
}

// MessagePosted: a message, numbered Seq (the previous message's Seq plus
// one, starting at 1).
type MessagePosted struct {
	Room   string `json:"room"`
	Seq    uint64 `json:"seq"`
	Sender string `json:"sender,omitempty"` // empty for KindSystem
	Kind   Kind   `json:"kind"`
	Text   string `json:"text,omitempty"` // chat, bot and system
	Wink   string `json:"wink,omitempty"` // wink
	// ClientID is the sender's command id (for a system notice, its
	// CauseID when no ClientID was given).
	ClientID   string    `json:"clientId,omitempty"`
	TriggerSeq uint64    `json:"triggerSeq,omitempty"` // bot: the message replied to
	CauseID    string    `json:"causeId,omitempty"`    // system: what caused it
	At         time.Time `json:"at"`
}

// ReadMarkerMoved: User has read the room up to Seq. Seq only grows.
type ReadMarkerMoved struct {
	Room string    `json:"room"`
	User string    `json:"user"`
	Seq  uint64    `json:"seq"`
	At   time.Time `json:"at"`
}

func (RoomCreated) EventType() string     { return "RoomCreated" }
func (MemberInvited) EventType() string   { return "MemberInvited" }
func (MemberJoined) EventType() string    { return "MemberJoined" }
func (MemberLeft) EventType() string      { return "MemberLeft" }
func (MessagePosted) EventType() string   { return "MessagePosted" }
func (ReadMarkerMoved) EventType() string { return "ReadMarkerMoved" }
