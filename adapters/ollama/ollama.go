package ollama

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ollama/ollama/api"

	"switchboard/commands"
)

// The defaults of Config.
const (
	DefaultHost  = "http://127.0.0.1:11434"
	DefaultModel = "llama3.2:1b"
)

// Config configures a Client. The zero value is usable: the defaults are
// those of a local Ollama with llama3.2:1b, and the limits below.
type Config struct {
	// Host is the server's address, in OLLAMA_HOST's forms:
	// "http://host:port", "host:port", "host", "https://host". Empty means
	// DefaultHost. The caller reads OLLAMA_HOST; this package does not.
	Host string
	// Model is the model to chat with. Empty means DefaultModel.
	Model string
	// NumPredict caps a reply's length in tokens (Ollama's num_predict); a
	// reply that reaches it ends with done_reason "length". Zero means 150.
	NumPredict int
	// NumCtx is the model's context window in tokens (num_ctx); the
	// prompt and the reply must fit. Zero means 4096.
	NumCtx int
	// Temperature is the sampling temperature. Zero means 0.8; negative
	// means the model's own default.
	Temperature float64
	// KeepAlive is how long Ollama keeps the model loaded after a request.
	// Zero means Ollama's default (5 min); negative keeps it loaded.
	KeepAlive time.Duration
	// MaxPromptBytes refuses, without a request, a prompt whose messages
	// add up to more than this many bytes of text. Zero means 16 KiB.
	MaxPromptBytes int
	// MaxReplyBytes ends a reply that streams more text than this (a model
	// ignoring num_predict, or a server gone mad). Zero means 16 KiB.
	MaxReplyBytes int
	// ConnectTimeout bounds connecting to the server. Zero means 2 s.
	ConnectTimeout time.Duration
	// FirstTokenTimeout bounds the wait for the first chunk of a reply
	// (which includes loading the model into memory). Zero means 10 s.
	FirstTokenTimeout time.Duration
	// Timeout bounds a whole reply. Zero means 30 s.
	Timeout time.Duration
	// CheckTimeout bounds one start-up or periodic check. Zero means 5 s.
	CheckTimeout time.Duration
	// CheckInterval is the time between two checks made by Run. Zero
	// means 30 s. After a failed chat, Run checks again sooner (at most
	// one check every 2 s).
	CheckInterval time.Duration
	// HTTPClient sends the requests. Nil means a client of its own, with
	// ConnectTimeout and no overall timeout (the deadlines above bound a
	// chat; http.Client.Timeout would cut streams).
	HTTPClient *http.Client
	// Logger receives the state changes and failures. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem of c at once, or nil.
func (c Config) Validate() error {
	var errs []error
	if _, err := ParseHost(c.Host); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"NumPredict", int64(c.NumPredict)}, {"NumCtx", int64(c.NumCtx)},
		{"MaxPromptBytes", int64(c.MaxPromptBytes)}, {"MaxReplyBytes", int64(c.MaxReplyBytes)},
		{"ConnectTimeout", int64(c.ConnectTimeout)}, {"FirstTokenTimeout", int64(c.FirstTokenTimeout)},
		{"Timeout", int64(c.Timeout)}, {"CheckTimeout", int64(c.CheckTimeout)}, {"CheckInterval", int64(c.CheckInterval)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("ollama: config: %s is negative", f.name))
		}
	}
	if c.NumPredict > 4096 {
		errs = append(errs, errors.New("ollama: config: NumPredict is over 4096"))
	}
	if strings.ContainsAny(c.Model, " \t\r\n") {
		errs = append(errs, fmt.Errorf("ollama: config: model %q has white space", c.Model))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.NumPredict == 0 {
		c.NumPredict = 150
	}
	if c.NumCtx == 0 {
		c.NumCtx = 4096
	}
	if c.Temperature == 0 {
		c.Temperature = 0.8
	}
	if c.MaxPromptBytes == 0 {
		c.MaxPromptBytes = 16 << 10
	}
	if c.MaxReplyBytes == 0 {
		c.MaxReplyBytes = 16 << 10
	}
	def(&c.ConnectTimeout, 2*time.Second)
	def(&c.FirstTokenTimeout, 10*time.Second)
	def(&c.Timeout, 30*time.Second)
	def(&c.CheckTimeout, 5*time.Second)
	def(&c.CheckInterval, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ParseHost turns an OLLAMA_HOST value into the server's base URL, the
// way the ollama command does: no scheme means http, no port means 11434
// (80 or 443 with an explicit http or https scheme), empty means
// DefaultHost.
func ParseHost(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = DefaultHost
	}
	port := "11434"
	scheme, hostport, ok := strings.Cut(s, "://")
	switch {
	case !ok:
		scheme, hostport = "http", s
	case scheme == "http":
		port = "80"
	case scheme == "https":
		port = "443"
	default:
		return nil, fmt.Errorf("ollama: host %q: scheme must be http or https", s)
	}
	hostport, path, _ := strings.Cut(hostport, "/")
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
		if host == "" {
			host = "127.0.0.1"
		}
	} else {
		port = p
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("ollama: host %q: bad port %q", s, port)
	}
	if strings.ContainsAny(host, " /?#@") {
		return nil, fmt.Errorf("ollama: host %q: bad host name", s)
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: path}, nil
}

// The errors of Chat, besides the client's own (api.StatusError for an
// error status, errors carrying the text of a mid-stream error line) and
// network errors.
var (
	// ErrPromptTooLarge: the prompt is over Config.MaxPromptBytes; nothing
	// was sent.
	ErrPromptTooLarge = errors.New("ollama: prompt too large")
	// ErrReplyTooLarge: the reply streamed more than Config.MaxReplyBytes.
	ErrReplyTooLarge = errors.New("ollama: reply too large")
	// ErrFirstTokenTimeout: no chunk came within Config.FirstTokenTimeout.
	ErrFirstTokenTimeout = errors.New("ollama: no first token in time")
	// ErrTimeout: the reply did not end within Config.Timeout.
	ErrTimeout = errors.New("ollama: reply took too long")
	// ErrIncomplete: the response ended without its final done chunk (the
	// connection was cut, or the server answered nothing).
	ErrIncomplete = errors.New("ollama: reply ended without done")
	// ErrNoReply: the server answered a chat with no generation (a
	// done_reason of "load" or "unload").
	ErrNoReply = errors.New("ollama: no reply generated")
)

// Client is a commands.LLM over an Ollama server. Safe for concurrent
// use.
type Client struct {
	cfg  Config
	base *url.URL
	api  *api.Client
	log  *slog.Logger

	recheck chan struct{} // a failure asks Run for a check soon

	mu    sync.Mutex // guards state
	state string
}

var _ commands.LLM = (*Client)(nil)

// stateUnchecked is State before the first check.
const stateUnchecked = "degraded: not checked yet"

// New returns a client for cfg. It does not contact the server: Run does.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	base, _ := ParseHost(cfg.Host)
	hc := cfg.HTTPClient
	if hc == nil {
		dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   cfg.ConnectTimeout,
			ResponseHeaderTimeout: 0, // the first-token deadline covers it
		}}
	}
	return &Client{
		cfg:     cfg,
		base:    base,
		api:     api.NewClient(base, hc),
		log:     cfg.Logger.With("component", "ollama"),
		recheck: make(chan struct{}, 1),
		state:   stateUnchecked,
	}, nil
}

// Model returns the model the client chats with.
func (c *Client) Model() string { return c.cfg.Model }

// Host returns the server's base URL.
func (c *Client) Host() string { return c.base.String() }

// Chat implements commands.LLM: it streams one reply to messages. The
// reply is the concatenated content of the chunks; the token counts are
// the final chunk's. It fails when ctx ends, when no chunk comes within
// FirstTokenTimeout, when the reply takes longer than Timeout, and when
// the stream ends without a done chunk, carries an error line, or is not
// JSON. Cancelling the request makes Ollama stop generating.
func (c *Client) Chat(ctx context.Context, messages []commands.LLMMessage) (commands.LLMReply, error) {
	size := 0
	msgs := make([]api.Message, len(messages))
	for i, m := range messages {
		size += len(m.Content)
		msgs[i] = api.Message{Role: m.Role, Content: m.Content}
	}
	if size > c.cfg.MaxPromptBytes {
		return commands.LLMReply{}, fmt.Errorf("%w: %d bytes, limit %d", ErrPromptTooLarge, size, c.cfg.MaxPromptBytes)
	}
	stream := true
	options := map[string]any{"num_predict": c.cfg.NumPredict, "num_ctx": c.cfg.NumCtx}
	if c.cfg.Temperature > 0 {
		options["temperature"] = c.cfg.Temperature
	}
	req := &api.ChatRequest{Model: c.cfg.Model, Messages: msgs, Stream: &stream, Options: options}
	if c.cfg.KeepAlive != 0 {
		req.KeepAlive = &api.Duration{Duration: c.cfg.KeepAlive}
	}

	ctx, cancelTotal := context.WithTimeoutCause(ctx, c.cfg.Timeout, ErrTimeout)
	defer cancelTotal()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	first := time.AfterFunc(c.cfg.FirstTokenTimeout, func() { cancel(ErrFirstTokenTimeout) })
	defer first.Stop()

	var (
		text   strings.Builder
		final  *api.ChatResponse
		chunks int
	)
	err := c.api.Chat(ctx, req, func(r api.ChatResponse) error {
		first.Stop()
		chunks++
		text.WriteString(r.Message.Content)
		if text.Len() > c.cfg.MaxReplyBytes {
			return ErrReplyTooLarge
		}
		if r.Done {
			final = &r
		}
		return nil
	})
	if final == nil && ctx.Err() != nil {
		// The client reports a request cancelled before the headers as the
		// transport's error, and one cancelled mid-stream as no error at
		// all (its scanner just stops): say which deadline it was.
		cause := context.Cause(ctx)
		if err != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%v)", cause, err)
		} else {
			err = cause
		}
	}
	if err == nil && final == nil {
		err = ErrIncomplete
	}
	if err == nil && (final.DoneReason == "load" || final.DoneReason == "unload") {
		err = ErrNoReply
	}
	if err != nil {
		c.failed(err)
		return commands.LLMReply{}, err
	}
	c.set("")
	out := commands.LLMReply{
		Text:            text.String(),
		PromptTokens:    final.PromptEvalCount,
		GeneratedTokens: final.EvalCount,
		Truncated:       final.DoneReason == "length",
	}
	if out.GeneratedTokens == 0 && chunks > 1 {
		// No count reported: each chunk before the final one is a token.
		out.GeneratedTokens = chunks - 1
	}
	if out.PromptTokens == 0 {
		// No count reported: about four bytes a token.
		out.PromptTokens = (size + 3) / 4
	}
	return out, nil
}

// failed notes a failed chat: the state turns degraded at once when the
// server is unreachable or lacks the model, and Run checks again soon
// either way (a slow reply may be a server that died).
func (c *Client) failed(err error) {
	var se api.StatusError
	switch {
	case errors.As(err, &se) && se.StatusCode == http.StatusNotFound && strings.Contains(se.ErrorMessage, "model"):
		c.set(c.missingReason())
	case unreachable(err):
		c.set(c.unreachableReason(err))
	}
	select {
	case c.recheck <- struct{}{}:
	default:
	}
}

// unreachable reports whether err means nothing listens at the address.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		(errors.As(err, &op) && op.Op == "dial")
}

func (c *Client) missingReason() string {
	return fmt.Sprintf("model %s is not on the Ollama server at %s", c.cfg.Model, c.base)
}

func (c *Client) unreachableReason(err error) string {
	return fmt.Sprintf("cannot reach Ollama at %s: %v", c.base, err)
}

// State reports the backend for /readyz: "ok" once a check or a chat
// succeeded, "degraded: <reason>" otherwise (before the first check too).
func (c *Client) State() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// set moves to ok (reason empty) or degraded, and logs the change once:
// a degradation as one line telling the operator what to do.
func (c *Client) set(reason string) {
	next := "ok"
	if reason != "" {
		next = "degraded: " + reason
	}
	c.mu.Lock()
	prev := c.state
	c.state = next
	c.mu.Unlock()
	if prev == next {
		return
	}
	switch {
	case reason == "":
		c.log.Info("ollama ready: bots will answer", "host", c.base.String(), "model", c.cfg.Model)
	case strings.HasPrefix(reason, "model "):
		c.log.Warn(fmt.Sprintf("bots unavailable: the Ollama server at %s does not have model %s; run: ollama pull %s", c.base, c.cfg.Model, c.cfg.Model),
			"host", c.base.String(), "model", c.cfg.Model)
	default:
		c.log.Warn(fmt.Sprintf("bots unavailable: %s; start Ollama (ollama serve, or set OLLAMA_HOST to where it runs) and run: ollama pull %s", reason, c.cfg.Model),
			"host", c.base.String(), "model", c.cfg.Model)
	}
}

// Check asks the server for its models (GET /api/tags) and updates State:
// ok if the model is there, degraded if the server does not answer or
// lacks the model. It returns the reason for a degraded state, or nil.
func (c *Client) Check(ctx context.Context) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CheckTimeout)
	defer cancel()
	list, err := c.api.List(ctx)
	if err != nil {
		if parent.Err() != nil {
			return parent.Err() // stopping: not the server's fault
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (no answer within %s)", err, c.cfg.CheckTimeout)
		}
		reason := c.unreachableReason(err)
		c.set(reason)
		return errors.New(reason)
	}
	for _, m := range list.Models {
		if sameModel(m.Name, c.cfg.Model) || sameModel(m.Model, c.cfg.Model) {
			c.set("")
			return nil
		}
	}
	reason := c.missingReason()
	c.set(reason)
	return errors.New(reason)
}

// sameModel compares model names as Ollama does: case-insensitively, a
// name without a tag meaning ":latest".
func sameModel(a, b string) bool {
	tag := func(s string) string {
		if !strings.Contains(s, ":") {
			return s + ":latest"
		}
		return s
	}
	return a != "" && strings.EqualFold(tag(a), tag(b))
}

// Run checks the server at once, then every CheckInterval, and soon after
// a failed chat (at most one check every 2 s), until ctx ends. A failed
// check is not an error of Run: State reports it, and Switchboard runs on.
func (c *Client) Run(ctx context.Context) error {
	const minGap = 2 * time.Second
	t := time.NewTimer(0)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.recheck:
			if wait := minGap - time.Since(last); wait > 0 {
				t.Reset(wait)
				continue
			}
		}
		last = time.Now()
		c.Check(ctx)
		t.Reset(c.cfg.CheckInterval) // Go 1.23 timers: no stale tick survives Reset

	}
}
