package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"switchboard/domain"
	"switchboard/domain/room"
)

// Message pages (GET /api/rooms/{id}/messages).
const (
	// DefaultPageLimit is the page size when the query has no limit.
	DefaultPageLimit = 50
	// MaxPageLimit is the largest limit a query may ask for.
	MaxPageLimit = 100
)

// GET /api/config: what the web client needs before signing in.
func (a *API) config(w http.ResponseWriter, r *http.Request) error {
	c := configData{
		Verifier:          a.verifierName,
		SessionTTLSeconds: int64(a.cfg.SessionTTL.Seconds()),
		Limits:            a.cfg.Limits,
		Demo:              a.cfg.Demo,
	}
	if a.verifierName == "turnstile" {
		c.TurnstileSiteKey = a.cfg.TurnstileSiteKey
	}
	if a.cfg.Demo {
		c.DemoAccounts = a.cfg.DemoAccounts
	}
	a.writeJSON(w, r, http.StatusOK, c)
	return nil
}

// GET /api/users: the directory. Public in demo mode (the sign-in page
// lists the accounts), Bearer otherwise. Invisible users are shown
// offline, except to themselves.
func (a *API) users(w http.ResponseWriter, r *http.Request) error {
	viewer := ""
	if s, err := a.authenticate(r); err == nil {
		viewer = s.User
	} else if !a.cfg.Demo {
		return err
	}
	list := a.views.Users()
	out := make([]User, len(list))
	for i, u := range list {
		if u.Status == "invisible" && u.Handle != viewer {
			u.Status = "offline"
		}
		out[i] = u
	}
	a.writeJSON(w, r, http.StatusOK, usersData{Users: out})
	return nil
}

// GET /api/rooms: the rooms the caller can see.
func (a *API) rooms(w http.ResponseWriter, r *http.Request) error {
	s, err := a.authenticate(r)
	if err != nil {
		return err
	}
	rooms := a.views.RoomsVisibleTo(s.User)
	if rooms == nil {
		rooms = []Room{}
	}
	a.writeJSON(w, r, http.StatusOK, roomsData{Rooms: rooms})
	return nil
}

// GET /api/rooms/{id}/messages?before={seq}&limit={n}: older messages,
// newest first, for members only. A room that does not exist, and a
// private or direct room the caller is not in, is 404 not_found (so ids of
// others' conversations cannot be probed); a public room the caller has
// not joined is 403 not_member.
func (a *API) messages(w http.ResponseWriter, r *http.Request) error {
	s, err := a.authenticate(r)
	if err != nil {
		return err
	}
	before, limit, err := pageQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if room.ValidateID(id) != nil {
		return errNotFound
	}
	rm, ok := a.views.Room(id)
	if !ok {
		return errNotFound
	}
	if !a.views.IsMember(id, s.User) {
		if rm.Visibility == room.Public {
			return domain.ErrNotMember
		}
		return errNotFound
	}
	// Read your writes: a post acknowledged on a WebSocket just before
	// this request is in the page. If the read side does not catch up
	// within SyncTimeout, the page shows what it has.
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.SyncTimeout)
	if err := a.views.CatchUp(ctx); err != nil {
		a.log.Warn("httpapi: messages served before the read side caught up", "room", id, "err", err)
	}
	cancel()
	msgs, err := a.views.Page(r.Context(), id, before, limit+1)
	if err != nil {
		return err
	}
	complete := len(msgs) <= limit
	if !complete {
		msgs = msgs[:limit]
	}
	if msgs == nil {
		msgs = []Message{}
	}
	a.writeJSON(w, r, http.StatusOK, messagesData{Room: id, Messages: msgs, Complete: complete})
	return nil
}

// pageQuery parses before (a positive seq; absent: the newest) and limit
// (1 to MaxPageLimit; absent: DefaultPageLimit). Other parameters are
// ignored; a repeated one is refused.
func pageQuery(raw string) (before uint64, limit int, err error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return 0, 0, badPayload("malformed query string")
	}
	limit = DefaultPageLimit
	if v, ok := q["before"]; ok {
		if len(v) != 1 {
			return 0, 0, badPayload("before: give it once")
		}
		before, err = strconv.ParseUint(v[0], 10, 64)
		if err != nil || before == 0 {
			return 0, 0, badPayload("before: must be a positive seq")
		}
	}
	if v, ok := q["limit"]; ok {
		if len(v) != 1 {
			return 0, 0, badPayload("limit: give it once")
		}
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > MaxPageLimit {
			return 0, 0, badPayload("limit: must be 1 to %d", MaxPageLimit)
		}
		limit = n
	}
	return before, limit, nil
}

// POST /api/admin/bots {enabled}: the bot kill switch, recorded as an
// event through the command side. The admin token is compared as SHA-256
// digests in constant time; failed attempts count against the address's
// login limit. No token: 401; a wrong one, or none configured: 403.
func (a *API) adminBots(w http.ResponseWriter, r *http.Request) error {
	if a.adminHash == nil {
		return errForbidden
	}
	token, ok := bearer(r)
	if !ok {
		return errUnauthorized
	}
	ip := a.clientIP(r)
	held, wait, ok := a.authPerIP.reserve(addrKey(ip), a.now())
	if !ok {
		return &limitedError{RetryAfter: wait}
	}
	if subtle.ConstantTimeCompare(hashBytes(token), a.adminHash) != 1 {
		a.log.Warn("http: wrong admin token", "requestId", requestID(r), "remote", ip)
		return errForbidden
	}
	held.cancel()
	var req botsRequest
	if err := decodeBody(w, r, &req, "enabled"); err != nil {
		return err
	}
	pos, err := a.cmd.SetBotsEnabled(r.Context(), *req.Enabled, "admin")
	if err != nil {
		return err
	}
	if err := a.sync(r.Context(), pos); err != nil {
		a.log.Warn("http: kill switch not yet applied", "requestId", requestID(r), "error", err.Error())
	}
	a.log.Info("http: bots switched", "requestId", requestID(r), "enabled", *req.Enabled, "remote", ip)
	a.writeJSON(w, r, http.StatusOK, botsData{Enabled: *req.Enabled})
	return nil
}

// GET /healthz: liveness. 200 "ok" whenever the process serves.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("ok\n"))
	}
	return nil
}

// GET /readyz: readiness, as an envelope whose data is {ready, store,
// projections, bots} in both cases. 200 when the store answers and the
// projections have caught up (and, with Config.ReadyRequiresBots, the bot
// backend is "ok" or "disabled"); 503 with the reasons otherwise. Store
// errors are logged, not shown: the endpoint is public.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) error {
	d := readyData{Store: "ok", Projections: "ok", Bots: "disabled"}
	var reasons []string
	if a.deps.StoreCheck != nil {
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ReadyTimeout)
		err := a.deps.StoreCheck(ctx)
		cancel()
		if err != nil {
			a.log.Warn("http: store not ready", "requestId", requestID(r), "error", err.Error())
			d.Store = "unavailable"
			reasons = append(reasons, "store unavailable")
		}
	}
	if err := a.views.Ready(); err != nil {
		d.Projections = truncate(err.Error(), 200)
		reasons = append(reasons, "projections: "+d.Projections)
	}
	if a.deps.BotBackend != nil {
		d.Bots = truncate(a.deps.BotBackend(), 200)
	}
	if a.cfg.ReadyRequiresBots && d.Bots != "ok" && d.Bots != "disabled" {
		reasons = append(reasons, "bots: "+d.Bots)
	}
	d.Ready = len(reasons) == 0
	if d.Ready {
		a.writeJSON(w, r, http.StatusOK, d)
		return nil
	}
	w.Header().Set("Retry-After", "1")
	a.send(w, r, http.StatusServiceUnavailable, Envelope{Data: d,
		Error: &ErrorBody{Code: codeUnavailable, Message: "not ready: " + strings.Join(reasons, "; ")}})
	return nil
}
