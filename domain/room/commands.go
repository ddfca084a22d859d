package room

import "time"

// Command is one of the commands below; Decide rejects anything else.
//
// Every command names its room. Commands of people carry By, the acting
// user's handle (from the session, never from the client), and ClientID,
// the client's command id (1–64 characters); a resend with the same By and
// ClientID is answered with the original outcome. Commands of reactors (bot
// replies, system notices) pass an id derived from what caused them. At is
// stamped by the handler.
type Command interface{ roomCommand() }

// Create creates a public or private room; the creator joins it.
type Create struct {
	Room string // chosen by the server; see ValidateID; not DirectPrefix
	// Name: 1 to Policy.MaxRoomNameRunes after trimming.
	Name       string
	Visibility Visibility // Public or Private
	By         string
	ClientID   string
	At         time.Time
}

// OpenDirect opens the direct room of By and With, creating it with both
// as members if needed.
type OpenDirect struct {
	Room string // DirectID(By, With)
	By   string
	With string
	// WithExists: the handler checked that With is a registered user.
	WithExists bool
	ClientID   string
	At         time.Time
}

// Invite lets User join a private room. By must be a member.
type Invite struct {
	Room string
	User string
	// UserExists: the handler checked that User is a registered user.
	UserExists bool
	By         string
	ClientID   string
	At         time.Time
}

// Join makes By a member.
type Join struct {
	Room     string
	By       string
	ClientID string
	At       time.Time
}

// Leave ends By's membership.
type Leave struct {
	Room     string
	By       string
	ClientID string
	At       time.Time
}

// PostChat posts a text message.
type PostChat struct {
	Room     string
	By       string
	ClientID string
	// Text: 1 to Policy.MaxTextRunes after trimming; lines and tabs
	// allowed, other control characters not. Stored trimmed.
	Text string
	At   time.Time
}

// Nudge shakes the other members' windows.
type Nudge struct {
	Room     string
	By       string
	ClientID string
	At       time.Time
}

// Wink sends an animation from the catalogue.
type Wink struct {
	Room     string
	By       string
	ClientID string
	Wink     string // see Winks
	At       time.Time
}

// PostBot posts a bot's reply to the message TriggerSeq. The bot need not
// be a member: bots answer mentions anywhere.
type PostBot struct {
	Room       string
	Bot        string // the bot's handle; the message's sender
	TriggerSeq uint64 // a human message among the room's last TriggerHorizon
	Text       string // same rules as PostChat; the caller truncates LLM output
	ClientID   string // optional: derived from the trigger
	At         time.Time
}

// PostSystem posts a notice from Switchboard, e.g. "Clippy is unavailable
// right now".
type PostSystem struct {
	Room string
	Text string // same rules as PostChat
	// CauseID identifies what caused the notice (an event or reservation
	// id). It is recorded, and stands in for ClientID when that is empty.
	CauseID  string
	ClientID string
	At       time.Time
}

// MoveReadMarker records that By has read the room up to Seq. Markers only
// move forward.
type MoveReadMarker struct {
	Room string
	By   string
	Seq  uint64
	At   time.Time
}

func (Create) roomCommand()         {}
func (OpenDirect) roomCommand()     {}
func (Invite) roomCommand()         {}
func (Join) roomCommand()           {}
func (Leave) roomCommand()          {}
func (PostChat) roomCommand()       {}
func (Nudge) roomCommand()          {}
func (Wink) roomCommand()           {}
func (PostBot) roomCommand()        {}
func (PostSystem) roomCommand()     {}
func (MoveReadMarker) roomCommand() {}
