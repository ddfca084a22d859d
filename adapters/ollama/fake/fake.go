package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
)

// DefaultModel is the model a Server made by New has.
const DefaultModel = "llama3.2:1b"

// Version is what GET /api/version answers.
const Version = "0.17.4"

// Fault is a misbehaviour of the chat endpoint.
type Fault int

const (
	// None answers normally.
	None Fault = iota
	// Hang holds each chat request unanswered, before any header, until
	// the client gives up, Release is called or the Server is closed.
	Hang
	// Stall sends FaultAfter tokens, then holds the stream open without
	// sending more, until the client gives up, Release or Close.
	Stall
	// Fail answers Status (zero: 500) with {"error": Message} before any
	// chunk, as Ollama does when a model cannot load.
	Fail
	// Garbage sends FaultAfter tokens, then a line that is not JSON, and
	// ends the response.
	Garbage
	// Cut sends FaultAfter tokens, then ends the response without the
	// final done chunk, as a server that died mid-reply.
	Cut
	// StreamError sends FaultAfter tokens, then the line
	// {"error": Message} and ends: Ollama's mid-stream failure report.
	StreamError
)

// Behaviour says how the Server answers chat requests. The zero value
// answers at once with DefaultReply.
type Behaviour struct {
	// Reply returns the assistant's answer to a request. Nil means
	// DefaultReply.
	Reply func(Request) string
	// FirstTokenDelay is the wait before the first token; TokenDelay the
	// wait before each later one. Both end early when the client gives up.
	FirstTokenDelay, TokenDelay time.Duration
	// Fault is a misbehaviour; FaultAfter the tokens sent before it (for
	// Stall, Garbage, Cut and StreamError).
	Fault      Fault
	FaultAfter int
	// Status is the HTTP status of Fail. Zero means 500.
	Status int
	// Message is the error text of Fail and StreamError. Empty means a
	// generic one.
	Message string
	// PromptTokens overrides the prompt_eval_count reported. Zero means
	// PromptTokens(request).
	PromptTokens int
}

// Request is a chat request as the Server received it.
type Request struct {
	Model     string          `json:"model"`
	Messages  []Message       `json:"messages"`
	Stream    *bool           `json:"stream,omitempty"`
	Format    json.RawMessage `json:"format,omitempty"`
	KeepAlive json.RawMessage `json:"keep_alive,omitempty"`
	Options   map[string]any  `json:"options,omitempty"`
	Think     json.RawMessage `json:"think,omitempty"`
	// Header holds the request's HTTP headers.
	Header http.Header `json:"-"`
}

// Message is one message of a chat, in either direction.
type Message struct {
	Role     string `json:"role"`
	Content  string `json:"content"`
	Thinking string `json:"thinking,omitempty"`
}

// NumPredict returns options.num_predict, or 0 if it is not set.
func (r Request) NumPredict() int {
	if v, ok := r.Options["num_predict"].(float64); ok {
		return int(v)
	}
	return 0
}

// DefaultReply answers every request with the same friendly line.
func DefaultReply(Request) string { return "hey there :) how r u?" }

// Server is the stand-in. Its methods are safe for concurrent use.
type Server struct {
	mu       sync.Mutex // guards the fields below
	models   []string
	b        Behaviour
	requests []Request
	active   int
	changed  chan struct{} // closed and renewed when requests or active change
	release  chan struct{} // closed by Release: hung requests end
	closed   chan struct{}
	once     sync.Once
}

// New returns a Server that has the given models; none given means
// DefaultModel.
func New(models ...string) *Server {
	if len(models) == 0 {
		models = []string{DefaultModel}
	}
	return &Server{
		models:  slices.Clone(models),
		changed: make(chan struct{}),
		release: make(chan struct{}),
		closed:  make(chan struct{}),
	}
}

// Set replaces the behaviour of later requests.
func (s *Server) Set(b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = b
}

// SetModels replaces the models the server has (as `ollama pull` and
// `ollama rm` would).
func (s *Server) SetModels(models ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models = slices.Clone(models)
}

// Release ends every request held by Hang or Stall now (the client sees
// the response end without a final chunk). Later requests hang again.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.release)
	s.release = make(chan struct{})
}

// Close ends every held request for good; call it before closing the
// httptest.Server, whose Close waits for the handlers.
func (s *Server) Close() { s.once.Do(func() { close(s.closed) }) }

// Requests returns a copy of the chat requests received so far, in
// arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Active returns how many chat requests are being answered now.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// WaitRequests waits until n chat requests have arrived, or ctx ends.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return len(s.requests) >= n })
}

// WaitActive waits until exactly n chat requests are being answered, or
// ctx ends.
func (s *Server) WaitActive(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.active == n })
}

func (s *Server) wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			io.WriteString(w, "Ollama is running")
		}
	case r.URL.Path == "/api/version" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"version": Version})
	case r.URL.Path == "/api/tags" && r.Method == http.MethodGet:
		s.tags(w)
	case r.URL.Path == "/api/chat" && r.Method == http.MethodPost:
		s.chat(w, r)
	default:
		// What Ollama's router (gin) answers for an unknown route.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "404 page not found")
	}
}

type modelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

type listModel struct {
	Name       string       `json:"name"`
	Model      string       `json:"model"`
	ModifiedAt time.Time    `json:"modified_at"`
	Size       int64        `json:"size"`
	Digest     string       `json:"digest"`
	Details    modelDetails `json:"details"`
}

var modified = time.Date(2025, 9, 26, 10, 0, 0, 0, time.UTC)

func (s *Server) tags(w http.ResponseWriter) {
	s.mu.Lock()
	models := slices.Clone(s.models)
	s.mu.Unlock()
	out := struct {
		Models []listModel `json:"models"`
	}{Models: []listModel{}}
	for i, m := range models {
		out.Models = append(out.Models, listModel{
			Name: m, Model: m, ModifiedAt: modified, Size: 1_321_098_329,
			Digest: fmt.Sprintf("%064x", i+1),
			Details: modelDetails{Format: "gguf", Family: "llama", Families: []string{"llama"},
				ParameterSize: "1.2B", QuantizationLevel: "Q8_0"},
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// has reports whether model is present; a name without a tag means
// ":latest", as in Ollama.
func (s *Server) has(model string) bool {
	if !strings.Contains(model, ":") {
		model += ":latest"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.models {
		if !strings.Contains(m, ":") {
			m += ":latest"
		}
		if m == model {
			return true
		}
	}
	return false
}

// chunk is a chat response line.
type chunk struct {
	Model              string  `json:"model"`
	CreatedAt          string  `json:"created_at"`
	Message            Message `json:"message"`
	Done               bool    `json:"done"`
	DoneReason         string  `json:"done_reason,omitempty"`
	TotalDuration      int64   `json:"total_duration,omitempty"`
	LoadDuration       int64   `json:"load_duration,omitempty"`
	PromptEvalCount    int     `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64   `json:"prompt_eval_duration,omitempty"`
	EvalCount          int     `json:"eval_count,omitempty"`
	EvalDuration       int64   `json:"eval_duration,omitempty"`
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	if len(body) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("missing request body"))
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	req.Header = r.Header.Clone()

	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.active++
	b, release := s.b, s.release
	s.notifyLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.notifyLocked()
		s.mu.Unlock()
	}()

	if req.Model == "" {
		writeJSON(w, http.StatusBadRequest, errorBody("model is required"))
		return
	}
	if !s.has(req.Model) {
		writeJSON(w, http.StatusNotFound, errorBody(fmt.Sprintf("model '%s' not found", req.Model)))
		return
	}
	now := func() string { return time.Now().UTC().Format(time.RFC3339Nano) }
	if len(req.Messages) == 0 {
		reason := "load"
		if string(req.KeepAlive) == "0" || string(req.KeepAlive) == `"0s"` || string(req.KeepAlive) == `"0"` {
			reason = "unload"
		}
		writeJSON(w, http.StatusOK, chunk{Model: req.Model, CreatedAt: now(), Message: Message{Role: "assistant"}, Done: true, DoneReason: reason})
		return
	}

	ctx := r.Context()
	held := func() {
		select {
		case <-ctx.Done():
		case <-release:
		case <-s.closed:
		}
	}
	switch b.Fault {
	case Hang:
		held()
		return
	case Fail:
		status := b.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeJSON(w, status, errorBody(orDefault(b.Message, "llama runner process has terminated: exit status 2")))
		return
	}

	reply := DefaultReply
	if b.Reply != nil {
		reply = b.Reply
	}
	tokens := Tokens(reply(req))
	reason := "stop"
	if n := req.NumPredict(); n > 0 && len(tokens) > n {
		tokens, reason = tokens[:n], "length"
	}
	prompt := b.PromptTokens
	if prompt == 0 {
		prompt = PromptTokens(req)
	}
	started := time.Now()
	final := func(content string) chunk {
		total := time.Since(started).Nanoseconds() + 1
		return chunk{
			Model: req.Model, CreatedAt: now(), Message: Message{Role: "assistant", Content: content},
			Done: true, DoneReason: reason,
			TotalDuration: total, LoadDuration: 1_000_000, PromptEvalCount: prompt, PromptEvalDuration: 2_000_000,
			EvalCount: len(tokens), EvalDuration: total/2 + 1,
		}
	}
	pause := func(i int) bool {
		d := b.TokenDelay
		if i == 0 {
			d = b.FirstTokenDelay
		}
		if d <= 0 {
			return ctx.Err() == nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-s.closed:
			return false
		}
	}

	if req.Stream != nil && !*req.Stream {
		if b.Fault != None {
			// Faults of the stream have no meaning without one: fail.
			writeJSON(w, http.StatusInternalServerError, errorBody(orDefault(b.Message, "an error was encountered while running the model")))
			return
		}
		var all strings.Builder
		for i, t := range tokens {
			if !pause(i) {
				return
			}
			all.WriteString(t)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		writeJSON(w, http.StatusOK, final(all.String()))
		return
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	line := func(v any) {
		data, _ := json.Marshal(v)
		w.Write(append(data, '\n'))
		if flusher != nil {
			flusher.Flush()
		}
	}
	for i, t := range tokens {
		if b.Fault != None && i == b.FaultAfter {
			break
		}
		if !pause(i) {
			return
		}
		line(chunk{Model: req.Model, CreatedAt: now(), Message: Message{Role: "assistant", Content: t}})
	}
	switch b.Fault {
	case Stall:
		if flusher != nil {
			flusher.Flush()
		}
		held()
		return
	case Garbage:
		w.Write([]byte("<html><body>502 Bad Gateway</body></html>\n"))
		return
	case Cut:
		return
	case StreamError:
		line(errorBody(orDefault(b.Message, "an error was encountered while running the model: unexpected EOF")))
		return
	}
	line(final(""))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func errorBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Tokens splits text the way the Server streams it: each token is a run of
// white space and the word after it; concatenated, they give text back.
func Tokens(text string) []string {
	var out []string
	start, inWord := 0, false
	for i, r := range text {
		space := unicode.IsSpace(r)
		if space && inWord {
			out = append(out, text[start:i])
			start = i
		}
		inWord = !space
	}
	if start < len(text) {
		if len(out) > 0 && !inWord {
			out[len(out)-1] += text[start:] // trailing white space
		} else {
			out = append(out, text[start:])
		}
	}
	return out
}

// PromptTokens is the prompt_eval_count the Server reports for a request:
// the tokens of every message's content, plus 4 per message for the chat
// template's markers.
func PromptTokens(r Request) int {
	n := 0
	for _, m := range r.Messages {
		n += len(Tokens(m.Content)) + 4
	}
	return n
}
