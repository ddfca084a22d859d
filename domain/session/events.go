package session

import "time"

// SessionStarted: a user logged in. The first event of the stream.
type SessionStarted struct {
	Session   string    `json:"session"`
	User      string    `json:"user"`
	TokenHash string    `json:"tokenHash"`
	Verifier  string    `json:"verifier,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
	At        time.Time `json:"at"`
}

// SessionRenewed: the expiry moved to ExpiresAt.
type SessionRenewed struct {
	Session   string    `json:"session"`
	ExpiresAt time.Time `json:"expiresAt"`
	At        time.Time `json:"at"`
}

// SessionEnded: the session is over; the last event of the stream. Sockets
// of the session are to be closed.
type SessionEnded struct {
	Session string    `json:"session"`
	Reason  Reason    `json:"reason"`
	At      time.Time `json:"at"`
}

func (SessionStarted) EventType() string { return "SessionStarted" }
func (SessionRenewed) EventType() string { return "SessionRenewed" }
func (SessionEnded) EventType() string   { return "SessionEnded" }
