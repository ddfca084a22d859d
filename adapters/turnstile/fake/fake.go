package fake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"
)

// Cloudflare's documented test keys and dummy token. The test secrets
// accept only DummyToken; the secret a Server is made with refuses it.
const (
	// PassSecret always passes DummyToken, reporting hostname "localhost"
	// and action "test".
	PassSecret = "1x0000000000000000000000000000000AA"
	// FailSecret always fails (invalid-input-response).
	FailSecret = "2x0000000000000000000000000000000AA"
	// SpentSecret always answers timeout-or-duplicate, as for a token
	// already spent.
	SpentSecret = "3x0000000000000000000000000000000AA"
	// DummyToken is the token the widget produces with a test sitekey.
	DummyToken = "XXXX.DUMMY.TOKEN.XXXX"

	// PassSiteKey is the visible test sitekey whose widget always passes.
	PassSiteKey = "1x00000000000000000000AA"
	// FailSiteKey is the visible test sitekey whose widget always blocks.
	FailSiteKey = "2x00000000000000000000AB"
	// PassInvisibleSiteKey always passes, invisibly.
	PassInvisibleSiteKey = "1x00000000000000000000BB"
	// FailInvisibleSiteKey always blocks, invisibly.
	FailInvisibleSiteKey = "2x00000000000000000000BB"
	// InteractiveSiteKey forces an interactive challenge.
	InteractiveSiteKey = "3x00000000000000000000FF"

	// TokenTTL is how long an issued token can be verified.
	TokenTTL = 300 * time.Second

	// DummyHostname and DummyAction are what PassSecret reports.
	DummyHostname = "localhost"
	DummyAction   = "test"

	maxTokenLength = 2048
	maxBodyBytes   = 1 << 20
)

// Fault is a misbehaviour the Server can put on a request.
type Fault int

const (
	// None answers normally.
	None Fault = iota
	// Slow holds the request, unanswered, until the client gives up or the
	// Server is closed; it does not look at the token.
	Slow
	// Status500 answers 500 without looking at the token.
	Status500
	// Garbage answers 200 with an HTML body, without looking at the token.
	Garbage
	// Drop cuts the connection without answering or looking at the token:
	// the client sees a network error.
	Drop
	// DropAfterProcessing verifies the token (spending it and recording
	// the answer under the idempotency key), then cuts the connection: the
	// answer is lost on the way back.
	DropAfterProcessing
	// Status500AfterProcessing verifies the token (spending it and
	// recording the answer under the idempotency key), then answers 500.
	Status500AfterProcessing
)

func (f Fault) String() string {
	switch f {
	case None:
		return "none"
	case Slow:
		return "slow"
	case Status500:
		return "500"
	case Garbage:
		return "garbage"
	case Drop:
		return "drop"
	case DropAfterProcessing:
		return "drop after processing"
	case Status500AfterProcessing:
		return "500 after processing"
	}
	return "unknown fault"
}

// Request is what the Server received in one siteverify call.
type Request struct {
	Secret         string
	Response       string
	RemoteIP       string
	IdempotencyKey string
	// Fault is the fault the Server applied to it.
	Fault Fault
}

// Server is the stand-in siteverify: an http.Handler answering every POST,
// whatever the path, as siteverify would. It is safe for concurrent use.
// It keeps every token and idempotency key for its lifetime: it is for
// tests.
type Server struct {
	secret    string
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex // guards the fields below
	now      func() time.Time
	tokens   map[string]*token
	answers  map[string]remembered // by idempotency key
	fault    Fault
	queued   []Fault
	requests []Request
}

type token struct {
	hostname, action string
	issued           time.Time
	spent            bool
}

// remembered is the answer given to the first request with an idempotency
// key, replayed to later requests with the same key, secret and token.
type remembered struct {
	secret, response string
	answer           answer
}

// answer is siteverify's JSON answer.
type answer struct {
	Success     bool     `json:"success"`
	ErrorCodes  []string `json:"error-codes"`
	ChallengeTS string   `json:"challenge_ts,omitempty"`
	Hostname    string   `json:"hostname,omitempty"`
	Action      string   `json:"action,omitempty"`
	CData       string   `json:"cdata,omitempty"`
}

// NewServer returns a stand-in siteverify that accepts secret (the site's
// "production" secret, which verifies tokens from IssueToken) and
// Cloudflare's test secrets (which verify DummyToken only). Any other
// secret gets invalid-input-secret.
func NewServer(secret string) *Server {
	return &Server{
		secret:  secret,
		closed:  make(chan struct{}),
		now:     time.Now,
		tokens:  make(map[string]*token),
		answers: make(map[string]remembered),
	}
}

// SetClock replaces the clock (time.Now by default) that dates tokens and
// expires them after TokenTTL.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// IssueToken returns a new token, as the widget would get it on hostname
// for action, valid for TokenTTL from now on the Server's clock and for one
// verification with the Server's secret.
func (s *Server) IssueToken(hostname, action string) string {
	b := make([]byte, 120)
	rand.Read(b) // never fails since Go 1.24: it crashes the program instead
	t := "0." + base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[t] = &token{hostname: hostname, action: action, issued: s.now()}
	return t
}

// IssueHandler returns a handler that issues a token (as IssueToken) for
// the POSTed form fields hostname and action and writes it as plain text,
// for tests that drive the stand-in from another process.
func (s *Server) IssueHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST hostname and action", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, s.IssueToken(r.PostFormValue("hostname"), r.PostFormValue("action")))
	})
}

// SetFault applies f to every request from now on (after those queued by
// InjectFaults); None restores normal answers.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// InjectFaults queues faults for the next requests, one each, in order;
// then SetFault's fault applies again.
func (s *Server) InjectFaults(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued = append(s.queued, faults...)
}

// Requests returns the siteverify requests received so far, in arrival
// order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Close releases requests held by Slow, which then answer 503. Call it
// before closing the httptest.Server, whose Close waits for them. It is
// idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// ServeHTTP answers a siteverify call. It accepts the fields secret,
// response, remoteip and idempotency_key as a URL-encoded or multipart form
// or as a JSON object, like siteverify.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeAnswer(w, http.StatusMethodNotAllowed, failure("bad-request"))
		return
	}
	req, ok := readRequest(w, r)
	fault := s.arrive(&req)
	switch fault {
	case Slow:
		select {
		case <-r.Context().Done():
		case <-s.closed:
			http.Error(w, "stand-in closed", http.StatusServiceUnavailable)
		}
		return
	case Status500:
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	case Garbage:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return
	case Drop:
		panic(http.ErrAbortHandler) // closes the connection, unanswered
	}
	if !ok {
		writeAnswer(w, http.StatusBadRequest, failure("bad-request"))
		return
	}
	a := s.verify(req)
	switch fault {
	case DropAfterProcessing:
		panic(http.ErrAbortHandler)
	case Status500AfterProcessing:
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	writeAnswer(w, http.StatusOK, a)
}

// arrive records req and picks its fault.
func (s *Server) arrive(req *Request) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	req.Fault = s.fault
	if len(s.queued) > 0 {
		req.Fault, s.queued = s.queued[0], s.queued[1:]
	}
	s.requests = append(s.requests, *req)
	return req.Fault
}

// verify decides a well-formed request, honouring its idempotency key.
func (s *Server) verify(req Request) answer {
	var codes []string
	switch {
	case req.Secret == "":
		codes = append(codes, "missing-input-secret")
	case !s.knows(req.Secret):
		codes = append(codes, "invalid-input-secret")
	}
	if req.Response == "" {
		codes = append(codes, "missing-input-response")
	}
	if len(codes) > 0 {
		return failure(codes...)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	key := req.IdempotencyKey
	if m, ok := s.answers[key]; ok && key != "" && m.secret == req.Secret && m.response == req.Response {
		return m.answer
	}
	a := s.decide(req.Secret, req.Response)
	if _, ok := s.answers[key]; !ok && key != "" {
		s.answers[key] = remembered{secret: req.Secret, response: req.Response, answer: a}
	}
	return a
}

func (s *Server) knows(secret string) bool {
	switch secret {
	case s.secret, PassSecret, FailSecret, SpentSecret:
		return true
	}
	return false
}

// decide verifies a token, spending it. Callers hold mu.
func (s *Server) decide(secret, response string) answer {
	now := s.now()
	switch secret {
	case PassSecret:
		if response == DummyToken {
			return success(DummyHostname, DummyAction, now)
		}
		return failure("invalid-input-response")
	case FailSecret:
		return failure("invalid-input-response")
	case SpentSecret:
		if response == DummyToken {
			return failure("timeout-or-duplicate")
		}
		return failure("invalid-input-response")
	}
	t, ok := s.tokens[response]
	if !ok || len(response) > maxTokenLength {
		return failure("invalid-input-response")
	}
	if t.spent || !now.Before(t.issued.Add(TokenTTL)) {
		t.spent = true
		return failure("timeout-or-duplicate")
	}
	t.spent = true
	return success(t.hostname, t.action, t.issued)
}

func success(hostname, action string, issued time.Time) answer {
	return answer{
		Success:     true,
		ErrorCodes:  []string{},
		ChallengeTS: issued.UTC().Format("2006-01-02T15:04:05.000Z"),
		Hostname:    hostname,
		Action:      action,
	}
}

func failure(codes ...string) answer {
	return answer{ErrorCodes: codes}
}

func writeAnswer(w http.ResponseWriter, status int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(a)
}

// readRequest reads the siteverify fields from r's body; ok is false if
// the body cannot be parsed.
func readRequest(w http.ResponseWriter, r *http.Request) (req Request, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var body struct {
			Secret         string `json:"secret"`
			Response       string `json:"response"`
			RemoteIP       string `json:"remoteip"`
			IdempotencyKey string `json:"idempotency_key"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return Request{}, false
		}
		return Request{Secret: body.Secret, Response: body.Response, RemoteIP: body.RemoteIP, IdempotencyKey: body.IdempotencyKey}, true
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxBodyBytes); err != nil {
			return Request{}, false
		}
	default:
		if err := r.ParseForm(); err != nil {
			return Request{}, false
		}
	}
	f := r.PostForm
	return Request{Secret: f.Get("secret"), Response: f.Get("response"), RemoteIP: f.Get("remoteip"), IdempotencyKey: f.Get("idempotency_key")}, true
}
