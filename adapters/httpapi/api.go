package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchboard/commands"
	"switchboard/domain/session"
)

// Commands is what the API asks of the write side; *commands.Handlers
// implements it.
type Commands interface {
	RegisterUser(ctx context.Context, c commands.RegisterUser) (handle string, position uint64, err error)
	Login(ctx context.Context, c commands.Login) (commands.Session, error)
	EndSession(ctx context.Context, sessionID string, reason session.Reason) (position uint64, err error)
	SetBotsEnabled(ctx context.Context, enabled bool, by string) (position uint64, err error)
}

var _ Commands = (*commands.Handlers)(nil)

// Views is what the API reads: the projections, wired by cmd. Every method
// is safe for concurrent use and answers from memory, except Page, which
// may read the store.
type Views interface {
	// SessionByTokenHash resolves commands.TokenHash of a session token.
	// Ended and expired sessions are still found (with Ended set, or an
	// ExpiresAt in the past), so the API can tell session_expired from an
	// unknown token.
	SessionByTokenHash(hash string) (SessionInfo, bool)
	// User returns a user as they see themself: "invisible" stays
	// invisible.
	User(handle string) (User, bool)
	// Users lists the directory, humans and bots, in a stable order. The
	// API shows every status "invisible" as "offline".
	Users() []User
	// RoomsVisibleTo lists the rooms user can see: every public room, the
	// private rooms they belong to or are invited to (Invited set), and
	// their direct rooms.
	RoomsVisibleTo(user string) []Room
	// Room returns a room by id.
	Room(id string) (Room, bool)
	// IsMember reports whether user is a member of room.
	IsMember(room, user string) bool
	// Page returns up to limit messages of room with seq < beforeSeq
	// (beforeSeq 0: the newest), newest first, reading the room's stream
	// beyond the latest-100 buffer. The API asks for one more than it
	// serves (at most MaxPageLimit+1) to learn whether older ones exist.
	Page(ctx context.Context, room string, beforeSeq uint64, limit int) ([]Message, error)
	// Sync waits until the views have applied the log up to position, or
	// ctx ends.
	Sync(ctx context.Context, position uint64) error
	// CatchUp waits until the views have applied everything the log held
	// when it was called (as far as this node knows it), or ctx ends: a
	// post this node acknowledged on a WebSocket is then in the room's
	// messages.
	CatchUp(ctx context.Context) error
	// Ready is nil once the projections have caught up with the log, and
	// says why not otherwise.
	Ready() error
}

// Verifier is the human verification login and sign-up require (the
// built-in proof of work, or Turnstile). Verify returns nil when response
// proves a human. An error whose chain has a `Temporary() bool` method
// answering true means the verifier could not decide now (503
// unavailable; fail closed); any other error is a refusal (403
// verification_failed). Context errors count as unavailable.
type Verifier interface {
	// Name is what /api/config reports and sessions record: "pow" or
	// "turnstile".
	Name() string
	Verify(ctx context.Context, response, remoteIP string) error
}

// Config configures the API. Zero values take the defaults noted.
type Config struct {
	// Demo: the server runs in demo mode (seeded accounts may log in
	// without a password, which the command side decides; GET /api/users
	// is public). Reported by /api/config.
	Demo bool
	// DemoAccounts are listed by /api/config in demo mode, for the
	// sign-in page. Ignored otherwise.
	DemoAccounts []DemoAccount
	// TurnstileSiteKey is reported by /api/config when the verifier is
	// "turnstile".
	TurnstileSiteKey string
	// SessionTTL is the sliding session lifetime reported by /api/config.
	// Zero: 20 minutes (the domain's default).
	SessionTTL time.Duration
	// Limits are reported by /api/config as given (see LimitsFromPolicy).
	Limits Limits

	// AdminToken authorises POST /api/admin/bots (as "Authorization:
	// Bearer <token>"). Empty: the endpoint is disabled and answers 403.
	// At least 16 characters when set.
	AdminToken string

	// TrustProxy: take the client address from the last X-Forwarded-For
	// entry (the one the proxy in front of us appended) instead of the
	// connection's. Only set it behind a proxy that appends it, or clients
	// choose their own address for the limits. Default false.
	TrustProxy bool
	// AllowedOrigins are the origins ("https://chat.example.com") besides
	// our own that may call the API from a browser: CORS headers are sent
	// to them only, and cross-origin state-changing requests from any
	// other origin are refused. Empty: same origin only, no CORS headers.
	AllowedOrigins []string
	// HSTS adds Strict-Transport-Security (one year, subdomains). Set it
	// only when the server is reached over HTTPS.
	HSTS bool

	// LoginPerIP is how many login and sign-up attempts one client
	// address may make per LoginWindow (every attempt counts, successful
	// and refused ones, except those refused by a limit; failed admin
	// calls count too). Zero: 5. Negative: no limit. IPv6 addresses are
	// counted per /64.
	LoginPerIP int
	// LoginPerHandle is how many failed logins (wrong password) one handle
	// may have per LoginWindow; further attempts are refused with 429,
	// the right password included, until the oldest failure leaves the
	// window. Zero: 5. Negative: no limit.
	LoginPerHandle int
	// LoginWindow is the window of both login limits. Zero: 1 minute.
	LoginWindow time.Duration
	// ChallengePerIP is how many proof-of-work challenges one client
	// address may fetch per minute. Zero: 30. Negative: no limit.
	ChallengePerIP int
	// MaxLimiterKeys bounds the keys (addresses, handles) each limiter
	// remembers; the least recently used are forgotten first. Zero:
	// 100,000.
	MaxLimiterKeys int

	// SyncTimeout bounds how long a write waits for the read side to
	// apply it before answering (read-your-writes). Zero: 3 s.
	SyncTimeout time.Duration
	// ReadyTimeout bounds the store check of /readyz. Zero: 2 s.
	ReadyTimeout time.Duration
	// ReadyRequiresBots makes /readyz fail while the bot backend is
	// neither "ok" nor "disabled". Default false: a dead LLM degrades the
	// bots (they post a system message), not the chat, so it should not
	// take the node out of rotation.
	ReadyRequiresBots bool
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("httpapi: AdminToken must be at least 16 characters"))
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("httpapi: AllowedOrigins: %q is not an origin (scheme://host[:port])", o))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"SessionTTL", c.SessionTTL}, {"LoginWindow", c.LoginWindow}, {"SyncTimeout", c.SyncTimeout}, {"ReadyTimeout", c.ReadyTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("httpapi: %s is negative", d.name))
		}
	}
	if c.MaxLimiterKeys < 0 {
		errs = append(errs, errors.New("httpapi: MaxLimiterKeys is negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.SessionTTL == 0 {
		c.SessionTTL = 20 * time.Minute
	}
	if c.LoginPerIP == 0 {
		c.LoginPerIP = 5
	}
	if c.LoginPerHandle == 0 {
		c.LoginPerHandle = 5
	}
	if c.LoginWindow == 0 {
		c.LoginWindow = time.Minute
	}
	if c.ChallengePerIP == 0 {
		c.ChallengePerIP = 30
	}
	if c.MaxLimiterKeys == 0 {
		c.MaxLimiterKeys = 100_000
	}
	if c.SyncTimeout == 0 {
		c.SyncTimeout = 3 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 2 * time.Second
	}
	if c.Limits.Winks == nil {
		c.Limits.Winks = []string{}
	}
	return c
}

// Deps are the API's collaborators. Commands and Views are required.
type Deps struct {
	Commands Commands
	Views    Views
	// Verifier checks logins and sign-ups. Nil: no human verification
	// ("none"; the verification field may be omitted).
	Verifier Verifier
	// Challenge issues a proof-of-work challenge for POST
	// /api/auth/challenge (the pow verifier's Challenge, wrapped:
	// func() (any, error) { return v.Challenge() }). Nil: the endpoint
	// answers 404.
	Challenge func() (any, error)
	// StoreCheck reports whether the event store is reachable, for
	// /readyz. Nil: not checked.
	StoreCheck func(context.Context) error
	// BotBackend reports the bot backend's state for /readyz: "ok",
	// "disabled" (kill switch off or no LLM configured), or a short
	// reason it is failing. Nil: "disabled".
	BotBackend func() string
	// Metrics serves /metrics (Prometheus text format) as is. Nil: 404,
	// e.g. when cmd serves metrics on a separate listener.
	Metrics http.Handler
	// WebSocket serves /ws (the gateway). Nil: 404.
	WebSocket http.Handler
	// Static serves every path outside /api, /ws, /healthz, /readyz and
	// /metrics (the web client). Nil: 404.
	Static http.Handler
	// Logger receives the access log and unexpected errors. Nil:
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock: envelope timestamps, session expiry, limits. Nil:
	// time.Now.
	Now func() time.Time
}

// API is the server's root http.Handler. Safe for concurrent use.
type API struct {
	cfg      Config
	cmd      Commands
	views    Views
	verifier Verifier
	deps     Deps
	log      *slog.Logger
	now      func() time.Time

	verifierName string
	csp          string
	origins      map[string]bool
	adminHash    []byte

	authPerIP     *limiter // login and sign-up attempts, failed admin calls
	loginFailures *limiter // failed logins per handle
	challenges    *limiter // challenges per address

	handler http.Handler
}

// New returns the API, or the configuration's problems.
func New(cfg Config, deps Deps) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Commands == nil || deps.Views == nil {
		return nil, errors.New("httpapi: Deps.Commands and Deps.Views are required")
	}
	cfg = cfg.withDefaults()
	a := &API{
		cfg: cfg, cmd: deps.Commands, views: deps.Views, verifier: deps.Verifier, deps: deps,
		log: deps.Logger, now: deps.Now, verifierName: "none", origins: map[string]bool{},
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.verifier != nil {
		a.verifierName = a.verifier.Name()
	}
	a.csp = contentSecurityPolicy(a.verifierName == "turnstile")
	for _, o := range cfg.AllowedOrigins {
		a.origins[strings.ToLower(o)] = true
	}
	if cfg.AdminToken != "" {
		a.adminHash = hashBytes(cfg.AdminToken)
	}
	a.authPerIP = newLimiter(cfg.LoginPerIP, cfg.LoginWindow, cfg.MaxLimiterKeys)
	a.loginFailures = newLimiter(cfg.LoginPerHandle, cfg.LoginWindow, cfg.MaxLimiterKeys)
	a.challenges = newLimiter(cfg.ChallengePerIP, time.Minute, cfg.MaxLimiterKeys)
	a.handler = a.middleware(a.routes())
	return a, nil
}

// ServeHTTP serves every endpoint, /ws and the web client.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// handlerFunc is an endpoint: it writes a success itself, or returns the
// error that errorStatus turns into the response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// routes builds the mux. Each path is registered without a method, and
// the route checks the method, so that a wrong one gets the envelope (405
// with Allow) rather than ServeMux's plain-text answer.
func (a *API) routes() http.Handler {
	mux := http.NewServeMux()
	route := func(path string, methods map[string]handlerFunc) {
		allow := make([]string, 0, len(methods)+1)
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			if _, ok := methods[m]; ok || (m == http.MethodHead && methods[http.MethodGet] != nil) {
				allow = append(allow, m)
			}
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			h := methods[r.Method]
			if h == nil && r.Method == http.MethodHead {
				h = methods[http.MethodGet]
			}
			if h == nil {
				w.Header().Set("Allow", strings.Join(allow, ", "))
				a.writeAPIError(w, r, methodNotAllowed(allow), nil)
				return
			}
			if err := h(w, r); err != nil {
				a.writeError(w, r, err)
			}
		})
	}
	get := func(h handlerFunc) map[string]handlerFunc { return map[string]handlerFunc{http.MethodGet: h} }
	post := func(h handlerFunc) map[string]handlerFunc { return map[string]handlerFunc{http.MethodPost: h} }

	route("/api/config", get(a.config))
	route("/api/auth/challenge", post(a.challenge))
	route("/api/auth/register", post(a.register))
	route("/api/auth/login", post(a.login))
	route("/api/auth/logout", post(a.logout))
	route("/api/auth/me", get(a.me))
	route("/api/users", get(a.users))
	route("/api/rooms", get(a.rooms))
	route("/api/rooms/{id}/messages", get(a.messages))
	route("/api/admin/bots", post(a.adminBots))
	route("/healthz", get(a.healthz))
	route("/readyz", get(a.readyz))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { a.writeError(w, r, errNotFound) })

	optional := func(path string, h http.Handler) {
		if h == nil {
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.writeError(w, r, errNotFound) })
		}
		mux.Handle(path, h)
	}
	optional("/metrics", a.deps.Metrics)
	optional("/ws", a.deps.WebSocket)
	optional("/", a.deps.Static)
	return mux
}
