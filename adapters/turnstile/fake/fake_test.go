package fake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/turnstile/fake"
)

const secret = "0x4AAAAAAAfakeSecretForTests"

type answer struct {
	Success     bool     `json:"success"`
	ErrorCodes  []string `json:"error-codes"`
	ChallengeTS string   `json:"challenge_ts"`
	Hostname    string   `json:"hostname"`
	Action      string   `json:"action"`
}

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

func start(t *testing.T) (*fake.Server, *httptest.Server) {
	t.Helper()
	f := fake.NewServer(secret)
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	t.Cleanup(f.Close) // runs first, releasing Slow requests
	return f, ts
}

func post(t *testing.T, ts *httptest.Server, fields url.Values) (int, answer) {
	t.Helper()
	resp, err := ts.Client().PostForm(ts.URL+"/turnstile/v0/siteverify", fields)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, answer) {
	t.Helper()
	defer resp.Body.Close()
	var a answer
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	return resp.StatusCode, a
}

func form(secret, response, key string) url.Values {
	v := url.Values{"secret": {secret}, "response": {response}}
	if key != "" {
		v.Set("idempotency_key", key)
	}
	return v
}

func wantCodes(t *testing.T, a answer, codes ...string) {
	t.Helper()
	if a.Success || !slices.Equal(a.ErrorCodes, codes) {
		t.Fatalf("answer = %+v, want failure with %v", a, codes)
	}
}

func TestIssuedTokenPassesOnce(t *testing.T) {
	t.Parallel()
	f, ts := start(t)
	clk := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 600e6, time.UTC)}
	f.SetClock(clk.Now)
	tok := f.IssueToken("chat.example", "login")
	if len(tok) > 2048 {
		t.Fatalf("token of %d characters, Turnstile's are at most 2048", len(tok))
	}
	status, a := post(t, ts, form(secret, tok, ""))
	if status != http.StatusOK || !a.Success || a.Hostname != "chat.example" || a.Action != "login" || a.ChallengeTS != "2025-01-02T03:04:05.600Z" {
		t.Fatalf("first: %d %+v", status, a)
	}
	_, a = post(t, ts, form(secret, tok, ""))
	wantCodes(t, a, "timeout-or-duplicate")
}

func TestTokensExpireAfter300s(t *testing.T) {
	t.Parallel()
	f, ts := start(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := &clock{t: t0}
	f.SetClock(clk.Now)
	fresh, stale := f.IssueToken("h", "a"), f.IssueToken("h", "a")
	clk.Set(t0.Add(fake.TokenTTL - time.Millisecond))
	if _, a := post(t, ts, form(secret, fresh, "")); !a.Success {
		t.Fatalf("just before expiry: %+v", a)
	}
	clk.Set(t0.Add(fake.TokenTTL))
	_, a := post(t, ts, form(secret, stale, ""))
	wantCodes(t, a, "timeout-or-duplicate")
}

func TestIdempotencyKeyReplaysTheFirstAnswer(t *testing.T) {
	t.Parallel()
	f, ts := start(t)
	tok := f.IssueToken("h", "a")
	key := "0c1f4a5e-8b2d-4c3e-9f00-123456789abc"
	for i := range 3 {
		if _, a := post(t, ts, form(secret, tok, key)); !a.Success {
			t.Fatalf("attempt %d with the same key: %+v", i, a)
		}
	}
	// Another key is another verification: the token is spent.
	_, a := post(t, ts, form(secret, tok, "1c1f4a5e-8b2d-4c3e-9f00-123456789abc"))
	wantCodes(t, a, "timeout-or-duplicate")
	// The key does not carry over to another token.
	_, a = post(t, ts, form(secret, "unknown-token", key))
	wantCodes(t, a, "invalid-input-response")
}

func TestDummySecrets(t *testing.T) {
	t.Parallel()
	f, ts := start(t)
	issued := f.IssueToken("h", "a")
	tests := []struct {
		secret, token string
		pass          bool
		codes         []string
	}{
		{fake.PassSecret, fake.DummyToken, true, nil},
		{fake.PassSecret, issued, false, []string{"invalid-input-response"}},
		{fake.FailSecret, fake.DummyToken, false, []string{"invalid-input-response"}},
		{fake.SpentSecret, fake.DummyToken, false, []string{"timeout-or-duplicate"}},
		{secret, fake.DummyToken, false, []string{"invalid-input-response"}},
	}
	for _, tt := range tests {
		for range 2 { // dummy answers never change
			_, a := post(t, ts, form(tt.secret, tt.token, ""))
			if tt.pass {
				if !a.Success || a.Hostname != fake.DummyHostname || a.Action != fake.DummyAction {
					t.Errorf("%s with %s: %+v, want pass for localhost/test", tt.secret, tt.token, a)
				}
				continue
			}
			if a.Success || !slices.Equal(a.ErrorCodes, tt.codes) {
				t.Errorf("%s with %.20s: %+v, want %v", tt.secret, tt.token, a, tt.codes)
			}
		}
	}
	// The issued token was not spent by the test secret.
	if _, a := post(t, ts, form(secret, issued, "")); !a.Success {
		t.Errorf("issued token after a test secret saw it: %+v", a)
	}
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	_, ts := start(t)
	tests := []struct {
		name   string
		fields url.Values
		codes  []string
	}{
		{"wrong secret", form("nope", "tok", ""), []string{"invalid-input-secret"}},
		{"no secret", url.Values{"response": {"tok"}}, []string{"missing-input-secret"}},
		{"no response", url.Values{"secret": {secret}}, []string{"missing-input-response"}},
		{"nothing", url.Values{}, []string{"missing-input-secret", "missing-input-response"}},
		{"unknown token", form(secret, "tok", ""), []string{"invalid-input-response"}},
		{"oversized token", form(secret, strings.Repeat("x", 2049), ""), []string{"invalid-input-response"}},
	}
	for _, tt := range tests {
		_, a := post(t, ts, tt.fields)
		if a.Success || !slices.Equal(a.ErrorCodes, tt.codes) {
			t.Errorf("%s: %+v, want %v", tt.name, a, tt.codes)
		}
	}
	resp, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	if status, a := decode(t, resp); status != http.StatusMethodNotAllowed || !slices.Equal(a.ErrorCodes, []string{"bad-request"}) {
		t.Errorf("GET: %d %+v", status, a)
	}
}

func TestJSONAndMultipartBodies(t *testing.T) {
	t.Parallel()
	f, ts := start(t)
	body, _ := json.Marshal(map[string]string{"secret": secret, "response": f.IssueToken("h", "a"), "remoteip": "192.0.2.1"})
	resp, err := ts.Client().Post(ts.URL, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, a := decode(t, resp); !a.Success {
		t.Errorf("JSON body: %+v", a)
	}

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("secret", secret)
	mw.WriteField("response", f.IssueToken("h", "a"))
	mw.Close()
	resp, err = ts.Client().Post(ts.URL, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, a := decode(t, resp); !a.Success {
		t.Errorf("multipart body: %+v", a)
	}
	if got := f.Requests(); len(got) != 2 || got[0].RemoteIP != "192.0.2.1" {
		t.Errorf("requests = %+v", got)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	f, ts := start(t)
	tok := f.IssueToken("h", "a")

	f.InjectFaults(fake.Status500, fake.Garbage, fake.Drop)
	resp, err := ts.Client().PostForm(ts.URL, form(secret, tok, ""))
	if err != nil || resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("Status500: %v, %v", resp, err)
	}
	resp.Body.Close()
	resp, err = ts.Client().PostForm(ts.URL, form(secret, tok, ""))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if json.Valid(raw) {
		t.Fatalf("Garbage answered JSON %s", raw)
	}
	if _, err := ts.Client().PostForm(ts.URL, form(secret, tok, "")); err == nil {
		t.Fatal("Drop: no network error")
	}
	// None of those looked at the token.
	if _, a := post(t, ts, form(secret, tok, "")); !a.Success {
		t.Fatalf("after faults before processing: %+v", a)
	}

	tok = f.IssueToken("h", "a")
	f.InjectFaults(fake.DropAfterProcessing)
	if _, err := ts.Client().PostForm(ts.URL, form(secret, tok, "")); err == nil {
		t.Fatal("DropAfterProcessing: no network error")
	}
	_, a := post(t, ts, form(secret, tok, ""))
	wantCodes(t, a, "timeout-or-duplicate")

	got := f.Requests()
	var faults []fake.Fault
	for _, r := range got {
		faults = append(faults, r.Fault)
	}
	want := []fake.Fault{fake.Status500, fake.Garbage, fake.Drop, fake.None, fake.DropAfterProcessing, fake.None}
	if !slices.Equal(faults, want) {
		t.Errorf("faults applied = %v, want %v", faults, want)
	}
}

func TestSlowHoldsUntilTheClientGivesUp(t *testing.T) {
	t.Parallel()
	f, ts := start(t)
	f.SetFault(fake.Slow)
	client := ts.Client()
	client.Timeout = 50 * time.Millisecond
	if _, err := client.PostForm(ts.URL, form(secret, "tok", "")); err == nil {
		t.Fatal("Slow answered")
	}
}

func TestIssueHandler(t *testing.T) {
	t.Parallel()
	f := fake.NewServer(secret)
	mux := http.NewServeMux()
	mux.Handle("/siteverify", f)
	mux.Handle("/issue", f.IssueHandler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	resp, err := ts.Client().PostForm(ts.URL+"/issue", url.Values{"hostname": {"chat.example"}, "action": {"login"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, err = ts.Client().PostForm(ts.URL+"/siteverify", form(secret, string(tok), ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, a := decode(t, resp); !a.Success || a.Hostname != "chat.example" || a.Action != "login" {
		t.Fatalf("issued over HTTP: %+v", a)
	}
}
