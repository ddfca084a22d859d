package commands

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/session"
	"switchboard/domain/user"
)

// Login checks a user's password (or lets a seeded demo account in, in
// demo mode) and the human verification the caller ran, and starts a
// session.
type Login struct {
	Handle, Password string
	// Verified is the outcome of the human verification; Verifier names
	// it ("pow", "turnstile", "none").
	Verified bool
	Verifier string
}

// Session is a started session. Token is the bearer secret: it is returned
// once and never stored; events hold its SHA-256.
type Session struct {
	ID, User, Token string
	ExpiresAt       time.Time
	Position        uint64
}

// dummyHash equalises the time of a login for an unknown handle with that
// of a wrong password, so response times do not reveal who has an account.
var dummyHash = func() string {
	h, _ := Argon2{}.Hash("not a real password")
	return h
}()

func (h *Handlers) Login(ctx context.Context, c Login) (Session, error) {
	var (
		exists   bool
		pwHash   string
		demo, bt bool
	)
	handle, err := user.NormalizeHandle(c.Handle)
	if err == nil {
		err = h.users.read(ctx, handle, func(s user.State) {
			exists = s.Exists()
			pwHash, demo, bt = s.PasswordHash(), s.Demo(), s.IsBot()
		})
		if err != nil {
			return Session{}, err
		}
	}
	ok := false
	switch {
	case !c.Verified:
		// Refused below, before any password work.
	case !exists || bt:
		h.hasher.Verify(dummyHash, c.Password)
	case c.Password == "" && demo && h.demo:
		ok = true
	case pwHash != "":
		ok, _ = h.hasher.Verify(pwHash, c.Password)
	}
	if !exists {
		handle = "unknown"
	}
	token := make([]byte, 32) // 256 bits
	rand.Read(token)
	tok := base64.RawURLEncoding.EncodeToString(token)
	id := uuid.New()
	at := h.now()
	out, err := h.sessions.execute(ctx, id.String(), session.Start{
		Session: id.String(), User: handle, TokenHash: TokenHash(tok), Verifier: c.Verifier,
		PasswordOK: ok, VerificationOK: c.Verified, At: at,
	}, Meta{User: handle, CommandID: id, At: at})
	if err != nil {
		return Session{}, err
	}
	for _, ev := range out.Events {
		if s, ok := ev.(session.SessionStarted); ok {
			return Session{ID: s.Session, User: handle, Token: tok, ExpiresAt: s.ExpiresAt, Position: out.Result.Position}, nil
		}
	}
	return Session{}, domain.ErrInvalidCredentials
}

// TokenHash is the lowercase hex SHA-256 of a session token: the only form
// of it the log and the projections keep.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
