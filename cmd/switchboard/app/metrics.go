package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/eventstore"
)

// metrics are the server's Prometheus metrics, written in the text
// exposition format by hand: a handful of counters and histograms do not
// justify a client library.
type metrics struct {
	append   *histogram
	mu       sync.Mutex
	commands map[string]*histogram
	failures atomic.Int64
}

func newMetrics() *metrics {
	return &metrics{append: newHistogram(), commands: map[string]*histogram{}}
}

func (m *metrics) command(name string) *histogram {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.commands[name]
	if h == nil {
		h = newHistogram()
		m.commands[name] = h
	}
	return h
}

// buckets are latency bounds in seconds, from 100 µs to 10 s.
var buckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}

type histogram struct {
	counts []atomic.Int64 // per bucket, plus +Inf
	sumNs  atomic.Int64
	n      atomic.Int64
}

func newHistogram() *histogram { return &histogram{counts: make([]atomic.Int64, len(buckets)+1)} }

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(buckets, s)
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
	h.n.Add(1)
}

func (h *histogram) write(w io.Writer, name, labels string) {
	var cum int64
	sep := ""
	if labels != "" {
		sep = ","
	}
	for i, b := range buckets {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{%s%sle=\"%g\"} %d\n", name, labels, sep, b, cum)
	}
	cum += h.counts[len(buckets)].Load()
	fmt.Fprintf(w, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, cum)
	braces := ""
	if labels != "" {
		braces = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %g\n%s_count%s %d\n", name, braces, float64(h.sumNs.Load())/1e9, name, braces, h.n.Load())
}

// handler serves /metrics.
func (m *metrics) handler(a *App) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		st := &a.gateway.Stats
		gauge := func(name, help string, v int64, kind string) {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, kind, name, v)
		}
		gauge("switchboard_ws_connections", "Open WebSocket connections.", st.Connections.Load(), "gauge")
		gauge("switchboard_ws_accepted_total", "WebSocket connections accepted.", st.Accepted.Load(), "counter")
		gauge("switchboard_ws_frames_in_total", "Frames received from clients.", st.FramesIn.Load(), "counter")
		gauge("switchboard_ws_frames_out_total", "Frames written to clients.", st.FramesOut.Load(), "counter")
		gauge("switchboard_ws_slow_consumers_total", "Sockets cut off for not keeping up.", st.SlowConsumers.Load(), "counter")
		gauge("switchboard_ws_rejected_total", "Frames answered with an error.", st.Rejected.Load(), "counter")
		gauge("switchboard_command_failures_total", "Commands that failed for a reason other than a rule.", m.failures.Load(), "counter")
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if head, err := a.store.Head(ctx); err == nil {
			gauge("switchboard_store_head", "Position of the newest committed record.", int64(min(head, math.MaxInt64)), "gauge")
			gauge("switchboard_projection_lag", "Records committed but not yet applied by every projection.", int64(head-min(head, a.runner.Applied())), "gauge")
		}
		fmt.Fprintf(w, "# HELP switchboard_append_seconds Durable append latency.\n# TYPE switchboard_append_seconds histogram\n")
		m.append.write(w, "switchboard_append_seconds", "")
		fmt.Fprintf(w, "# HELP switchboard_command_seconds Command latency, decode to durable append.\n# TYPE switchboard_command_seconds histogram\n")
		m.mu.Lock()
		names := make([]string, 0, len(m.commands))
		for n := range m.commands {
			names = append(names, n)
		}
		m.mu.Unlock()
		sort.Strings(names)
		for _, n := range names {
			m.command(n).write(w, "switchboard_command_seconds", fmt.Sprintf("command=%q", n))
		}
	})
}

// instrumentedStore times appends, and tells the operator when the store
// refuses them (a full disk, a store that cannot be reached) and when it
// takes them again: at most one warning per storeWarnEvery, with the
// number of refusals since the last.
type instrumentedStore struct {
	eventstore.Store
	m   *metrics
	log *slog.Logger

	failing  atomic.Bool // fast path of recovered
	mu       sync.Mutex
	refused  int
	warnedAt time.Time
}

const storeWarnEvery = 10 * time.Second

func (s *instrumentedStore) Append(ctx context.Context, stream string, expected eventstore.Expected, recs []eventstore.Proposed) (eventstore.AppendResult, error) {
	t0 := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, recs)
	s.m.append.observe(time.Since(t0))
	switch {
	case errors.Is(err, eventstore.ErrStorageFull) || errors.Is(err, eventstore.ErrUnavailable):
		s.refusal(err)
	case err == nil:
		s.recovered()
	}
	return res, err
}

func (s *instrumentedStore) refusal(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing.Store(true)
	s.refused++
	if now := time.Now(); now.Sub(s.warnedAt) >= storeWarnEvery {
		s.log.Warn("the event store refuses appends: users get unavailable", "err", err, "refused", s.refused)
		s.warnedAt, s.refused = now, 0
	}
}

func (s *instrumentedStore) recovered() {
	if !s.failing.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing.Load() {
		s.failing.Store(false)
		s.log.Info("the event store takes appends again", "refused since the last warning", s.refused)
		s.refused, s.warnedAt = 0, time.Time{}
	}
}

// instrumentedCommands times the message commands of the gateway.
type instrumentedCommands struct {
	*commands.Handlers
	m *metrics
}

func (c *instrumentedCommands) timed(name string, t0 time.Time, err error) {
	c.m.command(name).observe(time.Since(t0))
	if err != nil {
		if !isRule(err) {
			c.m.failures.Add(1)
		}
	}
}

func (c *instrumentedCommands) PostChat(ctx context.Context, cmd commands.PostChat) (commands.Ack, error) {
	t0 := time.Now()
	a, err := c.Handlers.PostChat(ctx, cmd)
	c.timed("chat", t0, err)
	return a, err
}

func (c *instrumentedCommands) Nudge(ctx context.Context, cmd commands.Nudge) (commands.Ack, error) {
	t0 := time.Now()
	a, err := c.Handlers.Nudge(ctx, cmd)
	c.timed("nudge", t0, err)
	return a, err
}

func (c *instrumentedCommands) Wink(ctx context.Context, cmd commands.Wink) (commands.Ack, error) {
	t0 := time.Now()
	a, err := c.Handlers.Wink(ctx, cmd)
	c.timed("wink", t0, err)
	return a, err
}

// isRule reports whether err is a rejection by a rule of the domain (the
// client's doing) rather than a failure of the server.
func isRule(err error) bool {
	for _, target := range []error{domain.ErrNotMember, domain.ErrForbidden, domain.ErrNotFound, domain.ErrInvalid,
		domain.ErrTooLong, domain.ErrRateLimited, domain.ErrQuotaExhausted, domain.ErrSessionEnded,
		domain.ErrBotsDisabled, commands.ErrIDReused} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
