// Package app is Switchboard's composition root: it builds the store, the
// command handlers, the projections, the Watermill bus and its reactors,
// the HTTP API, the WebSocket gateway and the web client from one Config,
// and runs them. cmd/switchboard's serve command and the black-box tests
// in tests/ both use it, so the tests run the real wiring.
package app

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"switchboard/adapters/httpapi"
	"switchboard/adapters/kurrentdb"
	"switchboard/adapters/natsbus"
	"switchboard/adapters/ollama"
	"switchboard/adapters/pow"
	"switchboard/adapters/turnstile"
	"switchboard/adapters/web"
	"switchboard/adapters/ws"
	"switchboard/commands"
	"switchboard/domain"
	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
	"switchboard/projections"
)

// Config is the whole configuration of a server. cmd/switchboard fills it
// from flags and environment variables; Validate reports every problem at
// once.
type Config struct {
	// Addr is the HTTP listen address. Empty: ":8080" for Run,
	// "127.0.0.1:0" for Start.
	Addr string
	// Data is the data directory (event log, snapshots, checkpoints).
	// Required; with an outside Store it keeps this node's snapshots and
	// checkpoints only.
	Data string
	// Store is where the event log lives: empty for the embedded log under
	// Data, or a KurrentDB connection string (esdb://host:2113?tls=false,
	// kurrentdb://…) that several nodes share.
	Store string
	// NATS is the NATS server (nats://host:4222) that carries the bus and
	// the typing signals between nodes; empty: in-process only. A cluster
	// needs both an outside Store and NATS.
	NATS string
	// Node names this node in logs and on the NATS server. Empty: the
	// host name and the process id.
	Node string
	// Demo seeds the reference's demo accounts and rooms, and lets the demo
	// accounts log in without a password.
	Demo bool
	// Verifier is the human verification: "pow" (the default, built in),
	// "turnstile", or "none" (only with AllowNoVerification).
	Verifier string
	// AllowNoVerification must be set for Verifier "none": a development
	// switch the server logs loudly.
	AllowNoVerification bool
	// PowKey is the proof-of-work HMAC key (hex, at least 32 bytes). Empty:
	// a random key per start (challenges issued before a restart fail).
	PowKey string
	// TurnstileSecret, TurnstileSiteKey and TurnstileVerifyURL configure
	// Turnstile; the URL defaults to Cloudflare's.
	TurnstileSecret, TurnstileSiteKey, TurnstileVerifyURL string
	// TurnstileHostname is the hostname Turnstile tokens must be issued
	// for; empty: not checked.
	TurnstileHostname string
	// AdminToken guards POST /api/admin/bots; empty disables it.
	AdminToken string
	// OriginPatterns are extra allowed WebSocket origins (host patterns);
	// empty: same origin only.
	OriginPatterns []string
	// TrustProxy takes the client address from X-Forwarded-For.
	TrustProxy bool
	// Policy holds the domain's limits. Zero: domain.DefaultPolicy().
	Policy domain.Policy
	// SnapshotEvery is how many records the projections apply between
	// snapshots. Zero: the projections' default; negative: only at close.
	SnapshotEvery int
	// Logger receives structured logs. Nil: JSON to stderr.
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Hasher hashes passwords. Nil: argon2id with OWASP's parameters.
	Hasher commands.Hasher
	// OllamaHost is the Ollama server the bots use (the OLLAMA_HOST forms).
	// Empty: http://127.0.0.1:11434.
	OllamaHost string
	// OllamaModel is the model. Empty: llama3.2:1b.
	OllamaModel string
	// Static serves the web client. Nil: the embedded client
	// (adapters/web).
	Static http.Handler
	// Gateway overrides the WebSocket gateway's timeouts and queue sizes
	// (zero fields keep their defaults); tests shorten them.
	Gateway GatewayTuning
	// ListenControl, if set, is applied to the listening socket (tests
	// shrink socket buffers with it; accepted sockets inherit them).
	ListenControl func(network, address string, c syscall.RawConn) error
}

// GatewayTuning are the gateway settings a deployment may tune.
type GatewayTuning struct {
	HelloTimeout, IdleTimeout, TypingTTL, WriteTimeout time.Duration
	SendQueue                                          int
	// FrameRate and FrameBurst are the per-socket flood guard (frames per
	// second); load tests raise them.
	FrameRate  float64
	FrameBurst int
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("config: the data directory is empty"))
	}
	switch c.Verifier {
	case "", "pow":
		if c.PowKey != "" {
			if b, err := hex.DecodeString(c.PowKey); err != nil || len(b) < pow.MinKeyLength {
				errs = append(errs, fmt.Errorf("config: the proof-of-work key must be at least %d bytes of hex", pow.MinKeyLength))
			}
		}
	case "turnstile":
		if c.TurnstileSecret == "" || c.TurnstileSiteKey == "" {
			errs = append(errs, errors.New("config: turnstile needs a secret and a site key"))
		}
	case "none":
		if !c.AllowNoVerification {
			errs = append(errs, errors.New(`config: verifier "none" needs the explicit development flag (--dev-no-verification)`))
		}
	default:
		errs = append(errs, fmt.Errorf("config: unknown verifier %q (want pow, turnstile or none)", c.Verifier))
	}
	if c.Store != "" && !IsKurrentDB(c.Store) {
		errs = append(errs, errors.New("config: the store must be empty (embedded) or a KurrentDB connection string (esdb://…, kurrentdb://…)"))
	}
	if c.NATS != "" && (c.Verifier == "" || c.Verifier == "pow") && c.PowKey == "" {
		errs = append(errs, errors.New("config: cluster nodes need one proof-of-work key (--pow-key): a challenge one node issues is verified by whichever node the login reaches"))
	}
	if c.NATS != "" && c.Store == "" {
		errs = append(errs, errors.New("config: NATS without a shared store: nodes on the embedded log cannot share work; set --store too"))
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("config: the admin token must be at least 16 characters"))
	}
	if c.Policy != (domain.Policy{}) {
		if err := c.Policy.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// IsKurrentDB reports whether store is a KurrentDB connection string (the
// schemes the client accepts).
func IsKurrentDB(store string) bool {
	for _, scheme := range []string{"esdb://", "esdb+discover://", "kurrentdb://", "kurrentdb+discover://"} {
		if strings.HasPrefix(store, scheme) {
			return true
		}
	}
	return false
}

// App is a built server.
type App struct {
	cfg      Config
	log      *slog.Logger
	store    eventstore.Store
	health   func() error // the store's connection, when it has one
	signals  *natsbus.Signals
	handlers *commands.Handlers
	set      *projections.Set
	runner   *projections.Runner
	bus      *commands.Bus
	gateway  *ws.Gateway
	bots     *commands.BotOrchestrator
	api      *httpapi.API
	metrics  *metrics

	cancel context.CancelFunc
	wg     sync.WaitGroup
	srv    *http.Server
	once   sync.Once
}

// New opens the store, seeds what the mode asks for, and builds every
// part. Nothing serves until Start or Run.
func New(ctx context.Context, cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy == (domain.Policy{}) {
		cfg.Policy = domain.DefaultPolicy()
	}
	if cfg.Static == nil {
		cfg.Static = web.Handler()
	}
	if cfg.Node == "" {
		host, _ := os.Hostname()
		cfg.Node = fmt.Sprintf("%s-%d", cmp.Or(host, "switchboard"), os.Getpid())
	}
	log := cfg.Logger
	a := &App{cfg: cfg, log: log, metrics: newMetrics()}
	ok := false
	defer func() {
		if !ok {
			a.closeParts()
		}
	}()

	started := time.Now()
	store, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	a.store = store
	head, _ := store.Head(ctx)
	log.Info("event store open", "node", cfg.Node, "store", a.storeName(), "data", cfg.Data, "head", head, "took", time.Since(started).String())

	inst := &instrumentedStore{Store: store, m: a.metrics, log: log}
	a.handlers, err = commands.New(inst, commands.Config{Policy: cfg.Policy, Clock: clock(cfg.Now), Hasher: cfg.Hasher, Demo: cfg.Demo, Shared: cfg.Store != ""})
	if err != nil {
		return nil, err
	}

	a.set = projections.NewSet(store)
	a.runner, err = projections.NewRunner(store, projections.Options{
		SnapshotDir:   projections.SnapshotDir(cfg.Data),
		SnapshotEvery: cfg.SnapshotEvery,
		Logf:          func(f string, args ...any) { log.Warn(fmt.Sprintf(f, args...)) },
	}, a.set.All()...)
	if err != nil {
		return nil, err
	}

	// Watermill narrates every handler start at info; that is debug here.
	wlog := watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	busCfg := commands.BusConfig{
		Checkpoint: commands.NewFileCheckpoint(filepath.Join(cfg.Data, "forwarder.checkpoint")),
		Logger:     wlog,
	}
	var signals ws.Signals
	if cfg.NATS != "" {
		ncfg := natsbus.Config{URL: cfg.NATS, Name: cfg.Node, Logger: log}
		if busCfg.PubSub, err = natsbus.PubSub(ncfg); err != nil {
			return nil, err
		}
		busCfg.JoinAtHead = true
		// The gateway exists only below; signals wait for it.
		var gw atomic.Pointer[ws.Gateway]
		a.signals, err = natsbus.NewSignals(ncfg, func(room, user string, typing bool) {
			if g := gw.Load(); g != nil {
				g.ReceiveTyping(room, user, typing)
			}
		})
		if err != nil {
			return nil, err
		}
		signals = a.signals
		defer func() { gw.Store(a.gateway) }()
	}
	a.bus, err = commands.NewBus(a.handlers, store, busCfg)
	if err != nil {
		return nil, err
	}
	if err := a.bus.AddObserver(commands.NewSweeper(a.handlers, a.bus, commands.SweeperConfig{Logger: wlog})); err != nil {
		return nil, err
	}

	verifier, challenge, err := a.verifier()
	if err != nil {
		return nil, err
	}

	r := reads{set: a.set, runner: a.runner}
	limits := httpapi.LimitsFromPolicy(cfg.Policy)
	gt := cfg.Gateway
	gcfg := ws.Config{
		OriginPatterns: cfg.OriginPatterns, Logger: log, Now: cfg.Now,
		HelloTimeout: gt.HelloTimeout, IdleTimeout: gt.IdleTimeout, TypingTTL: gt.TypingTTL,
		WriteTimeout: gt.WriteTimeout, SendQueue: gt.SendQueue,
		FrameRate: gt.FrameRate, FrameBurst: gt.FrameBurst, Signals: signals,
	}
	limits.MaxFrameBytes = ws.MaxFrameBytes
	limits.HeartbeatIntervalMs = 30_000
	limits.IdleTimeoutMs = cmp.Or(gt.IdleTimeout, 90*time.Second).Milliseconds()
	limits.TypingTTLMs = cmp.Or(gt.TypingTTL, 3*time.Second).Milliseconds()
	gcfg.Limits = limits
	a.gateway = ws.New(&instrumentedCommands{Handlers: a.handlers, m: a.metrics}, wsViews{r}, gcfg)
	// The gateway fans out each change as the projections apply it, on
	// the runner's goroutine: no queue and no hand-off between a commit
	// and the sockets' queues. The runner's Close detaches it.
	a.runner.Hub().Attach(r.fanOut(a.gateway))

	// The bots: a reactor on the bus that calls Ollama from its own
	// workers, shows typing through the gateway, and reports the backend's
	// state to /readyz. A missing Ollama or model degrades only the bots.
	llm, err := ollama.New(ollama.Config{Host: cfg.OllamaHost, Model: cfg.OllamaModel, Logger: log})
	if err != nil {
		return nil, err
	}
	handles := make([]string, len(Bots))
	for i, b := range Bots {
		handles[i] = b.Handle
	}
	a.bots, err = commands.NewBotOrchestrator(a.handlers, commands.BotConfig{
		LLM: llm, Typing: a.gateway, Bots: handles, Logger: log,
		// Refresh the bot's typing indicator before the gateway clears it.
		TypingRefresh: cmp.Or(gt.TypingTTL, 3*time.Second) * 2 / 3,
	})
	if err != nil {
		return nil, err
	}
	if err := a.bus.AddReactor(a.bots); err != nil {
		return nil, err
	}

	var demoAccounts []httpapi.DemoAccount
	if cfg.Demo {
		for i := range demoUsers {
			demoAccounts = append(demoAccounts, httpapi.DemoAccount{Handle: fmt.Sprintf("user_%d", i+1), DisplayName: fmt.Sprintf("User %d", i+1)})
		}
	}
	deps := httpapi.Deps{
		Commands:   a.handlers,
		Views:      apiViews{r},
		Challenge:  challenge,
		StoreCheck: a.storeCheck,
		BotBackend: a.bots.State,
		Metrics:    a.metrics.handler(a),
		WebSocket:  a.gateway,
		Static:     cfg.Static,
		Logger:     log,
		Now:        cfg.Now,
	}
	if verifier != nil {
		deps.Verifier = verifier
	}
	a.api, err = httpapi.New(httpapi.Config{
		Demo: cfg.Demo, DemoAccounts: demoAccounts, TurnstileSiteKey: cfg.TurnstileSiteKey,
		SessionTTL: cfg.Policy.SessionTTL, Limits: limits, AdminToken: cfg.AdminToken,
		TrustProxy: cfg.TrustProxy,
	}, deps)
	if err != nil {
		return nil, err
	}

	if err := seed(ctx, a.handlers, cfg.Demo); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// openStore opens the configured event store: the embedded log under
// Data, or KurrentDB.
func (a *App) openStore(ctx context.Context) (eventstore.Store, error) {
	if a.cfg.Store == "" {
		return filestore.Open(a.cfg.Data, filestore.Options{Logger: a.log})
	}
	if err := os.MkdirAll(a.cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s, err := kurrentdb.Open(ctx, a.cfg.Store, kurrentdb.Options{Logger: a.log})
	if err != nil {
		return nil, err
	}
	a.health = s.Health
	return s, nil
}

// storeName names the store for logs, without credentials.
func (a *App) storeName() string {
	if a.cfg.Store == "" {
		return "embedded"
	}
	u, err := url.Parse(a.cfg.Store)
	if err != nil {
		return "kurrentdb"
	}
	return u.Scheme + "://" + u.Host
}

// storeCheck is the store's part of /readyz.
func (a *App) storeCheck(ctx context.Context) error {
	if a.health != nil {
		if err := a.health(); err != nil {
			return err
		}
	}
	_, err := a.store.Head(ctx)
	return err
}

// verifier builds the configured human verification.
func (a *App) verifier() (httpapi.Verifier, func() (any, error), error) {
	cfg := a.cfg
	switch cfg.Verifier {
	case "turnstile":
		v, err := turnstile.New(turnstile.Config{Secret: cfg.TurnstileSecret, VerifyURL: cfg.TurnstileVerifyURL, Hostname: cfg.TurnstileHostname, Action: "login"})
		return v, nil, err
	case "none":
		a.log.Warn("HUMAN VERIFICATION IS OFF (--dev-no-verification): anyone can script logins and registrations; never run this way in production")
		return nil, nil, nil
	default:
		key := pow.GenerateKey()
		if cfg.PowKey != "" {
			key, _ = hex.DecodeString(cfg.PowKey)
		}
		v, err := pow.New(pow.Config{HMACKey: key, Now: cfg.Now})
		if err != nil {
			return nil, nil, err
		}
		return v, func() (any, error) { return v.Challenge() }, nil
	}
}

// Handler is the server's root handler: API, WebSocket and web client.
func (a *App) Handler() http.Handler { return a.api }

// Handlers exposes the command side (for tests and tools).
func (a *App) Handlers() *commands.Handlers { return a.handlers }

// Projections exposes the read side (for tests and tools).
func (a *App) Projections() (*projections.Set, *projections.Runner) { return a.set, a.runner }

// Store exposes the event store (for tests and tools).
func (a *App) Store() eventstore.Store { return a.store }

// startLoops starts the projections (and with them the gateway's
// fan-out) and the bus.
func (a *App) startLoops(ctx context.Context) error {
	if err := a.runner.Start(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		// The bus primes its reactors by reading the log up to its
		// checkpoint: after the projections are ready, so that a start
		// on a long log is not slowed by it. Nothing is missed
		// meanwhile: the forwarder starts from the checkpoint.
		if err := a.runner.WaitReady(runCtx); err != nil {
			return
		}
		if err := a.bus.Run(runCtx); err != nil && runCtx.Err() == nil {
			a.log.Error("bus stopped", "err", err)
		}
	}()
	return nil
}

// Start serves on cfg.Addr (default 127.0.0.1:0) in the background and
// returns the base URL once the projections are ready.
func (a *App) Start(ctx context.Context) (string, error) {
	addr := a.cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lc := net.ListenConfig{Control: a.cfg.ListenControl}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	if err := a.serve(ctx, ln); err != nil {
		ln.Close()
		return "", err
	}
	return "http://" + ln.Addr().String(), nil
}

func (a *App) serve(ctx context.Context, ln net.Listener) error {
	if err := a.startLoops(ctx); err != nil {
		return err
	}
	if err := a.runner.WaitReady(ctx); err != nil {
		return err
	}
	a.srv = &http.Server{
		Handler:           a.api,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// No ReadTimeout/WriteTimeout: they would cut WebSockets; the
		// gateway bounds every read and write of its own.
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	a.log.Info("listening", "addr", ln.Addr().String(), "demo", a.cfg.Demo, "verifier", a.verifierName())
	return nil
}

func (a *App) verifierName() string {
	if a.cfg.Verifier == "" {
		return "pow"
	}
	return a.cfg.Verifier
}

// Run serves until ctx ends, then shuts down gracefully within timeout.
func (a *App) Run(ctx context.Context, timeout time.Duration) error {
	addr := a.cfg.Addr
	if addr == "" {
		addr = ":8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if err := a.serve(ctx, ln); err != nil {
		ln.Close()
		return err
	}
	<-ctx.Done()
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return a.Shutdown(sctx)
}

// Shutdown says goodbye to every socket, stops serving, stops the loops,
// writes the projections' snapshots and closes the store.
func (a *App) Shutdown(ctx context.Context) error {
	var errs []error
	a.once.Do(func() {
		if a.srv != nil {
			if err := a.gateway.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
			if err := a.srv.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if a.cancel != nil {
			a.cancel()
		}
		a.wg.Wait()
		errs = append(errs, a.closeParts())
	})
	return errors.Join(errs...)
}

// Close shuts down with a short timeout.
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Shutdown(ctx)
}

func (a *App) closeParts() error {
	var errs []error
	if a.bus != nil {
		errs = append(errs, a.bus.Close())
	}
	if a.signals != nil {
		errs = append(errs, a.signals.Close())
	}
	if a.runner != nil {
		errs = append(errs, a.runner.Close())
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}

// clock adapts a func to commands.Clock.
type clock func() time.Time

func (c clock) Now() time.Time { return c() }
