package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"switchboard/cmd/switchboard/app"
)

// env reads the environment: the one place that does.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}

// parseServe builds the server's configuration from flags, falling back to
// environment variables, falling back to the defaults. Every flag names its
// variable in its usage.
func parseServe(args []string, stderr io.Writer) (app.Config, time.Duration, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c app.Config
	var origins, logLevel string
	var shutdown time.Duration
	fs.StringVar(&c.Addr, "addr", env("SWITCHBOARD_ADDR", ":8080"), "HTTP listen address (SWITCHBOARD_ADDR)")
	fs.StringVar(&c.Data, "data", env("SWITCHBOARD_DATA", "./data"), "data directory: event log, snapshots, checkpoints (SWITCHBOARD_DATA)")
	fs.BoolVar(&c.Demo, "demo", envBool("SWITCHBOARD_DEMO"), "seed the demo accounts user_1…user_20 and the rooms general and music; demo accounts log in without a password (SWITCHBOARD_DEMO)")
	fs.StringVar(&c.Store, "store", env("SWITCHBOARD_STORE", ""), "event store: empty for the embedded log under --data, or a KurrentDB connection string esdb://host:2113?tls=false shared by a cluster (SWITCHBOARD_STORE)")
	fs.StringVar(&c.NATS, "nats", env("SWITCHBOARD_NATS", ""), "NATS server with JetStream (nats://host:4222) carrying the bus and typing between nodes; empty: in-process (SWITCHBOARD_NATS)")
	fs.StringVar(&c.Node, "node", env("SWITCHBOARD_NODE", ""), "this node's name in logs and on NATS; empty: host name and process id (SWITCHBOARD_NODE)")
	fs.StringVar(&c.Verifier, "verifier", env("SWITCHBOARD_VERIFIER", "pow"), "human verification: pow (built in), turnstile, or none (SWITCHBOARD_VERIFIER)")
	fs.BoolVar(&c.AllowNoVerification, "dev-no-verification", envBool("SWITCHBOARD_DEV_NO_VERIFICATION"), "allow --verifier none (development only; logged loudly)")
	fs.StringVar(&c.PowKey, "pow-key", env("SWITCHBOARD_POW_KEY", ""), "proof-of-work HMAC key, hex, ≥32 bytes; empty: random per start (SWITCHBOARD_POW_KEY)")
	fs.StringVar(&c.TurnstileSecret, "turnstile-secret", env("SWITCHBOARD_TURNSTILE_SECRET", ""), "Cloudflare Turnstile secret (SWITCHBOARD_TURNSTILE_SECRET)")
	fs.StringVar(&c.TurnstileSiteKey, "turnstile-site-key", env("SWITCHBOARD_TURNSTILE_SITE_KEY", ""), "Cloudflare Turnstile site key (SWITCHBOARD_TURNSTILE_SITE_KEY)")
	fs.StringVar(&c.TurnstileVerifyURL, "turnstile-verify-url", env("SWITCHBOARD_TURNSTILE_VERIFY_URL", ""), "siteverify URL; empty: Cloudflare's (SWITCHBOARD_TURNSTILE_VERIFY_URL)")
	fs.StringVar(&c.TurnstileHostname, "turnstile-hostname", env("SWITCHBOARD_TURNSTILE_HOSTNAME", ""), "hostname Turnstile tokens must be issued for (SWITCHBOARD_TURNSTILE_HOSTNAME)")
	fs.StringVar(&c.AdminToken, "admin-token", env("SWITCHBOARD_ADMIN_TOKEN", ""), "token for POST /api/admin/bots; empty disables it (SWITCHBOARD_ADMIN_TOKEN)")
	fs.StringVar(&origins, "origins", env("SWITCHBOARD_ORIGINS", ""), "extra allowed WebSocket origins, comma-separated host patterns; empty: same origin only (SWITCHBOARD_ORIGINS)")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", envBool("SWITCHBOARD_TRUST_PROXY"), "take client addresses from X-Forwarded-For (SWITCHBOARD_TRUST_PROXY)")
	fs.StringVar(&c.OllamaHost, "ollama-host", env("OLLAMA_HOST", ""), "Ollama server for the bots; empty: http://127.0.0.1:11434 (OLLAMA_HOST)")
	fs.StringVar(&c.OllamaModel, "ollama-model", env("SWITCHBOARD_OLLAMA_MODEL", ""), "model the bots use; empty: llama3.2:1b (SWITCHBOARD_OLLAMA_MODEL)")
	fs.StringVar(&logLevel, "log-level", env("SWITCHBOARD_LOG_LEVEL", "info"), "debug, info, warn or error (SWITCHBOARD_LOG_LEVEL)")
	fs.DurationVar(&shutdown, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	if err := fs.Parse(args); err != nil {
		return c, 0, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0)))
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.OriginPatterns = append(c.OriginPatterns, o)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("config: --log-level %q: want debug, info, warn or error", logLevel))
	}
	if shutdown <= 0 {
		errs = append(errs, errors.New("config: --shutdown-timeout must be positive"))
	}
	c.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	errs = append(errs, c.Validate())
	return c, shutdown, errors.Join(errs...)
}

// serveCmd runs the server until ctx ends, then shuts down gracefully.
func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, shutdown, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx, shutdown)
}
