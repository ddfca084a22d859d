package turnstile_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/adapters/turnstile"
	"switchboard/adapters/turnstile/fake"
)

// verifier is the consumer's interface (adapters/httpapi declares it).
type verifier interface {
	Name() string
	Verify(ctx context.Context, response, remoteIP string) error
}

var _ verifier = (*turnstile.Verifier)(nil)

// temporary is how a consumer that does not import turnstile tells the
// errors apart.
type temporary interface{ Temporary() bool }

const secret = "0x4AAAAAAAfakeSecretForTests"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// setup starts a stand-in siteverify and a Verifier pointed at it; cfg's
// non-zero fields override the defaults (the stand-in's secret).
func setup(t *testing.T, cfg turnstile.Config) (*turnstile.Verifier, *fake.Server) {
	t.Helper()
	f := fake.NewServer(secret)
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	t.Cleanup(f.Close) // runs first, releasing Slow requests
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	cfg.VerifyURL = ts.URL + "/turnstile/v0/siteverify"
	v, err := turnstile.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v, f
}

func wantFailed(t *testing.T, err error, detail string) {
	t.Helper()
	if !errors.Is(err, turnstile.ErrFailed) || errors.Is(err, turnstile.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrFailed", err)
	}
	var tmp temporary
	if !errors.As(err, &tmp) || tmp.Temporary() {
		t.Fatalf("err = %v: want Temporary() false", err)
	}
	if !strings.Contains(err.Error(), detail) {
		t.Fatalf("err = %v, want it to mention %q", err, detail)
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, turnstile.ErrUnavailable) || errors.Is(err, turnstile.ErrFailed) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	var tmp temporary
	if !errors.As(err, &tmp) || !tmp.Temporary() {
		t.Fatalf("err = %v: want Temporary() true", err)
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPass(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{Hostname: "chat.example", Action: "login"})
	if got := v.Name(); got != "turnstile" {
		t.Errorf("Name() = %q", got)
	}
	tok := f.IssueToken("Chat.Example", "login")
	if err := v.Verify(context.Background(), tok, "203.0.113.5:4711"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Secret != secret || r.Response != tok || r.RemoteIP != "203.0.113.5" || !uuidV4.MatchString(r.IdempotencyKey) {
		t.Errorf("request = %+v: want our secret, the token, the IP without port, a UUID v4 key", r)
	}
	tok2 := f.IssueToken("chat.example", "login")
	if err := v.Verify(context.Background(), tok2, "2001:db8::1"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	reqs = f.Requests()
	if reqs[1].RemoteIP != "2001:db8::1" || reqs[1].IdempotencyKey == r.IdempotencyKey {
		t.Errorf("second request = %+v: want the IPv6 address and a new key", reqs[1])
	}
}

func TestRejectedTokensFail(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{})
	tok := f.IssueToken("h", "a")
	if err := v.Verify(context.Background(), tok, ""); err != nil {
		t.Fatal(err)
	}
	wantFailed(t, v.Verify(context.Background(), tok, ""), "timeout-or-duplicate")
	wantFailed(t, v.Verify(context.Background(), "0.forged", ""), "invalid-input-response")
	wantFailed(t, v.Verify(context.Background(), fake.DummyToken, ""), "invalid-input-response")
}

func TestExpiredTokenFails(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{})
	t0 := time.Unix(1_700_000_000, 0)
	clk := &clock{t: t0}
	f.SetClock(clk.Now)
	tok := f.IssueToken("h", "a")
	clk.Set(t0.Add(300 * time.Second))
	wantFailed(t, v.Verify(context.Background(), tok, ""), "timeout-or-duplicate")
}

func TestHostnameAndActionMustMatch(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{Hostname: "chat.example", Action: "login"})
	tests := []struct{ hostname, action, detail string }{
		{"evil.example", "login", "hostname"},
		{"chat.example.evil", "login", "hostname"},
		{"", "login", "hostname"},
		{"chat.example", "register", "action"},
		{"chat.example", "Login", "action"},
		{"chat.example", "", "action"},
	}
	for _, tt := range tests {
		wantFailed(t, v.Verify(context.Background(), f.IssueToken(tt.hostname, tt.action), ""), tt.detail)
	}

	// Unset, they accept anything.
	open, f := setup(t, turnstile.Config{})
	if err := open.Verify(context.Background(), f.IssueToken("anywhere.example", "whatever"), ""); err != nil {
		t.Fatalf("no hostname or action configured: %v", err)
	}
}

func TestEmptyAndOversizedTokensAreNotSent(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{})
	wantFailed(t, v.Verify(context.Background(), "", ""), "empty")
	wantFailed(t, v.Verify(context.Background(), strings.Repeat("x", turnstile.MaxTokenLength+1), ""), "longer")
	if n := len(f.Requests()); n != 0 {
		t.Fatalf("%d requests reached siteverify, want 0", n)
	}
	// At the limit it is siteverify's to judge.
	wantFailed(t, v.Verify(context.Background(), strings.Repeat("x", turnstile.MaxTokenLength), ""), "invalid-input-response")
	if n := len(f.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// A first attempt that fails on the way (before or after siteverify spent
// the token) is retried once with the same idempotency key: the token
// passes exactly once.
func TestRetryWithSameKeySucceedsOnce(t *testing.T) {
	t.Parallel()
	for _, fault := range []fake.Fault{fake.DropAfterProcessing, fake.Status500AfterProcessing, fake.Drop, fake.Status500} {
		t.Run(fault.String(), func(t *testing.T) {
			t.Parallel()
			v, f := setup(t, turnstile.Config{})
			tok := f.IssueToken("h", "a")
			f.InjectFaults(fault)
			if err := v.Verify(context.Background(), tok, ""); err != nil {
				t.Fatalf("Verify with one %s: %v", fault, err)
			}
			reqs := f.Requests()
			if len(reqs) != 2 || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey || reqs[0].Response != tok || reqs[1].Response != tok {
				t.Fatalf("requests = %+v: want two with the same key", reqs)
			}
			wantFailed(t, v.Verify(context.Background(), tok, ""), "timeout-or-duplicate")
		})
	}
}

func TestServerErrorTwiceIsUnavailable(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{})
	tok := f.IssueToken("h", "a")
	f.InjectFaults(fake.Status500, fake.Status500)
	wantUnavailable(t, v.Verify(context.Background(), tok, ""))
	reqs := f.Requests()
	if len(reqs) != 2 || reqs[0].IdempotencyKey != reqs[1].IdempotencyKey {
		t.Fatalf("requests = %+v: want one retry with the same key", reqs)
	}
	// Nothing was spent: once siteverify recovers, the token passes.
	if err := v.Verify(context.Background(), tok, ""); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestNetworkErrorTwiceIsUnavailable(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{})
	f.InjectFaults(fake.Drop, fake.DropAfterProcessing)
	wantUnavailable(t, v.Verify(context.Background(), f.IssueToken("h", "a"), ""))
	if n := len(f.Requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	v, f := setup(t, turnstile.Config{Timeout: timeout})
	f.SetFault(fake.Slow)
	start := time.Now()
	err := v.Verify(context.Background(), f.IssueToken("h", "a"), "")
	elapsed := time.Since(start)
	wantUnavailable(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
	// A generous bound: the point is that Verify returns on its own,
	// not how precisely.
	if elapsed > timeout+5*time.Second {
		t.Errorf("Verify took %s with a %s timeout", elapsed, timeout)
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: no retry once the time is up", n)
	}
}

func TestCallerContextEnded(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := v.Verify(ctx, f.IssueToken("h", "a"), "")
	wantUnavailable(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
}

func TestGarbageIsUnavailable(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{})
	f.SetFault(fake.Garbage)
	wantUnavailable(t, v.Verify(context.Background(), f.IssueToken("h", "a"), ""))
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: garbage is not retried", n)
	}
}

func TestWrongSecretIsUnavailable(t *testing.T) {
	t.Parallel()
	f := fake.NewServer(secret)
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	v, err := turnstile.New(turnstile.Config{Secret: "0x4AAAAAAAnotOurs", VerifyURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = v.Verify(context.Background(), f.IssueToken("h", "a"), "")
	wantUnavailable(t, err)
	if !strings.Contains(err.Error(), "invalid-input-secret") {
		t.Errorf("err = %v, want it to name invalid-input-secret", err)
	}
}

// Answers the stand-in does not give, from a scripted handler.
func TestOddAnswers(t *testing.T) {
	t.Parallel()
	type reply struct {
		status int
		body   string
	}
	tests := []struct {
		name     string
		replies  []reply // one per attempt; the last repeats
		wantErr  error   // nil means pass
		attempts int32
	}{
		{"success", []reply{{200, `{"success":true,"error-codes":[],"hostname":"h","action":"a","cdata":"x","metadata":{"ephemeral_id":"y"}}`}}, nil, 1},
		{"no success field", []reply{{200, `{"hostname":"h"}`}}, turnstile.ErrUnavailable, 1},
		{"success not a boolean", []reply{{200, `{"success":"true"}`}}, turnstile.ErrUnavailable, 1},
		{"JSON array", []reply{{200, `[true]`}}, turnstile.ErrUnavailable, 1},
		{"empty body", []reply{{200, ``}}, turnstile.ErrUnavailable, 1},
		{"huge body", []reply{{200, `{"success":true,"cdata":"` + strings.Repeat("x", 70<<10) + `"}`}}, turnstile.ErrUnavailable, 1},
		{"failure without codes", []reply{{200, `{"success":false}`}}, turnstile.ErrFailed, 1},
		{"unknown code", []reply{{200, `{"success":false,"error-codes":["something-new"]}`}}, turnstile.ErrFailed, 1},
		{"bad-request", []reply{{200, `{"success":false,"error-codes":["bad-request"]}`}}, turnstile.ErrUnavailable, 1},
		{"missing-input-secret", []reply{{200, `{"success":false,"error-codes":["missing-input-secret"]}`}}, turnstile.ErrUnavailable, 1},
		{"internal-error then success", []reply{{200, `{"success":false,"error-codes":["internal-error"]}`}, {200, `{"success":true}`}}, nil, 2},
		{"internal-error twice", []reply{{200, `{"success":false,"error-codes":["internal-error"]}`}}, turnstile.ErrUnavailable, 2},
		{"503 then success", []reply{{503, `busy`}, {200, `{"success":true}`}}, nil, 2},
		{"400", []reply{{400, `{"success":false,"error-codes":["bad-request"]}`}}, turnstile.ErrUnavailable, 1},
		{"404", []reply{{404, `not found`}}, turnstile.ErrUnavailable, 1},
		{"429", []reply{{429, `slow down`}}, turnstile.ErrUnavailable, 1},
		{"redirect", []reply{{307, ``}}, turnstile.ErrUnavailable, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				rep := tt.replies[min(i, len(tt.replies)-1)]
				if rep.status == 307 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(rep.status)
				io.WriteString(w, rep.body)
			}))
			t.Cleanup(ts.Close)
			v, err := turnstile.New(turnstile.Config{Secret: secret, VerifyURL: ts.URL})
			if err != nil {
				t.Fatal(err)
			}
			err = v.Verify(context.Background(), "tok", "")
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("err = %v, want pass", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := n.Load(); got != tt.attempts {
				t.Errorf("%d attempts, want %d", got, tt.attempts)
			}
		})
	}
}

func TestDummySecrets(t *testing.T) {
	t.Parallel()
	for _, s := range []string{fake.PassSecret, fake.FailSecret, fake.SpentSecret} {
		if err := (turnstile.Config{Secret: s}).Validate(); err == nil || !strings.Contains(err.Error(), "dummy") {
			t.Errorf("Validate(%s) = %v, want a refusal of the dummy secret", s, err)
		}
		if _, err := turnstile.New(turnstile.Config{Secret: s}); err == nil {
			t.Errorf("New(%s): no error", s)
		}
		if err := (turnstile.Config{Secret: s, AllowTestKeys: true}).Validate(); err != nil {
			t.Errorf("Validate(%s, AllowTestKeys) = %v", s, err)
		}
	}

	pass, f := setup(t, turnstile.Config{Secret: fake.PassSecret, AllowTestKeys: true, Hostname: "localhost", Action: "test"})
	for range 2 {
		if err := pass.Verify(context.Background(), fake.DummyToken, ""); err != nil {
			t.Fatalf("pass secret with the dummy token: %v", err)
		}
	}
	wantFailed(t, pass.Verify(context.Background(), f.IssueToken("localhost", "test"), ""), "invalid-input-response")

	fail, _ := setup(t, turnstile.Config{Secret: fake.FailSecret, AllowTestKeys: true})
	wantFailed(t, fail.Verify(context.Background(), fake.DummyToken, ""), "invalid-input-response")
	spent, _ := setup(t, turnstile.Config{Secret: fake.SpentSecret, AllowTestKeys: true})
	wantFailed(t, spent.Verify(context.Background(), fake.DummyToken, ""), "timeout-or-duplicate")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := (turnstile.Config{Secret: secret}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
	err := turnstile.Config{VerifyURL: "challenges.cloudflare.com/siteverify", Timeout: -time.Second}.Validate()
	if err == nil {
		t.Fatal("bad config: no error")
	}
	for _, want := range []string{"secret is required", "verify URL", "timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q: does not mention %q", err, want)
		}
	}
	for _, u := range []string{"ftp://example.com/x", "http://", "::"} {
		if err := (turnstile.Config{Secret: secret, VerifyURL: u}).Validate(); err == nil {
			t.Errorf("VerifyURL %q accepted", u)
		}
	}
}

func TestConcurrentVerifySpendsOnce(t *testing.T) {
	t.Parallel()
	v, f := setup(t, turnstile.Config{})
	tok := f.IssueToken("h", "a")
	const n = 20
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			errs <- v.Verify(context.Background(), tok, "")
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantFailed(t, err, "timeout-or-duplicate")
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent Verify calls succeeded, want 1", ok, n)
	}
}

func Example() {
	// In tests, the stand-in plays siteverify; in production VerifyURL is
	// left empty and Secret comes from the configuration.
	f := fake.NewServer("site-secret")
	ts := httptest.NewServer(f)
	defer ts.Close()
	v, err := turnstile.New(turnstile.Config{
		Secret:    "site-secret",
		VerifyURL: ts.URL,
		Hostname:  "chat.example",
		Action:    "login",
	})
	if err != nil {
		panic(err)
	}
	token := f.IssueToken("chat.example", "login") // what the widget hands the browser
	fmt.Println(v.Verify(context.Background(), token, "203.0.113.9"))
	fmt.Println(v.Verify(context.Background(), token, "203.0.113.9"))
	// Output:
	// <nil>
	// turnstile: verification failed: siteverify rejected the token: timeout-or-duplicate
}
