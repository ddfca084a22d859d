package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/domain/session"
	"switchboard/domain/user"
)

// maxTokenLen bounds a bearer token; ours are 43 characters.
const maxTokenLen = 512

// bearer extracts the token of "Authorization: Bearer <token>" (the
// scheme is case-insensitive, RFC 7235). The token must be RFC 6750's
// b64token; anything else is treated as no token.
func bearer(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenLen {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=') {
			return "", false
		}
	}
	return token, true
}

// authenticate resolves the request's session. The views are indexed by
// the token's hash, so the lookup itself reveals nothing about the token;
// the stored hash is still compared with the computed one in constant
// time, so that a view that found the session by anything else (a prefix,
// a case-folded key) cannot let a different token in. An unknown token is
// errUnauthorized; a session that ended or whose expiry passed is
// errSessionExpired.
func (a *API) authenticate(r *http.Request) (SessionInfo, error) {
	token, ok := bearer(r)
	if !ok {
		return SessionInfo{}, errUnauthorized
	}
	hash := commands.TokenHash(token)
	s, found := a.views.SessionByTokenHash(hash)
	if !found || subtle.ConstantTimeCompare([]byte(s.TokenHash), []byte(hash)) != 1 {
		return SessionInfo{}, errUnauthorized
	}
	if s.Ended || !a.now().Before(s.ExpiresAt) {
		return SessionInfo{}, errSessionExpired
	}
	return s, nil
}

// verify runs the human verification, if one is configured. It runs
// before any password work, so an unverified client costs us no Argon2.
func (a *API) verify(r *http.Request, response, ip string) error {
	if a.verifier == nil {
		return nil
	}
	err := a.verifier.Verify(r.Context(), response, ip)
	if err == nil {
		return nil
	}
	var t interface{ Temporary() bool }
	unavailable := (errors.As(err, &t) && t.Temporary()) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	level := "refused"
	if unavailable {
		level = "unavailable"
	}
	a.log.Info("http: verification "+level, "requestId", requestID(r), "verifier", a.verifierName, "error", err.Error())
	return &verifyError{Unavailable: unavailable, Err: err}
}

// sync waits, at most Config.SyncTimeout, until the read side has applied
// the log up to position, so that what a client does next sees its write.
func (a *API) sync(ctx context.Context, position uint64) error {
	if position == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.SyncTimeout)
	defer cancel()
	if err := a.views.Sync(ctx, position); err != nil {
		return errors.Join(errSyncTimeout, err)
	}
	return nil
}

// userOf returns handle's directory entry as they see themself, or a
// minimal one while the read side does not know them yet.
func (a *API) userOf(handle, displayName string) User {
	if u, ok := a.views.User(handle); ok {
		return u
	}
	if displayName == "" {
		displayName = handle
	}
	return User{Handle: handle, DisplayName: displayName, Status: "offline"}
}

// handleKey is the key the per-handle limit counts a login under: the
// handle as the command side normalises it, so "Alice" and "alice" share
// one count. Handles that cannot exist share a key per spelling, bounded.
func handleKey(h string) string {
	if n, err := user.NormalizeHandle(h); err == nil {
		return n
	}
	return "invalid:" + truncate(strings.ToLower(h), 64)
}

// POST /api/auth/challenge: a proof-of-work challenge, limited per
// address.
func (a *API) challenge(w http.ResponseWriter, r *http.Request) error {
	if a.deps.Challenge == nil {
		return errNotFound
	}
	if err := decodeBody(w, r, &emptyRequest{}); err != nil {
		return err
	}
	if _, wait, ok := a.challenges.reserve(addrKey(a.clientIP(r)), a.now()); !ok {
		a.log.Warn("http: challenge limit", "requestId", requestID(r), "remote", a.clientIP(r))
		return &limitedError{RetryAfter: wait}
	}
	ch, err := a.deps.Challenge()
	if err != nil {
		return err
	}
	a.writeJSON(w, r, http.StatusOK, ch)
	return nil
}

// POST /api/auth/register. Every attempt counts against the address's
// login limit (sign-up costs an Argon2 hash).
func (a *API) register(w http.ResponseWriter, r *http.Request) error {
	var req registerRequest
	if err := decodeBody(w, r, &req, "handle", "displayName", "password"); err != nil {
		return err
	}
	ip := a.clientIP(r)
	if _, wait, ok := a.authPerIP.reserve(addrKey(ip), a.now()); !ok {
		a.log.Warn("http: sign-up limit", "requestId", requestID(r), "remote", ip)
		return &limitedError{RetryAfter: wait}
	}
	if err := a.verify(r, req.Verification, ip); err != nil {
		return err
	}
	handle, pos, err := a.cmd.RegisterUser(r.Context(), commands.RegisterUser{
		Handle: req.Handle, DisplayName: req.DisplayName, Password: req.Password,
	})
	if err != nil {
		return err
	}
	if err := a.sync(r.Context(), pos); err != nil {
		// The account exists; only the directory lags.
		a.log.Warn("http: sign-up not yet visible", "requestId", requestID(r), "error", err.Error())
	}
	a.writeJSON(w, r, http.StatusCreated, userData{User: a.userOf(handle, req.DisplayName)})
	return nil
}

// POST /api/auth/login.
//
// Limits (RELIABILITY.md §3.9): every attempt counts against the client
// address (Config.LoginPerIP); failed attempts, those refused for a
// wrong password or an unknown handle, count against the handle
// (Config.LoginPerHandle). The handle's slot is taken before the password
// is checked and given back unless the password was wrong, so parallel
// guesses cannot all pass the check before the first failure is counted;
// refusals by the verifier do not count against the handle, so nobody
// locks an account out without solving a challenge per attempt. Requests
// refused by a limit count against neither.
func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeBody(w, r, &req, "handle"); err != nil {
		return err
	}
	ip, now := a.clientIP(r), a.now()
	held, wait, ok := a.loginFailures.reserve(handleKey(req.Handle), now)
	if !ok {
		a.log.Warn("http: login limit per handle", "requestId", requestID(r), "handle", handleKey(req.Handle), "remote", ip)
		return &limitedError{RetryAfter: wait}
	}
	if _, wait, ok := a.authPerIP.reserve(addrKey(ip), now); !ok {
		held.cancel()
		a.log.Warn("http: login limit per address", "requestId", requestID(r), "remote", ip)
		return &limitedError{RetryAfter: wait}
	}
	if err := a.verify(r, req.Verification, ip); err != nil {
		held.cancel()
		return err
	}
	s, err := a.cmd.Login(r.Context(), commands.Login{
		Handle: req.Handle, Password: req.Password, Verified: true, Verifier: a.verifierName,
	})
	if !errors.Is(err, domain.ErrInvalidCredentials) {
		held.cancel()
	}
	if err != nil {
		return err
	}
	if err := a.sync(r.Context(), s.Position); err != nil {
		// The session exists, but a token the read side does not know
		// yet would be refused on first use.
		return err
	}
	a.writeJSON(w, r, http.StatusOK, loginData{Token: s.Token, User: a.userOf(s.User, ""), ExpiresAt: millis(s.ExpiresAt)})
	return nil
}

// POST /api/auth/logout ends the caller's session and answers once the
// read side has applied it, so the gateway is already closing the
// session's sockets and the token is refused from then on.
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	s, err := a.authenticate(r)
	if err != nil {
		return err
	}
	if err := decodeBody(w, r, &emptyRequest{}); err != nil {
		return err
	}
	pos, err := a.cmd.EndSession(r.Context(), s.ID, session.ReasonLogout)
	if err != nil {
		return err
	}
	if err := a.sync(r.Context(), pos); err != nil {
		// SessionEnded is durable; the read side will apply it.
		a.log.Warn("http: logout not yet applied", "requestId", requestID(r), "error", err.Error())
	}
	a.writeJSON(w, r, http.StatusOK, struct{}{})
	return nil
}

// GET /api/auth/me.
func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	s, err := a.authenticate(r)
	if err != nil {
		return err
	}
	a.writeJSON(w, r, http.StatusOK, meData{User: a.userOf(s.User, ""), ExpiresAt: millis(s.ExpiresAt)})
	return nil
}
