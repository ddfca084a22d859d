package session

import (
	"time"

	"switchboard/domain"
)

// State is a session folded from its stream. The zero State is a session
// that was never started. Only Evolve builds it.
type State struct {
	exists    bool
	id        string
	user      string
	tokenHash string
	verifier  string
	startedAt time.Time
	renewedAt time.Time // last recorded renewal, or the start
	expiresAt time.Time
	ended     bool
	endReason Reason
	endedAt   time.Time
}

// Evolve folds one event into s. Events of other aggregates leave s as it
// is. State is a plain value, so s itself is not changed.
func Evolve(s State, e domain.Event) State {
	switch e := e.(type) {
	case SessionStarted:
		s = State{
			exists:    true,
			id:        e.Session,
			user:      e.User,
			tokenHash: e.TokenHash,
			verifier:  e.Verifier,
			startedAt: e.At,
			renewedAt: e.At,
			expiresAt: e.ExpiresAt,
		}
	case SessionRenewed:
		s.renewedAt = e.At
		s.expiresAt = e.ExpiresAt
	case SessionEnded:
		s.ended = true
		s.endReason = e.Reason
		s.endedAt = e.At
	}
	return s
}

// Exists reports whether the session was started.
func (s State) Exists() bool { return s.exists }

// ID is the session id.
func (s State) ID() string { return s.id }

// User is the handle of the session's user.
func (s State) User() string { return s.user }

// TokenHash is the hex SHA-256 of the session token, to compare (in
// constant time) with the hash of a presented token.
func (s State) TokenHash() string { return s.tokenHash }

// Verifier names the human verification used at login.
func (s State) Verifier() string { return s.verifier }

// StartedAt is when the session started.
func (s State) StartedAt() time.Time { return s.startedAt }

// RenewedAt is when the session was last renewed as recorded, or its start.
// Renewals coalesced away by Policy.SessionRenewInterval do not count.
func (s State) RenewedAt() time.Time { return s.renewedAt }

// ExpiresAt is when the session expires unless renewed.
func (s State) ExpiresAt() time.Time { return s.expiresAt }

// Ended reports whether the session was ended, and why.
func (s State) Ended() (bool, Reason) { return s.ended, s.endReason }

// EndedAt is when the session was ended; zero if it was not.
func (s State) EndedAt() time.Time { return s.endedAt }

// Active reports whether the session may be used at the given time: it was
// started, not ended, and at is before its expiry.
func (s State) Active(at time.Time) bool {
	return s.exists && !s.ended && at.Before(s.expiresAt)
}
