package session

import (
	"time"

	"switchboard/domain"
)

// ErrExists rejects a Start on a session id that is already used by another
// login (ids are random, so this is a bug or an attack). It matches
// domain.ErrForbidden.
var ErrExists error = conflict("session: id already in use")

type conflict string

func (e conflict) Error() string        { return string(e) }
func (e conflict) Is(target error) bool { return target == domain.ErrForbidden }

// Decide checks c against s under p and returns the events to append.
//
//   - Start: domain.ErrVerificationFailed if the verification did not pass
//     (checked first), domain.ErrInvalidCredentials if the password did
//     not; a malformed field: *domain.InvalidError. The expiry is At plus
//     SessionTTL (capped by SessionMaxLifetime). Starting an existing
//     session again with the same token hash is answered with
//     *domain.DuplicateError; with another: ErrExists.
//   - Renew: domain.ErrNotFound for an unknown session,
//     domain.ErrSessionEnded for an ended or expired one. Records
//     SessionRenewed only if the last recorded renewal (or the start) is at
//     least SessionRenewInterval old and the expiry moves forward;
//     otherwise no events and no error.
//   - End: ends the session; already ended: no events.
//   - Expire: ends the session with ReasonExpired if At is at or past the
//     expiry; otherwise, or if already ended, no events.
//
// Decide does not modify s.
func Decide(s State, c Command, p domain.Policy) ([]domain.Event, error) {
	switch c := c.(type) {
	case Start:
		return start(s, c, p)
	case Renew:
		return renew(s, c, p)
	case End:
		return end(s, c)
	case Expire:
		return expire(s, c)
	}
	return nil, &domain.InvalidError{Field: "Command", Reason: "unknown session command"}
}

func start(s State, c Start, p domain.Policy) ([]domain.Event, error) {
	if !c.VerificationOK {
		return nil, domain.ErrVerificationFailed
	}
	if !c.PasswordOK {
		return nil, domain.ErrInvalidCredentials
	}
	if s.exists {
		if s.id == c.Session && s.tokenHash == c.TokenHash && s.user == c.User {
			return nil, &domain.DuplicateError{ID: c.Session, At: s.startedAt}
		}
		return nil, ErrExists
	}
	switch {
	case c.Session == "" || len(c.Session) > MaxIDLen:
		return nil, &domain.InvalidError{Field: "Session", Reason: "length must be 1 to 128"}
	case c.User == "":
		return nil, &domain.InvalidError{Field: "User", Reason: "missing"}
	case !isHexSHA256(c.TokenHash):
		return nil, &domain.InvalidError{Field: "TokenHash", Reason: "not a lowercase hex SHA-256"}
	case c.At.IsZero():
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	at := c.At.UTC()
	return []domain.Event{SessionStarted{
		Session:   c.Session,
		User:      c.User,
		TokenHash: c.TokenHash,
		Verifier:  c.Verifier,
		ExpiresAt: expiry(at, at, p),
		At:        at,
	}}, nil
}

// expiry is the expiry of a session started at start and renewed at at.
func expiry(start, at time.Time, p domain.Policy) time.Time {
	exp := at.Add(p.SessionTTL)
	if p.SessionMaxLifetime > 0 {
		if limit := start.Add(p.SessionMaxLifetime); exp.After(limit) {
			exp = limit
		}
	}
	return exp
}

func isHexSHA256(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func renew(s State, c Renew, p domain.Policy) ([]domain.Event, error) {
	if !s.exists {
		return nil, domain.ErrNotFound
	}
	if c.At.IsZero() {
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	at := c.At.UTC()
	if !s.Active(at) {
		return nil, domain.ErrSessionEnded
	}
	if at.Sub(s.renewedAt) < p.SessionRenewInterval {
		return nil, nil
	}
	exp := expiry(s.startedAt, at, p)
	if !exp.After(s.expiresAt) {
		return nil, nil
	}
	return []domain.Event{SessionRenewed{Session: s.id, ExpiresAt: exp, At: at}}, nil
}

func end(s State, c End) ([]domain.Event, error) {
	if !s.exists {
		return nil, domain.ErrNotFound
	}
	switch c.Reason {
	case ReasonLogout, ReasonExpired, ReasonRevoked:
	default:
		return nil, &domain.InvalidError{Field: "Reason", Reason: "must be logout, expired or revoked"}
	}
	if c.At.IsZero() {
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	if s.ended {
		return nil, nil
	}
	return []domain.Event{SessionEnded{Session: s.id, Reason: c.Reason, At: c.At.UTC()}}, nil
}

func expire(s State, c Expire) ([]domain.Event, error) {
	if !s.exists {
		return nil, domain.ErrNotFound
	}
	if c.At.IsZero() {
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	at := c.At.UTC()
	if s.ended || at.Before(s.expiresAt) {
		return nil, nil
	}
	return []domain.Event{SessionEnded{Session: s.id, Reason: ReasonExpired, At: at}}, nil
}
