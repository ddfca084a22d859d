package user

import "time"

// Command is one of the commands below; Decide rejects anything else.
type Command interface{ userCommand() }

// Register creates the account. The handler appends the resulting event to
// Stream(Handle) with "no stream" expected.
type Register struct {
	// Handle must already be normalized (NormalizeHandle).
	Handle string
	// DisplayName: 1 to Policy.MaxDisplayNameRunes after trimming.
	DisplayName string
	// PasswordHash is the hash the handler made of the password; this
	// package never sees a password. Required unless Demo or Bot is set.
	PasswordHash string
	// Demo marks a seeded demo account, which may log in without a
	// password when the server runs in demo mode.
	Demo bool
	// Bot is non-nil for bot users.
	Bot *Persona
	// Avatar is an avatar id or path; may be empty.
	Avatar string
	// PersonalMessage: 0 to Policy.MaxPersonalMessageRunes after trimming.
	PersonalMessage string
	At              time.Time
}

// ChangeProfile changes what others see of the user. A nil field is left
// as it is.
type ChangeProfile struct {
	DisplayName     *string
	PersonalMessage *string
	Avatar          *string
	At              time.Time
}

func (Register) userCommand()      {}
func (ChangeProfile) userCommand() {}
