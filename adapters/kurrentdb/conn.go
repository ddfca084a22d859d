package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"switchboard/eventstore"
)

// conn owns the client and decides when to talk to the server.
//
// Two quirks of the v4.2.0 client shape it. A client whose reconnection
// (node discovery) fails is dead for good: every later call fails at once
// with ErrorCodeConnectionClosed, so conn replaces it with a fresh client.
// And a dead client must never be closed: a call that failed while the
// discovery ran is blocked sending to the client's stopped state machine,
// and closing that channel would make it panic. Dead clients are dropped
// instead (each leaks its goroutine and gRPC connection; one per outage).
//
// It is also the circuit breaker: after a failure that says the server is
// unreachable, calls fail fast with ErrUnavailable until a backoff (from
// minBackoff, doubling, capped at Options.MaxBackoff) has passed, unless
// they are probes (the store's log follower and subscriptions reconnecting,
// which keep their own backoff). Until a call succeeds again, at most one
// call at a time enters the client (the others fail fast, or wait their
// turn if they are probes): calls that pile up in a client while it
// rediscovers the node are stuck there for good when that fails. The
// first success closes the breaker and wakes those waiting in recovered.
type conn struct {
	cfg        esdb.Configuration
	maxBackoff time.Duration
	where      string // the server's address, for error messages

	failing atomic.Bool // fast path of ok: false when failures == 0

	mu        sync.Mutex
	client    *esdb.Client
	failures  int
	retryAt   time.Time
	lastErr   error
	recovered chan struct{} // closed and replaced when failures drops to 0
	probing   bool          // a call is in the client while failures > 0
}

// errBusy refuses a probe while another call tries the server.
var errBusy = fmt.Errorf("%w: another call is trying the server", eventstore.ErrUnavailable)

// turn is a call's permission to use the client; release ends it. It is
// safe to release more than once.
type turn struct {
	c    *conn
	once sync.Once
	held bool
}

func (t *turn) release() {
	if t.held {
		t.once.Do(func() {
			t.c.mu.Lock()
			t.c.probing = false
			t.c.mu.Unlock()
		})
	}
}

const minBackoff = 50 * time.Millisecond

func newConn(cfg esdb.Configuration, maxBackoff time.Duration) (*conn, error) {
	c := &conn{cfg: cfg, maxBackoff: maxBackoff, where: where(&cfg), recovered: make(chan struct{})}
	client, err := c.newClient()
	if err != nil {
		return nil, err
	}
	c.client = client
	return c, nil
}

func (c *conn) newClient() (*esdb.Client, error) {
	cfg := c.cfg // each client gets its own copy
	client, err := esdb.NewClient(&cfg)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb: %w", err)
	}
	return client, nil
}

// get returns the client to call and the turn to release when the call
// has left it, or ErrUnavailable while the breaker is open (for a probe:
// errBusy while another call is in the client).
func (c *conn) get(probe bool) (*esdb.Client, *turn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &turn{c: c}
	if c.failures == 0 {
		return c.client, t, nil
	}
	if !probe && (time.Now().Before(c.retryAt) || c.probing) {
		return nil, nil, fmt.Errorf("%w: kurrentdb at %s: %v (will retry)", eventstore.ErrUnavailable, c.where, c.lastErr)
	}
	if c.probing {
		return nil, nil, errBusy
	}
	c.probing, t.held = true, true
	return c.client, t, nil
}

// renew replaces dead with a fresh client, unless another call already did.
func (c *conn) renew(dead *esdb.Client) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != dead {
		return nil
	}
	client, err := c.newClient()
	if err != nil {
		return err
	}
	c.client = client
	return nil
}

// fail opens the breaker (or keeps it open longer).
func (c *conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures++
	c.failing.Store(true)
	c.retryAt = time.Now().Add(backoff(c.failures, c.maxBackoff))
	c.lastErr = err
}

// ok closes the breaker after a call the server answered.
func (c *conn) ok() {
	if !c.failing.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == 0 {
		return
	}
	c.failures, c.retryAt, c.lastErr = 0, time.Time{}, nil
	c.failing.Store(false)
	close(c.recovered)
	c.recovered = make(chan struct{})
}

// health is nil while the server answers, else the last failure.
func (c *conn) health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == 0 {
		return nil
	}
	return fmt.Errorf("%w: kurrentdb at %s: %v", eventstore.ErrUnavailable, c.where, c.lastErr)
}

// recoveredCh is closed the next time the breaker closes.
func (c *conn) recoveredCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recovered
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.client.Close()
}

// backoff is the wait after the n-th consecutive failure (n >= 1): from
// minBackoff, doubling, capped at limit, with up to 20% of jitter so that
// many waiters do not retry in step.
func backoff(n int, limit time.Duration) time.Duration {
	d := minBackoff << min(n-1, 16)
	if d > limit || d <= 0 {
		d = limit
	}
	return d - rand.N(d/5+1)
}

// do runs fn against the server and maps what goes wrong to the port's
// errors. fn runs on its own goroutine with a context bounded by ctx and
// Options.Timeout: the client can block a call beyond its context (while
// it rediscovers the node, and for good if that fails), and do returns
// when ctx ends, the timeout passes or the store closes, whatever fn is
// doing. A call refused because the client died is run once more on a
// fresh client: it never reached the server.
//
// fn returns the port's errors as they are; errors of the client or of
// gRPC are mapped here.
func (s *Store) do(ctx context.Context, probe bool, fn func(ctx context.Context, c *esdb.Client) error) error {
	renewed := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, t, err := s.conn.get(probe)
		if err != nil {
			return err
		}
		if !s.enter() {
			t.release()
			return eventstore.ErrClosed
		}
		cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		done := make(chan error, 1)
		go func() {
			defer s.wg.Done()
			defer t.release()
			done <- fn(cctx, c)
		}()
		select {
		case err = <-done:
		case <-cctx.Done():
			err = cctx.Err()
		case <-s.closing:
			cancel()
			return eventstore.ErrClosed
		}
		cancel()
		switch {
		case err == nil:
			s.conn.ok()
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case s.isClosed():
			return eventstore.ErrClosed
		case errors.Is(err, context.DeadlineExceeded) && errors.Is(cctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("%w: kurrentdb at %s: no answer within %v", eventstore.ErrUnavailable, s.conn.where, s.opts.Timeout)
			s.conn.fail(err)
			if t.held {
				// The call may be stuck in the client: let the next one
				// try a fresh client rather than queue behind it.
				t.release()
				_ = s.conn.renew(c)
			}
			return err
		}
		var ee *esdb.Error
		if errors.As(err, &ee) && ee.Code() == esdb.ErrorCodeConnectionClosed && !renewed {
			renewed = true
			if err := s.conn.renew(c); err != nil {
				return err
			}
			continue
		}
		mapped, kind := s.mapError(err)
		switch kind {
		case errAnswered:
			s.conn.ok()
		case errUnreachable:
			s.conn.fail(err)
		}
		return mapped
	}
}

type errKind int

const (
	errAnswered    errKind = iota // the port's own error: the server answered
	errUnreachable                // retryable: the server could not be reached
	errFailed                     // the server or client refused the call
)

// mapError maps an error of fn to the port's errors.
func (s *Store) mapError(err error) (error, errKind) {
	var ee *esdb.Error
	isClient := errors.As(err, &ee)
	if isClient {
		switch ee.Code() {
		case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeNotLeader,
			esdb.ErrorAborted, esdb.ErrorCodeDeadlineExceeded:
			return s.unavailable(err), errUnreachable
		case esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeAccessDenied:
			return fmt.Errorf("kurrentdb: access denied by %s (check the credentials; the client sends them only over TLS): %w", s.conn.where, err), errFailed
		}
	}
	// A stream the transport dropped under the call ("could not send
	// append request … EOF") is the server going away, not a refusal.
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || (isClient && strings.HasSuffix(err.Error(), ": EOF")) {
		return s.unavailable(err), errUnreachable
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		switch st.Code() {
		case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
			return s.unavailable(err), errUnreachable
		case codes.InvalidArgument:
			msg := strings.ToLower(st.Message())
			if strings.Contains(msg, "maximum append size") || strings.Contains(msg, "maximum append event size") {
				return fmt.Errorf("%w: refused by the server: %s", eventstore.ErrRecordTooLarge, st.Message()), errFailed
			}
		}
		return fmt.Errorf("kurrentdb: %w", err), errFailed
	}
	if isClient {
		return fmt.Errorf("kurrentdb: %w", err), errFailed
	}
	return err, errAnswered
}

func (s *Store) unavailable(err error) error {
	return fmt.Errorf("%w: kurrentdb at %s: %v", eventstore.ErrUnavailable, s.conn.where, err)
}

// parseConnString reads a connection string: esdb://, esdb+discover://,
// or the same with the kurrentdb scheme, which the v4.2.0 client does not
// know and which is rewritten to esdb. Errors never repeat the string,
// which may hold a password.
func parseConnString(s string) (*esdb.Configuration, error) {
	lower := strings.ToLower(s)
	for _, r := range [...]struct{ from, to string }{
		{"kurrentdb+discover://", "esdb+discover://"},
		{"kurrentdb://", "esdb://"},
	} {
		if strings.HasPrefix(lower, r.from) {
			s = r.to + s[len(r.from):]
			break
		}
	}
	cfg, err := esdb.ParseConnectionString(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("kurrentdb: invalid connection string (want esdb://host:port?tls=false or kurrentdb://…): %v", err)
	}
	return cfg, nil
}

// where names the server a configuration points at.
func where(cfg *esdb.Configuration) string {
	if cfg.Address != "" {
		return cfg.Address
	}
	var seeds []string
	for _, e := range cfg.GossipSeeds {
		seeds = append(seeds, e.String())
	}
	return strings.Join(seeds, ",")
}

// clientLogger routes the client's log lines to l at debug level (the
// client logs every failed call as an error, which the adapter reports
// itself), or drops them.
func clientLogger(l *slog.Logger) esdb.LoggingFunc {
	if l == nil {
		return esdb.NoopLogging()
	}
	return func(level esdb.LogLevel, format string, args ...any) {
		l.Debug("kurrentdb client: "+fmt.Sprintf(format, args...), "client_level", level)
	}
}
