package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/httpapi"
	"switchboard/commands"
	"switchboard/domain"
	"switchboard/domain/room"
	"switchboard/domain/session"
	"switchboard/domain/user"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fake is the command side and the read side at once, over one
// in-memory state. Writes reach the read side only when Sync is called
// with their position (as with real projections that lag), so a handler
// that forgets to sync before answering is caught.
type fake struct {
	clock *clock
	demo  bool
	ttl   time.Duration

	mu       sync.Mutex
	pos      uint64
	applied  uint64
	pending  []pendingChange
	accounts map[string]account             // command side
	sessions map[string]session.Reason      // command side: id → end reason ("" while open)
	vUsers   map[string]httpapi.User        // read side
	vSess    map[string]httpapi.SessionInfo // by token hash
	rooms    map[string]httpapi.Room
	members  map[string]map[string]bool
	msgs     map[string][]httpapi.Message // chronological
	bots     []bool

	loginCalls map[string]int // per normalized handle
	syncs      []uint64
	failLogin  error // returned by Login when set
	failPage   error
	failSync   error
	notReady   error
	wrongHash  bool // SessionByTokenHash returns a session whose hash differs
	panicUsers bool
}

type account struct {
	password string
	demo     bool
}

type pendingChange struct {
	pos   uint64
	apply func()
}

func newFake(c *clock) *fake {
	return &fake{
		clock: c, ttl: 20 * time.Minute,
		accounts: map[string]account{}, sessions: map[string]session.Reason{},
		vUsers: map[string]httpapi.User{}, vSess: map[string]httpapi.SessionInfo{},
		rooms: map[string]httpapi.Room{}, members: map[string]map[string]bool{},
		msgs: map[string][]httpapi.Message{}, loginCalls: map[string]int{},
	}
}

// record queues a change for the read side and returns its position.
// Callers hold f.mu.
func (f *fake) record(apply func()) uint64 {
	f.pos++
	f.pending = append(f.pending, pendingChange{pos: f.pos, apply: apply})
	return f.pos
}

// seedUser registers a user on both sides at once.
func (f *fake) seedUser(handle, password string, demo bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[handle] = account{password: password, demo: demo}
	f.vUsers[handle] = httpapi.User{Handle: handle, DisplayName: strings.ToUpper(handle), Status: "online"}
}

func (f *fake) setStatus(handle, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.vUsers[handle]
	u.Status = status
	f.vUsers[handle] = u
}

func (f *fake) seedRoom(r httpapi.Room, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms[r.ID] = r
	f.members[r.ID] = map[string]bool{}
	for _, m := range members {
		f.members[r.ID][m] = true
	}
}

func (f *fake) seedMessages(roomID string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 1; i <= n; i++ {
		f.msgs[roomID] = append(f.msgs[roomID], httpapi.Message{
			ID: "m" + itoa(i), Seq: uint64(i), Sender: "alice", SenderName: "ALICE", Kind: "chat", Text: "hello " + itoa(i), At: int64(1000 * i),
		})
	}
}

func (f *fake) set(fn func(f *fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fake) logins(handle string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loginCalls[handle]
}

// Commands.

func (f *fake) RegisterUser(ctx context.Context, c commands.RegisterUser) (string, uint64, error) {
	handle, err := user.NormalizeHandle(c.Handle)
	if err != nil {
		return "", 0, err
	}
	if n := len([]rune(c.Password)); n < commands.MinPasswordLen || n > commands.MaxPasswordLen {
		return "", 0, commands.ErrWeakPassword
	}
	name := strings.TrimSpace(c.DisplayName)
	if name == "" {
		return "", 0, &domain.InvalidError{Field: "DisplayName", Reason: "empty"}
	}
	if len([]rune(name)) > 50 {
		return "", 0, &domain.TooLongError{Field: "DisplayName", Max: 50}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.accounts[handle]; ok {
		return "", 0, domain.ErrHandleTaken
	}
	f.accounts[handle] = account{password: c.Password}
	pos := f.record(func() {
		f.vUsers[handle] = httpapi.User{Handle: handle, DisplayName: name, Status: "offline"}
	})
	return handle, pos, nil
}

func (f *fake) Login(ctx context.Context, c commands.Login) (commands.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	handle, herr := user.NormalizeHandle(c.Handle)
	f.loginCalls[handle]++
	if f.failLogin != nil {
		return commands.Session{}, f.failLogin
	}
	if !c.Verified {
		return commands.Session{}, domain.ErrVerificationFailed
	}
	acc, ok := f.accounts[handle]
	switch {
	case herr != nil || !ok:
		return commands.Session{}, domain.ErrInvalidCredentials
	case c.Password == "" && acc.demo && f.demo:
	case c.Password == "" || c.Password != acc.password:
		return commands.Session{}, domain.ErrInvalidCredentials
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	id := "s" + itoa(len(f.sessions)+1)
	f.sessions[id] = ""
	exp := f.clock.Now().Add(f.ttl)
	info := httpapi.SessionInfo{ID: id, User: handle, TokenHash: commands.TokenHash(token), ExpiresAt: exp}
	pos := f.record(func() { f.vSess[info.TokenHash] = info })
	return commands.Session{ID: id, User: handle, Token: token, ExpiresAt: exp, Position: pos}, nil
}

func (f *fake) EndSession(ctx context.Context, id string, reason session.Reason) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.sessions[id]
	if !ok {
		return 0, domain.ErrNotFound
	}
	if r != "" {
		return 0, nil
	}
	f.sessions[id] = reason
	return f.record(func() {
		for h, s := range f.vSess {
			if s.ID == id {
				s.Ended = true
				f.vSess[h] = s
			}
		}
	}), nil
}

func (f *fake) SetBotsEnabled(ctx context.Context, enabled bool, by string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bots = append(f.bots, enabled)
	return f.record(func() {}), nil
}

// Views.

func (f *fake) SessionByTokenHash(hash string) (httpapi.SessionInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wrongHash {
		for _, s := range f.vSess {
			return s, true // any session, whatever the hash asked for
		}
	}
	s, ok := f.vSess[hash]
	return s, ok
}

func (f *fake) User(handle string) (httpapi.User, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.vUsers[handle]
	return u, ok
}

func (f *fake) Users() []httpapi.User {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicUsers {
		panic("boom: a secret detail")
	}
	out := make([]httpapi.User, 0, len(f.vUsers))
	for _, u := range f.vUsers {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b httpapi.User) int { return strings.Compare(a.Handle, b.Handle) })
	return out
}

func (f *fake) RoomsVisibleTo(u string) []httpapi.Room {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []httpapi.Room
	for id, r := range f.rooms {
		if r.Visibility == room.Public || f.members[id][u] {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b httpapi.Room) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (f *fake) Room(id string) (httpapi.Room, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[id]
	return r, ok
}

func (f *fake) IsMember(roomID, u string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[roomID][u]
}

func (f *fake) Page(ctx context.Context, roomID string, before uint64, limit int) ([]httpapi.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPage != nil {
		return nil, f.failPage
	}
	var out []httpapi.Message
	all := f.msgs[roomID]
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || all[i].Seq < before {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// CatchUp applies every pending change.
func (f *fake) CatchUp(ctx context.Context) error {
	f.mu.Lock()
	pos := f.pos
	f.mu.Unlock()
	return f.Sync(ctx, pos)
}

func (f *fake) Sync(ctx context.Context, position uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs = append(f.syncs, position)
	if f.failSync != nil {
		return f.failSync
	}
	for len(f.pending) > 0 && f.pending[0].pos <= position {
		f.pending[0].apply()
		f.applied = f.pending[0].pos
		f.pending = f.pending[1:]
	}
	return nil
}

func (f *fake) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notReady
}

// verifier accepts the response "ok", reports "down" as unavailable
// (through Temporary, as the real verifiers do) and refuses anything else.
type verifier struct {
	name string
	mu   sync.Mutex
	ips  []string
}

type tempError struct{ temporary bool }

func (e tempError) Error() string   { return "fake verifier: no" }
func (e tempError) Temporary() bool { return e.temporary }

func (v *verifier) Name() string { return v.name }

func (v *verifier) Verify(ctx context.Context, response, remoteIP string) error {
	v.mu.Lock()
	v.ips = append(v.ips, remoteIP)
	v.mu.Unlock()
	switch response {
	case "ok":
		return nil
	case "down":
		return tempError{temporary: true}
	}
	return tempError{}
}

// env is a running API over the fakes.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	fake  *fake
	clock *clock
	ver   *verifier
	logs  *syncBuffer
	api   *httpapi.API
}

type option func(*httpapi.Config, *httpapi.Deps)

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	c := newClock()
	f := newFake(c)
	v := &verifier{name: "pow"}
	logs := &syncBuffer{}
	cfg := httpapi.Config{Limits: httpapi.LimitsFromPolicy(domain.DefaultPolicy())}
	deps := httpapi.Deps{
		Commands: f, Views: f, Verifier: v,
		Challenge: func() (any, error) { return map[string]any{"algorithm": "SHA-256", "challenge": "abc"}, nil },
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
		Now:       c.Now,
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	a, err := httpapi.New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, fake: f, clock: c, ver: v, logs: logs, api: a}
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	raw    []byte
	env    struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *struct {
			Code         string `json:"code"`
			Message      string `json:"message"`
			RetryAfterMs int64  `json:"retryAfterMs"`
		} `json:"error"`
		Meta struct {
			Timestamp int64  `json:"timestamp"`
			RequestID string `json:"requestId"`
		} `json:"meta"`
	}
}

func (r *response) code() string {
	if r.env.Error == nil {
		return ""
	}
	return r.env.Error.Code
}

func (r *response) data(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.env.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode data %s: %v", r.env.Data, err)
	}
}

type req struct {
	method, path string
	body         string
	token        string
	header       map[string]string
	noJSON       bool // no Content-Type header
}

func (e *env) do(r req) *response {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.body != "" && !r.noJSON {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := &response{status: resp.StatusCode, header: resp.Header}
	out.raw, err = io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && r.method != http.MethodHead {
		dec := json.NewDecoder(bytes.NewReader(out.raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out.env); err != nil {
			e.t.Fatalf("%s %s: not an envelope: %v: %s", r.method, r.path, err, out.raw)
		}
	}
	return out
}

func (e *env) get(path, token string) *response {
	e.t.Helper()
	return e.do(req{method: "GET", path: path, token: token})
}

func (e *env) post(path, token, body string) *response {
	e.t.Helper()
	return e.do(req{method: "POST", path: path, token: token, body: body})
}

// login logs handle in and returns the token.
func (e *env) login(handle, password string) string {
	e.t.Helper()
	r := e.post("/api/auth/login", "", `{"handle":"`+handle+`","password":"`+password+`","verification":"ok"}`)
	if r.status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", handle, r.status, r.raw)
	}
	var d struct {
		Token     string       `json:"token"`
		User      httpapi.User `json:"user"`
		ExpiresAt int64        `json:"expiresAt"`
	}
	r.data(e.t, &d)
	return d.Token
}

func expect(t *testing.T, r *response, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got %d %q, want %d %q: %s", r.status, r.code(), status, code, r.raw)
	}
	if r.env.Success != (status >= 200 && status < 300) {
		t.Fatalf("success = %v with status %d", r.env.Success, status)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // pinged after each write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == nil {
		s.written = make(chan struct{}, 1)
	}
	select {
	case s.written <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

// waitFor waits until the log contains substr: some lines are written
// after the response reached the client.
func (s *syncBuffer) waitFor(t *testing.T, substr string) {
	t.Helper()
	s.mu.Lock()
	if s.written == nil {
		s.written = make(chan struct{}, 1)
	}
	ch := s.written
	s.mu.Unlock()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(s.String(), substr) {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("log never contained %s: %s", substr, s.String())
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

var errBoom = errors.New("boom: secret-detail-4711 exploded")
