package session

import "time"

// Command is one of the commands below; Decide rejects anything else.
type Command interface{ sessionCommand() }

// Start opens a session after the handler checked the login. The handler
// runs the checks (password hash, human verification) and reports their
// outcome here, so that the decision and its reason are the domain's.
type Start struct {
	// Session is the new session's id (not its token). 1–128 bytes.
	Session string
	// User is the handle of the user logging in.
	User string
	// TokenHash is the lowercase hex SHA-256 of the session token. Never
	// the token.
	TokenHash string
	// Verifier names the human verification used: "pow", "turnstile",
	// "none".
	Verifier string
	// PasswordOK: the password matched (or a demo login was allowed).
	PasswordOK bool
	// VerificationOK: the human verification passed. Checked first.
	VerificationOK bool
	At             time.Time
}

// Renew slides the session's expiry (on activity: heartbeats, commands).
type Renew struct {
	At time.Time
}

// End closes the session. Idempotent.
type End struct {
	Reason Reason
	At     time.Time
}

// Expire is the sweeper's command: it ends the session with ReasonExpired
// if its expiry has passed at At, and does nothing otherwise.
type Expire struct {
	At time.Time
}

func (Start) sessionCommand()  {}
func (Renew) sessionCommand()  {}
func (End) sessionCommand()    {}
func (Expire) sessionCommand() {}
