package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"switchboard/eventstore/filestore"
)

// config is the server's whole configuration. Every field has a flag and an
// environment variable (flags win); environment variables are read here
// and nowhere else.
type config struct {
	// Addr is the HTTP listen address. Default ":8080" (SWITCHBOARD_ADDR).
	Addr string
	// Data is the embedded store's data directory. Default "./data"
	// (SWITCHBOARD_DATA).
	Data string
	// ShutdownTimeout bounds the graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration
}

func (c config) validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("config: --addr is empty"))
	} else if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("config: --addr %q: %v", c.Addr, err))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("config: --data is empty"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("config: --shutdown-timeout must be positive"))
	}
	return errors.Join(errs...)
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func parseServe(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.Addr, "addr", envOr("SWITCHBOARD_ADDR", ":8080"), "HTTP listen address (SWITCHBOARD_ADDR)")
	fs.StringVar(&c.Data, "data", envOr("SWITCHBOARD_DATA", "./data"), "data directory of the embedded event store (SWITCHBOARD_DATA)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return c, c.validate()
}

// serveCmd runs the server until ctx ends, then shuts down gracefully.
func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	started := time.Now()
	store, err := filestore.Open(cfg.Data, filestore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	head, _ := store.Head(ctx)
	log.Info("event store open", "data", cfg.Data, "head", head, "took", time.Since(started).String())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		head, err := store.Head(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"ready": false, "store": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ready": true, "store": "ok", "head": head})
	})
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}
