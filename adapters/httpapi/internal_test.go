package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/eventstore"
)

func TestLimiterWindow(t *testing.T) {
	t.Parallel()
	l := newLimiter(3, time.Minute, 10)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if _, _, ok := l.reserve("k", t0.Add(time.Duration(i)*time.Second)); !ok {
			t.Fatalf("reservation %d refused", i)
		}
	}
	_, wait, ok := l.reserve("k", t0.Add(10*time.Second))
	if ok || wait != 50*time.Second {
		t.Fatalf("4th: ok %v, wait %s; want refused, 50s", ok, wait)
	}
	if _, _, ok := l.reserve("other", t0.Add(10*time.Second)); !ok {
		t.Fatal("another key is limited")
	}
	// The window slides: the first slot frees at t0+60s, the second at
	// t0+61s.
	if _, _, ok := l.reserve("k", t0.Add(60*time.Second)); !ok {
		t.Fatal("slot not freed after the window")
	}
	if _, wait, ok := l.reserve("k", t0.Add(60*time.Second)); ok || wait != time.Second {
		t.Fatalf("after one slot freed: ok %v wait %s", ok, wait)
	}
}

func TestLimiterCancel(t *testing.T) {
	t.Parallel()
	l := newLimiter(2, time.Minute, 10)
	now := time.Unix(1000, 0)
	a, _, _ := l.reserve("k", now)
	b, _, _ := l.reserve("k", now)
	if _, _, ok := l.reserve("k", now); ok {
		t.Fatal("over the limit")
	}
	a.cancel()
	a.cancel() // twice: no effect
	if _, _, ok := l.reserve("k", now); !ok {
		t.Fatal("cancelled slot not given back")
	}
	b.cancel()
	reservation{}.cancel()
	if _, _, ok := l.reserve("k", now); !ok {
		t.Fatal("second cancelled slot not given back")
	}
	if _, _, ok := l.reserve("k", now); ok {
		t.Fatal("over the limit after cancels")
	}
}

func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, time.Minute, 100)
	now := time.Unix(1000, 0)
	for i := range 1000 {
		l.reserve(fmt.Sprint("k", i), now)
	}
	if n := l.size(); n != 100 {
		t.Fatalf("size %d, want the bound 100", n)
	}
	// The most recent keys are kept, the oldest forgotten.
	if _, _, ok := l.reserve("k999", now); ok {
		t.Error("recent key forgotten")
	}
	if _, _, ok := l.reserve("k0", now); !ok {
		t.Error("old key kept beyond the bound")
	}
	// Idle keys are swept as traffic goes on.
	later := now.Add(2 * time.Minute)
	for i := range 100 {
		l.reserve(fmt.Sprint("fresh", i%5), later)
	}
	if n := l.size(); n > 10 {
		t.Errorf("%d keys after the window passed, want the idle ones swept", n)
	}
}

func TestLimiterDisabled(t *testing.T) {
	t.Parallel()
	l := newLimiter(-1, time.Minute, 10)
	for range 100 {
		if _, _, ok := l.reserve("k", time.Unix(0, 0)); !ok {
			t.Fatal("disabled limiter refused")
		}
	}
	if l.size() != 0 {
		t.Error("disabled limiter keeps keys")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l := newLimiter(10, time.Minute, 50)
	now := time.Unix(1000, 0)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted = map[string]int{}
	)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprint("k", (g+i)%20)
				r, _, ok := l.reserve(key, now)
				if ok && i%3 == 0 {
					r.cancel()
					continue
				}
				if ok {
					mu.Lock()
					granted[key]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for k, n := range granted {
		if n > 10 {
			t.Errorf("%s: %d kept reservations, limit 10", k, n)
		}
	}
	if l.size() > 50 {
		t.Errorf("size %d over the bound", l.size())
	}
}

func TestErrorTable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{badPayload("x"), 400, codeInvalidPayload},
		{&limitedError{RetryAfter: time.Second}, 429, codeTooManyAttempts},
		{&verifyError{Err: errors.New("no")}, 403, codeVerificationFailed},
		{&verifyError{Unavailable: true, Err: errors.New("down")}, 503, codeUnavailable},
		{domain.ErrVerificationFailed, 403, codeVerificationFailed},
		{errUnauthorized, 401, codeUnauthorized},
		{errSessionExpired, 401, codeSessionExpired},
		{domain.ErrSessionEnded, 401, codeSessionExpired},
		{domain.ErrInvalidCredentials, 401, codeInvalidCredentials},
		{domain.ErrHandleTaken, 409, codeHandleTaken},
		{commands.ErrWeakPassword, 400, codeInvalidPayload},
		{&domain.InvalidError{Field: "Handle", Reason: "bad"}, 400, codeInvalidPayload},
		{&domain.TooLongError{Field: "DisplayName", Max: 50}, 400, codeInvalidPayload},
		{fmt.Errorf("wrapped: %w", domain.ErrInvalid), 400, codeInvalidPayload},
		{commands.ErrIDReused, 400, codeInvalidPayload},
		{domain.ErrNotMember, 403, codeNotMember},
		{domain.ErrForbidden, 403, codeForbidden},
		{errForbidden, 403, codeForbidden},
		{domain.ErrNotFound, 404, codeNotFound},
		{errNotFound, 404, codeNotFound},
		{&domain.RateLimitedError{Action: "chat", RetryAfter: time.Second}, 429, codeRateLimited},
		{eventstore.ErrUnavailable, 503, codeUnavailable},
		{fmt.Errorf("append: %w", eventstore.ErrStorageFull), 503, codeUnavailable},
		{commands.ErrConflict, 503, codeUnavailable},
		{errSyncTimeout, 503, codeUnavailable},
		{context.DeadlineExceeded, 503, codeUnavailable},
		{eventstore.ErrCorrupt, 500, codeInternal},
		{errors.New("anything else"), 500, codeInternal},
	} {
		got := errorStatus(c.err)
		if got.Status != c.status || got.Code != c.code {
			t.Errorf("%v: %d %s, want %d %s", c.err, got.Status, got.Code, c.status, c.code)
		}
		if got.Internal != (c.code == codeInternal) || got.Message == "" {
			t.Errorf("%v: %+v", c.err, got)
		}
	}
	if m := errorStatus(&domain.InvalidError{Field: "DisplayName", Reason: "empty"}).Message; m != "displayName: empty" {
		t.Errorf("invalid message %q", m)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		trust       bool
		remote, xff string
		ip, key     string
	}{
		{false, "192.0.2.1:5555", "203.0.113.9", "192.0.2.1", "192.0.2.1"},
		{true, "192.0.2.1:5555", "203.0.113.9", "203.0.113.9", "203.0.113.9"},
		{true, "192.0.2.1:5555", "6.6.6.6, 203.0.113.9", "203.0.113.9", "203.0.113.9"},
		{true, "192.0.2.1:5555", "", "192.0.2.1", "192.0.2.1"},
		{false, "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{false, "[::ffff:192.0.2.3]:443", "", "192.0.2.3", "192.0.2.3"},
		{true, "192.0.2.1:5555", "[2001:db8::1]:80", "2001:db8::1", "2001:db8::/64"},
	} {
		a := &API{cfg: Config{TrustProxy: c.trust}}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		ip := a.clientIP(r)
		if ip != c.ip || addrKey(ip) != c.key {
			t.Errorf("%+v: ip %q key %q", c, ip, addrKey(ip))
		}
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Authorization", "Bearer a")
	r.Header.Add("Authorization", "Bearer b")
	if _, ok := bearer(r); ok {
		t.Error("two Authorization headers accepted")
	}
	r.Header.Del("Authorization")
	r.Header.Set("Authorization", "Bearer  a")
	if _, ok := bearer(r); ok {
		t.Error("two spaces accepted")
	}
	r.Header.Set("Authorization", "Bearer abc-_.~+/=")
	if tok, ok := bearer(r); !ok || tok != "abc-_.~+/=" {
		t.Errorf("b64token refused: %q %v", tok, ok)
	}
}

func TestDecodeRequired(t *testing.T) {
	t.Parallel()
	var b botsRequest
	if err := decodeJSON([]byte(`{"enabled":null}`), &b, "enabled"); err == nil {
		t.Error("null accepted for a required field")
	}
	if err := decodeJSON([]byte(`{"enabled":false}`), &b, "enabled"); err != nil || b.Enabled == nil || *b.Enabled {
		t.Errorf("enabled false: %v %v", err, b.Enabled)
	}
	if err := decodeJSON([]byte(` {"enabled" : true} `+"\n"), &b, "enabled"); err != nil || !*b.Enabled {
		t.Errorf("whitespace: %v", err)
	}
}

// FuzzDecodeJSON: the strict decoder never panics, and whatever it accepts
// encoding/json reads the same way (so the pre-scan refuses only).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"handle":"a","password":"b","verification":"c"}`, `{}`, `{"handle":1}`, `[]`, `{"handle":"a"}{}`,
		`{"handle":"a","handle":"b"}`, `{"Handle":"a"}`, `{"handle":[[[[[]]]]]}`, "{\"handle\":\"\xff\"}", `{"password":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got loginRequest
		if err := decodeJSON(body, &got); err != nil {
			var pe *payloadError
			if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400 payload error", err)
			}
			return
		}
		var want loginRequest
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		if got != want {
			t.Fatalf("decoded %+v, encoding/json %+v", got, want)
		}
	})
}
