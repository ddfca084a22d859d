package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"switchboard/adapters/httpapi"
	"switchboard/eventstore"
)

func TestEnvelope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seen := map[string]bool{}
	for range 20 {
		r := e.get("/api/config", "")
		expect(t, r, http.StatusOK, "")
		if r.env.Error != nil || len(r.env.Data) == 0 {
			t.Fatalf("success envelope: %s", r.raw)
		}
		if r.env.Meta.Timestamp != e.clock.Now().UnixMilli() {
			t.Errorf("timestamp = %d, want the clock's %d", r.env.Meta.Timestamp, e.clock.Now().UnixMilli())
		}
		id, err := uuid.Parse(r.env.Meta.RequestID)
		if err != nil || id.Version() != 4 {
			t.Fatalf("requestId %q is not a UUIDv4", r.env.Meta.RequestID)
		}
		if got := r.header.Get("X-Request-Id"); got != r.env.Meta.RequestID {
			t.Errorf("X-Request-Id = %q, want %q", got, r.env.Meta.RequestID)
		}
		if seen[r.env.Meta.RequestID] {
			t.Fatalf("requestId %s repeated", r.env.Meta.RequestID)
		}
		seen[r.env.Meta.RequestID] = true
	}
	r := e.get("/api/nope", "")
	expect(t, r, http.StatusNotFound, "not_found")
	if r.env.Data != nil || r.env.Error.Message == "" || r.env.Meta.RequestID == "" {
		t.Errorf("error envelope: %s", r.raw)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		method, path, allow string
	}{
		{"GET", "/api/auth/login", "POST"},
		{"PUT", "/api/auth/register", "POST"},
		{"DELETE", "/api/users", "GET, HEAD"},
		{"POST", "/api/config", "GET, HEAD"},
		{"POST", "/api/rooms/general/messages", "GET, HEAD"},
		{"GET", "/api/admin/bots", "POST"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		r := e.do(req{method: c.method, path: c.path})
		expect(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		if got := r.header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow = %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	for _, p := range []string{"/api/", "/api/unknown", "/api/rooms/", "/api/rooms/general", "/api/auth/me/x", "/ws", "/metrics", "/index.html"} {
		expect(t, e.get(p, ""), http.StatusNotFound, "not_found")
	}
	r := e.do(req{method: "HEAD", path: "/api/config"})
	if r.status != http.StatusOK || len(r.raw) != 0 {
		t.Errorf("HEAD /api/config: %d %q", r.status, r.raw)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	static := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<!doctype html>") })
	e := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) { d.Static = static })
	const wantCSP = "default-src 'self'; script-src 'self'; frame-src 'none'; connect-src 'self'; img-src 'self' data:; " +
		"style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	for _, p := range []string{"/api/config", "/api/nope", "/api/auth/me", "/healthz", "/readyz", "/", "/app.js"} {
		r := e.get(p, "")
		h := r.header
		if got := h.Get("Content-Security-Policy"); got != wantCSP {
			t.Errorf("%s: CSP = %q", p, got)
		}
		if strings.Contains(h.Get("Content-Security-Policy"), "cloudflare") {
			t.Errorf("%s: CSP allows Cloudflare without Turnstile", p)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", p, k, got, want)
			}
		}
		api := strings.HasPrefix(p, "/api") || p == "/healthz" || p == "/readyz"
		if got := h.Get("Cache-Control"); api && got != "no-store" {
			t.Errorf("%s: Cache-Control = %q", p, got)
		}
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: CORS header %s without AllowedOrigins", p, k)
			}
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS without Config.HSTS", p)
		}
	}

	ts := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) {
		d.Verifier = &verifier{name: "turnstile"}
		c.TurnstileSiteKey = "1x00000000000000000000AA"
		c.HSTS = true
	})
	r := ts.get("/api/config", "")
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self' https://challenges.cloudflare.com", "frame-src https://challenges.cloudflare.com"} {
		if !strings.Contains(csp, want) {
			t.Errorf("turnstile CSP %q lacks %q", csp, want)
		}
	}
	if r.header.Get("Strict-Transport-Security") == "" {
		t.Error("HSTS missing with Config.HSTS")
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) {
		c.AllowedOrigins = []string{"https://chat.example.com"}
	})
	e.fake.seedUser("alice", "correct horse", false)

	pre := e.do(req{method: "OPTIONS", path: "/api/auth/login", header: map[string]string{
		"Origin": "https://chat.example.com", "Access-Control-Request-Method": "POST",
	}})
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://chat.example.com" {
		t.Fatalf("preflight from an allowed origin: %d %v", pre.status, pre.header)
	}
	if !strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight Allow-Headers = %q", pre.header.Get("Access-Control-Allow-Headers"))
	}
	other := e.do(req{method: "OPTIONS", path: "/api/auth/login", header: map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
	}})
	if other.header.Get("Access-Control-Allow-Origin") != "" || other.status == http.StatusNoContent {
		t.Fatalf("preflight from a foreign origin: %d %v", other.status, other.header)
	}

	body := `{"handle":"alice","password":"correct horse","verification":"ok"}`
	ok := e.do(req{method: "POST", path: "/api/auth/login", body: body, header: map[string]string{
		"Origin": "https://chat.example.com", "Sec-Fetch-Site": "cross-site",
	}})
	expect(t, ok, http.StatusOK, "")
	if ok.header.Get("Access-Control-Allow-Origin") != "https://chat.example.com" {
		t.Errorf("allowed origin not echoed: %v", ok.header)
	}
	bad := e.do(req{method: "POST", path: "/api/auth/login", body: body, header: map[string]string{
		"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site",
	}})
	expect(t, bad, http.StatusForbidden, "forbidden")
	if bad.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("foreign origin got CORS headers")
	}
	same := e.do(req{method: "POST", path: "/api/auth/login", body: body, header: map[string]string{
		"Sec-Fetch-Site": "same-origin",
	}})
	expect(t, same, http.StatusOK, "")
}

func TestConfigEndpoint(t *testing.T) {
	t.Parallel()
	type configData struct {
		Verifier          string                `json:"verifier"`
		TurnstileSiteKey  string                `json:"turnstileSiteKey"`
		SessionTTLSeconds int64                 `json:"sessionTtlSeconds"`
		Limits            httpapi.Limits        `json:"limits"`
		Demo              bool                  `json:"demo"`
		DemoAccounts      []httpapi.DemoAccount `json:"demoAccounts"`
	}
	e := newEnv(t)
	var c configData
	e.get("/api/config", "").data(t, &c)
	if c.Verifier != "pow" || c.SessionTTLSeconds != 1200 || c.Demo || c.DemoAccounts != nil || c.TurnstileSiteKey != "" {
		t.Errorf("config: %+v", c)
	}
	if c.Limits.MaxTextChars != 2048 || c.Limits.NudgePerWindow != 3 || c.Limits.NudgeWindowMs != 10_000 || len(c.Limits.Winks) == 0 {
		t.Errorf("limits: %+v", c.Limits)
	}

	demo := newEnv(t, func(cfg *httpapi.Config, d *httpapi.Deps) {
		d.Verifier = &verifier{name: "turnstile"}
		cfg.TurnstileSiteKey = "site-key"
		cfg.Demo = true
		cfg.DemoAccounts = []httpapi.DemoAccount{{Handle: "user_1", DisplayName: "Alice"}}
		cfg.SessionTTL = 0
	})
	c = configData{}
	demo.get("/api/config", "").data(t, &c)
	if c.Verifier != "turnstile" || c.TurnstileSiteKey != "site-key" || !c.Demo || len(c.DemoAccounts) != 1 || c.DemoAccounts[0].DisplayName != "Alice" {
		t.Errorf("demo config: %+v", c)
	}

	none := newEnv(t, func(cfg *httpapi.Config, d *httpapi.Deps) { d.Verifier = nil; cfg.TurnstileSiteKey = "unused" })
	c = configData{}
	none.get("/api/config", "").data(t, &c)
	if c.Verifier != "none" || c.TurnstileSiteKey != "" {
		t.Errorf("no verifier: %+v", c)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	storeErr, bots := error(nil), "ok"
	e := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) {
		d.StoreCheck = func(ctx context.Context) error { mu.Lock(); defer mu.Unlock(); return storeErr }
		d.BotBackend = func() string { mu.Lock(); defer mu.Unlock(); return bots }
	})
	h := e.get("/healthz", "")
	if h.status != http.StatusOK || string(h.raw) != "ok\n" {
		t.Fatalf("healthz: %d %q", h.status, h.raw)
	}

	type ready struct {
		Ready       bool   `json:"ready"`
		Store       string `json:"store"`
		Projections string `json:"projections"`
		Bots        string `json:"bots"`
	}
	check := func(wantStatus int, want ready) {
		t.Helper()
		r := e.get("/readyz", "")
		code := ""
		if wantStatus != http.StatusOK {
			code = "unavailable"
		}
		expect(t, r, wantStatus, code)
		var got ready
		r.data(t, &got)
		if got != want {
			t.Errorf("readyz = %+v, want %+v", got, want)
		}
	}
	check(http.StatusOK, ready{true, "ok", "ok", "ok"})

	mu.Lock()
	bots = "ollama unreachable"
	mu.Unlock()
	check(http.StatusOK, ready{true, "ok", "ok", "ollama unreachable"}) // bots degrade, do not gate

	e.fake.set(func(f *fake) { f.notReady = errors.New("catching up: 10 of 20") })
	check(http.StatusServiceUnavailable, ready{false, "ok", "catching up: 10 of 20", "ollama unreachable"})

	e.fake.set(func(f *fake) { f.notReady = nil })
	mu.Lock()
	storeErr = errors.Join(eventstore.ErrUnavailable, errBoom)
	mu.Unlock()
	r := e.get("/readyz", "")
	expect(t, r, http.StatusServiceUnavailable, "unavailable")
	if strings.Contains(string(r.raw), "secret-detail") {
		t.Errorf("readyz leaks the store error: %s", r.raw)
	}
	if !strings.Contains(e.logs.String(), "secret-detail") {
		t.Error("store error not logged")
	}
	if h := e.get("/healthz", ""); h.status != http.StatusOK {
		t.Errorf("healthz while not ready: %d", h.status)
	}

	strict := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) {
		c.ReadyRequiresBots = true
		d.BotBackend = func() string { return "ollama unreachable" }
	})
	expect(t, strict.get("/readyz", ""), http.StatusServiceUnavailable, "unavailable")
}

func TestMetricsWebSocketAndStatic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) {
		d.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, "switchboard_up 1\n")
		})
		// The gateway hijacks the connection; the API's response
		// wrapper must let it.
		d.WebSocket = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer conn.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			buf.Flush()
		})
		d.Static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "static:"+r.URL.Path)
		})
	})
	m := e.get("/metrics", "")
	if m.status != http.StatusOK || string(m.raw) != "switchboard_up 1\n" {
		t.Errorf("metrics: %d %q", m.status, m.raw)
	}
	ws := e.get("/ws", "")
	if ws.status != http.StatusOK || string(ws.raw) != "hijacked" {
		t.Errorf("ws: %d %q", ws.status, ws.raw)
	}
	s := e.get("/rooms/general", "")
	if s.status != http.StatusOK || string(s.raw) != "static:/rooms/general" || s.header.Get("Content-Security-Policy") == "" {
		t.Errorf("static: %d %q %v", s.status, s.raw, s.header)
	}
	e.logs.waitFor(t, `"path":"/ws","status":101`)
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.set(func(f *fake) { f.failLogin = errBoom })
	r := e.post("/api/auth/login", "", `{"handle":"alice","password":"whatever1","verification":"ok"}`)
	expect(t, r, http.StatusInternalServerError, "internal")
	if strings.Contains(string(r.raw), "secret-detail") || r.env.Error.Message != "internal error" {
		t.Errorf("internal error leaked: %s", r.raw)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "secret-detail") || !strings.Contains(logs, r.env.Meta.RequestID) {
		t.Errorf("internal error not logged with its request id: %s", logs)
	}

	e.fake.set(func(f *fake) { f.failLogin = errors.Join(eventstore.ErrUnavailable, errBoom) })
	r = e.post("/api/auth/login", "", `{"handle":"alice","password":"whatever1","verification":"ok"}`)
	expect(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.header.Get("Retry-After") != "1" || strings.Contains(string(r.raw), "secret-detail") {
		t.Errorf("unavailable: %v %s", r.header, r.raw)
	}

	e.fake.set(func(f *fake) { f.panicUsers = true })
	tok := func() string {
		e.fake.set(func(f *fake) { f.failLogin = nil })
		e.fake.seedUser("bob", "bobs password", false)
		return e.login("bob", "bobs password")
	}()
	r = e.get("/api/users", tok)
	expect(t, r, http.StatusInternalServerError, "internal")
	if strings.Contains(string(r.raw), "secret detail") {
		t.Errorf("panic leaked: %s", r.raw)
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	tok := e.login("alice", "correct horse")
	e.get("/api/auth/me", tok)
	e.post("/api/auth/login", "", `{"handle":"alice","password":"wrong password","verification":"ok"}`)
	logs := e.logs.String()
	for _, secret := range []string{tok, "correct horse", "wrong password"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	for _, want := range []string{`"method":"GET"`, `"path":"/api/auth/me"`, `"status":200`, `"duration"`, `"requestId"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s: %s", want, logs)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	f := newFake(newClock())
	if _, err := httpapi.New(httpapi.Config{}, httpapi.Deps{}); err == nil {
		t.Error("New without Commands and Views succeeded")
	}
	_, err := httpapi.New(httpapi.Config{
		AdminToken:     "short",
		AllowedOrigins: []string{"chat.example.com", "https://ok.example", "https://x.example/path"},
		LoginWindow:    -1,
	}, httpapi.Deps{Commands: f, Views: f})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"AdminToken", `"chat.example.com"`, `"https://x.example/path"`, "LoginWindow"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "ok.example") {
		t.Errorf("valid origin reported: %v", err)
	}
}
