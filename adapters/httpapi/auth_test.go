package httpapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/httpapi"
)

// viaIP makes requests come from ip (the API trusts X-Forwarded-For in
// these tests).
func viaIP(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

func trustProxy(c *httpapi.Config, d *httpapi.Deps) { c.TrustProxy = true }

func loginBody(handle, password string) string {
	return fmt.Sprintf(`{"handle":%q,"password":%q,"verification":"ok"}`, handle, password)
}

func TestRegister(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustProxy, func(c *httpapi.Config, d *httpapi.Deps) { c.LoginPerIP = 100 })
	body := func(handle, name, password, verification string) string {
		return fmt.Sprintf(`{"handle":%q,"displayName":%q,"password":%q,"verification":%q}`, handle, name, password, verification)
	}
	r := e.post("/api/auth/register", "", body("Alice", "Alice A.", "correct horse", "ok"))
	expect(t, r, http.StatusCreated, "")
	var d struct {
		User httpapi.User `json:"user"`
	}
	r.data(t, &d)
	if d.User.Handle != "alice" || d.User.DisplayName != "Alice A." || d.User.Bot {
		t.Errorf("registered user = %+v", d.User)
	}
	// The response came after the read side applied the registration.
	var users struct {
		Users []httpapi.User `json:"users"`
	}
	tok := e.login("alice", "correct horse")
	e.get("/api/users", tok).data(t, &users)
	if len(users.Users) != 1 || users.Users[0].Handle != "alice" {
		t.Errorf("directory after sign-up: %+v", users.Users)
	}

	for _, c := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"taken", body("ALICE", "Other", "another password", "ok"), 409, "handle_taken", ""},
		{"bad handle", body("a!", "A", "correct horse", "ok"), 400, "invalid_payload", "handle:"},
		{"weak password", body("bob", "Bob", "short", "ok"), 400, "invalid_payload", "password: must be 8 to 128 characters"},
		{"empty display name", body("bob", "  ", "correct horse", "ok"), 400, "invalid_payload", "displayName: empty"},
		{"long display name", body("bob", strings.Repeat("x", 51), "correct horse", "ok"), 400, "invalid_payload", "displayName: at most 50 characters"},
		{"verification refused", body("bob", "Bob", "correct horse", "forged"), 403, "verification_failed", ""},
		{"verifier down", body("bob", "Bob", "correct horse", "down"), 503, "unavailable", ""},
		{"missing password", `{"handle":"bob","displayName":"Bob","verification":"ok"}`, 400, "invalid_payload", "password is required"},
	} {
		r := e.post("/api/auth/register", "", c.body)
		if r.status != c.status || r.code() != c.code || !strings.Contains(r.env.Error.Message, c.msg) {
			t.Errorf("%s: got %d %s, want %d %q %q", c.name, r.status, r.raw, c.status, c.code, c.msg)
		}
	}
	if _, ok := e.fake.User("bob"); ok {
		t.Error("bob registered despite the refusals")
	}
}

func TestRegisterLimitedPerIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustProxy)
	for i := range 5 {
		r := e.do(req{method: "POST", path: "/api/auth/register", header: viaIP("192.0.2.7"),
			body: fmt.Sprintf(`{"handle":"user%d","displayName":"U","password":"correct horse","verification":"ok"}`, i)})
		expect(t, r, http.StatusCreated, "")
	}
	r := e.do(req{method: "POST", path: "/api/auth/register", header: viaIP("192.0.2.7"),
		body: `{"handle":"user9","displayName":"U","password":"correct horse","verification":"ok"}`})
	expect(t, r, http.StatusTooManyRequests, "too_many_attempts")
	r = e.do(req{method: "POST", path: "/api/auth/register", header: viaIP("192.0.2.8"),
		body: `{"handle":"user9","displayName":"U","password":"correct horse","verification":"ok"}`})
	expect(t, r, http.StatusCreated, "")
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustProxy, func(c *httpapi.Config, d *httpapi.Deps) { c.LoginPerIP = 100; c.LoginPerHandle = 100 })
	e.fake.seedUser("alice", "correct horse", false)
	e.fake.seedUser("user_1", "", true)

	r := e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("Alice", "correct horse"), header: viaIP("198.51.100.9")})
	expect(t, r, http.StatusOK, "")
	var d struct {
		Token     string       `json:"token"`
		User      httpapi.User `json:"user"`
		ExpiresAt int64        `json:"expiresAt"`
	}
	r.data(t, &d)
	if len(d.Token) < 22 || d.User.Handle != "alice" || d.ExpiresAt != e.clock.Now().Add(20*time.Minute).UnixMilli() {
		t.Errorf("login = %+v", d)
	}
	if ips := e.ver.ips; len(ips) == 0 || ips[len(ips)-1] != "198.51.100.9" {
		t.Errorf("verifier got remote IPs %v", ips)
	}
	// The token works at once: login answered after the read side had the
	// session.
	me := e.get("/api/auth/me", d.Token)
	expect(t, me, http.StatusOK, "")
	var md struct {
		User      httpapi.User `json:"user"`
		ExpiresAt int64        `json:"expiresAt"`
	}
	me.data(t, &md)
	if md.User.Handle != "alice" || md.ExpiresAt != d.ExpiresAt {
		t.Errorf("me = %+v", md)
	}

	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"wrong password", loginBody("alice", "wrong horse"), 401, "invalid_credentials"},
		{"unknown handle", loginBody("nobody", "correct horse"), 401, "invalid_credentials"},
		{"malformed handle", loginBody("no body!", "correct horse"), 401, "invalid_credentials"},
		{"no password", `{"handle":"alice","verification":"ok"}`, 401, "invalid_credentials"},
		{"demo without password, not demo mode", `{"handle":"user_1","verification":"ok"}`, 401, "invalid_credentials"},
		{"verification refused", `{"handle":"alice","password":"correct horse","verification":"nope"}`, 403, "verification_failed"},
		{"verification missing", `{"handle":"alice","password":"correct horse"}`, 403, "verification_failed"},
		{"verifier down", `{"handle":"alice","password":"correct horse","verification":"down"}`, 503, "unavailable"},
		{"no handle", `{"password":"correct horse","verification":"ok"}`, 400, "invalid_payload"},
	} {
		r := e.post("/api/auth/login", "", c.body)
		if r.status != c.status || r.code() != c.code {
			t.Errorf("%s: got %d %s, want %d %q", c.name, r.status, r.raw, c.status, c.code)
		}
	}
	// Verification runs before the password is looked at: refused
	// attempts never reach the command side.
	before := e.fake.logins("alice")
	e.post("/api/auth/login", "", `{"handle":"alice","password":"correct horse","verification":"nope"}`)
	if after := e.fake.logins("alice"); after != before {
		t.Errorf("a refused verification reached Login (%d → %d)", before, after)
	}

	demo := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) { c.Demo = true })
	demo.fake.demo = true
	demo.fake.seedUser("user_1", "", true)
	expect(t, demo.post("/api/auth/login", "", `{"handle":"user_1","verification":"ok"}`), http.StatusOK, "")

	none := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) { d.Verifier = nil })
	none.fake.seedUser("alice", "correct horse", false)
	expect(t, none.post("/api/auth/login", "", `{"handle":"alice","password":"correct horse"}`), http.StatusOK, "")
}

// TestReadSideLagging: when the read side cannot catch up in time, a
// login answers 503 (its token would be refused on first use), while a
// sign-up and a logout, which are durable either way, still succeed.
func TestReadSideLagging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	tok := e.login("alice", "correct horse")
	e.fake.set(func(f *fake) { f.failSync = errBoom })

	expect(t, e.post("/api/auth/login", "", loginBody("alice", "correct horse")), http.StatusServiceUnavailable, "unavailable")

	r := e.post("/api/auth/register", "", `{"handle":"bob","displayName":"Bobby","password":"correct horse","verification":"ok"}`)
	expect(t, r, http.StatusCreated, "")
	var d struct {
		User httpapi.User `json:"user"`
	}
	r.data(t, &d)
	if d.User != (httpapi.User{Handle: "bob", DisplayName: "Bobby", Status: "offline"}) {
		t.Errorf("user before the directory has it: %+v", d.User)
	}

	expect(t, e.post("/api/auth/logout", tok, ""), http.StatusOK, "")
	if !strings.Contains(e.logs.String(), "logout not yet applied") {
		t.Error("lagging logout not logged")
	}
}

func TestLoginBruteForcePerHandle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustProxy)
	e.fake.seedUser("alice", "correct horse", false)
	// Five failures from five addresses: the per-address limit is not
	// what stops the sixth.
	for i := range 5 {
		r := e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "guess"+strconv.Itoa(i)), header: viaIP(fmt.Sprintf("203.0.113.%d", i))})
		expect(t, r, http.StatusUnauthorized, "invalid_credentials")
		e.clock.Advance(time.Second)
	}
	r := e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("ALICE", "correct horse"), header: viaIP("203.0.113.50")})
	expect(t, r, http.StatusTooManyRequests, "too_many_attempts")
	// The oldest failure was 5 s ago: it leaves the window in 55 s.
	if got := r.header.Get("Retry-After"); got != "55" {
		t.Errorf("Retry-After = %q, want 55", got)
	}
	if r.env.Error.RetryAfterMs != 55_000 || !strings.Contains(r.env.Error.Message, "55 seconds") {
		t.Errorf("error = %+v", r.env.Error)
	}
	if n := e.fake.logins("alice"); n != 5 {
		t.Errorf("Login called %d times, want 5: the limited attempt must not reach it", n)
	}
	e.clock.Advance(55 * time.Second)
	r = e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: viaIP("203.0.113.50")})
	expect(t, r, http.StatusOK, "")
}

func TestLoginBruteForcePerIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustProxy)
	for _, h := range []string{"alice", "bob", "carol"} {
		e.fake.seedUser(h, "correct horse", false)
	}
	ip := viaIP("192.0.2.1")
	// Every attempt counts per address, successes included.
	for i := range 5 {
		h := []string{"alice", "bob", "carol", "dave", "erin"}[i]
		e.do(req{method: "POST", path: "/api/auth/login", body: loginBody(h, "correct horse"), header: ip})
	}
	r := e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("carol", "correct horse"), header: ip})
	expect(t, r, http.StatusTooManyRequests, "too_many_attempts")
	if r.header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	// Another address is not affected, nor is carol's count.
	expect(t, e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("carol", "correct horse"), header: viaIP("192.0.2.2")}), http.StatusOK, "")
	// IPv6 addresses count per /64.
	for i := range 5 {
		e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: viaIP(fmt.Sprintf("2001:db8:1:2::%x", i+1))})
	}
	expect(t, e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: viaIP("2001:db8:1:2:ffff::1")}), http.StatusTooManyRequests, "too_many_attempts")
	expect(t, e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: viaIP("2001:db8:1:3::1")}), http.StatusOK, "")
	e.clock.Advance(time.Minute)
	expect(t, e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: ip}), http.StatusOK, "")
}

func TestLoginSuccessesAndRefusedVerificationsDoNotCountPerHandle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustProxy)
	e.fake.seedUser("alice", "correct horse", false)
	for i := range 10 {
		ip := viaIP(fmt.Sprintf("203.0.113.%d", i))
		expect(t, e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: ip}), http.StatusOK, "")
		r := e.do(req{method: "POST", path: "/api/auth/login", header: ip, body: `{"handle":"alice","password":"x","verification":"forged"}`})
		expect(t, r, http.StatusForbidden, "verification_failed")
	}
}

func TestLoginParallelGuessesAreCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, trustProxy)
	e.fake.seedUser("alice", "correct horse", false)
	var wg sync.WaitGroup
	statuses := make([]int, 40)
	for i := range statuses {
		wg.Go(func() {
			r := e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "guess"), header: viaIP(fmt.Sprintf("10.0.%d.1", i))})
			statuses[i] = r.status
		})
	}
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	if counts[401] != 5 || counts[429] != 35 {
		t.Errorf("statuses %v, want 5×401 and 35×429", counts)
	}
	if n := e.fake.logins("alice"); n != 5 {
		t.Errorf("%d guesses reached Login, want 5", n)
	}
}

func TestClientAddressIgnoresForwardedForByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	for i := range 5 {
		e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: viaIP(fmt.Sprintf("203.0.113.%d", i))})
	}
	r := e.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: viaIP("203.0.113.99")})
	expect(t, r, http.StatusTooManyRequests, "too_many_attempts")
	if ips := e.ver.ips; ips[0] != "127.0.0.1" {
		t.Errorf("verifier saw %q, want the peer address", ips[0])
	}

	// Behind a proxy, the last entry (the proxy's own view) counts, not
	// what the client put first.
	p := newEnv(t, trustProxy)
	p.fake.seedUser("alice", "correct horse", false)
	for i := range 5 {
		p.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"),
			header: viaIP(fmt.Sprintf("1.2.3.%d, 198.51.100.1", i))})
	}
	r = p.do(req{method: "POST", path: "/api/auth/login", body: loginBody("alice", "correct horse"), header: viaIP("9.9.9.9, 198.51.100.1")})
	expect(t, r, http.StatusTooManyRequests, "too_many_attempts")
}

func TestChallenge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.post("/api/auth/challenge", "", "")
	expect(t, r, http.StatusOK, "")
	var ch map[string]any
	r.data(t, &ch)
	if ch["algorithm"] != "SHA-256" {
		t.Errorf("challenge = %v", ch)
	}
	expect(t, e.post("/api/auth/challenge", "", "{}"), http.StatusOK, "")
	expect(t, e.post("/api/auth/challenge", "", `{"x":1}`), http.StatusBadRequest, "invalid_payload")
	for range 28 - 1 {
		e.post("/api/auth/challenge", "", "")
	}
	// 2 + 27 = 29 so far.
	expect(t, e.post("/api/auth/challenge", "", ""), http.StatusOK, "")
	r = e.post("/api/auth/challenge", "", "")
	expect(t, r, http.StatusTooManyRequests, "too_many_attempts")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	e.clock.Advance(time.Minute)
	expect(t, e.post("/api/auth/challenge", "", ""), http.StatusOK, "")

	none := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) { d.Challenge = nil; d.Verifier = &verifier{name: "turnstile"} })
	expect(t, none.post("/api/auth/challenge", "", ""), http.StatusNotFound, "not_found")
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	tok := e.login("alice", "correct horse")

	for _, c := range []struct {
		name   string
		header map[string]string
		code   string
	}{
		{"no header", nil, "unauthorized"},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, "unauthorized"},
		{"other scheme", map[string]string{"Authorization": "Basic " + tok}, "unauthorized"},
		{"unknown token", map[string]string{"Authorization": "Bearer " + tok + "x"}, "unauthorized"},
		{"bad characters", map[string]string{"Authorization": "Bearer " + tok + "*"}, "unauthorized"},
		{"too long", map[string]string{"Authorization": "Bearer " + strings.Repeat("a", 600)}, "unauthorized"},
		{"lowercase scheme", map[string]string{"Authorization": "bearer " + tok}, ""},
	} {
		r := e.do(req{method: "GET", path: "/api/auth/me", header: c.header})
		if c.code == "" {
			expect(t, r, http.StatusOK, "")
			continue
		}
		if r.status != http.StatusUnauthorized || r.code() != c.code {
			t.Errorf("%s: %d %s", c.name, r.status, r.raw)
		}
	}

	// A view that returns a session for the wrong hash is caught by the
	// constant-time comparison.
	e.fake.set(func(f *fake) { f.wrongHash = true })
	expect(t, e.get("/api/auth/me", "some-other-token"), http.StatusUnauthorized, "unauthorized")
	e.fake.set(func(f *fake) { f.wrongHash = false })

	// Expiry is checked against the clock, not only by the sweeper.
	e.clock.Advance(20*time.Minute - time.Millisecond)
	expect(t, e.get("/api/auth/me", tok), http.StatusOK, "")
	e.clock.Advance(time.Millisecond)
	expect(t, e.get("/api/auth/me", tok), http.StatusUnauthorized, "session_expired")
	expect(t, e.get("/api/rooms", tok), http.StatusUnauthorized, "session_expired")
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.seedUser("alice", "correct horse", false)
	tok := e.login("alice", "correct horse")
	other := e.login("alice", "correct horse")

	expect(t, e.post("/api/auth/logout", "", ""), http.StatusUnauthorized, "unauthorized")
	expect(t, e.post("/api/auth/logout", tok, `{"all":true}`), http.StatusBadRequest, "invalid_payload")
	r := e.post("/api/auth/logout", tok, "")
	expect(t, r, http.StatusOK, "")
	if string(r.env.Data) != "{}" {
		t.Errorf("logout data = %s", r.env.Data)
	}
	// The fake applies writes only on Sync: /me refusing the token proves
	// logout waited for the read side.
	expect(t, e.get("/api/auth/me", tok), http.StatusUnauthorized, "session_expired")
	expect(t, e.post("/api/auth/logout", tok, "{}"), http.StatusUnauthorized, "session_expired")
	// Only that session ended.
	expect(t, e.get("/api/auth/me", other), http.StatusOK, "")
}

func TestAdminBots(t *testing.T) {
	t.Parallel()
	const admin = "an-admin-token-of-some-length"
	off := newEnv(t)
	expect(t, off.post("/api/admin/bots", "", `{"enabled":false}`), http.StatusForbidden, "forbidden")
	expect(t, off.post("/api/admin/bots", "anything", `{"enabled":false}`), http.StatusForbidden, "forbidden")

	e := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) { c.AdminToken = admin })
	expect(t, e.post("/api/admin/bots", "", `{"enabled":false}`), http.StatusUnauthorized, "unauthorized")
	expect(t, e.post("/api/admin/bots", admin+"x", `{"enabled":false}`), http.StatusForbidden, "forbidden")
	expect(t, e.post("/api/admin/bots", "x", `{"enabled":false}`), http.StatusForbidden, "forbidden")
	// A user's session token is no admin token.
	e.fake.seedUser("alice", "correct horse", false)
	expect(t, e.post("/api/admin/bots", e.login("alice", "correct horse"), `{"enabled":false}`), http.StatusForbidden, "forbidden")
	expect(t, e.post("/api/admin/bots", admin, `{}`), http.StatusBadRequest, "invalid_payload")
	expect(t, e.post("/api/admin/bots", admin, `{"enabled":"no"}`), http.StatusBadRequest, "invalid_payload")

	r := e.post("/api/admin/bots", admin, `{"enabled":false}`)
	expect(t, r, http.StatusOK, "")
	var d struct {
		Enabled bool `json:"enabled"`
	}
	r.data(t, &d)
	expect(t, e.post("/api/admin/bots", admin, `{"enabled":true}`), http.StatusOK, "")
	e.fake.set(func(f *fake) {
		if fmt.Sprint(f.bots) != "[false true]" {
			t.Errorf("kill switch recorded %v", f.bots)
		}
	})

	// Wrong tokens count against the address (with its logins); right
	// ones do not.
	limited := false
	for range 6 {
		if r := e.post("/api/admin/bots", "wrong", `{"enabled":true}`); r.status == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("wrong admin tokens are not limited")
	}
	expect(t, e.post("/api/admin/bots", admin, `{"enabled":true}`), http.StatusTooManyRequests, "too_many_attempts")
}
