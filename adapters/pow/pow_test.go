package pow_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	altcha "github.com/altcha-org/altcha-lib-go"

	"switchboard/adapters/pow"
)

// verifier is the consumer's interface (adapters/httpapi declares it).
type verifier interface {
	Name() string
	Verify(ctx context.Context, response, remoteIP string) error
}

var _ verifier = (*pow.Verifier)(nil)

// temporary is how a consumer that does not import pow tells the errors apart.
type temporary interface{ Temporary() bool }

// t0 is a whole second, so that expiries (whole seconds) are exact.
var t0 = time.Unix(1_700_000_000, 0)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

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

var testKey = bytes.Repeat([]byte("k"), pow.MinKeyLength)

// newVerifier returns a Verifier on clk with a small difficulty, so that
// tests under -race stay fast; cfg's non-zero fields override.
func newVerifier(t *testing.T, clk *clock, cfg pow.Config) *pow.Verifier {
	t.Helper()
	if cfg.HMACKey == nil {
		cfg.HMACKey = testKey
	}
	if cfg.MaxNumber == 0 {
		cfg.MaxNumber = 2_000
	}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	v, err := pow.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func solved(t *testing.T, v *pow.Verifier) (pow.Challenge, string) {
	t.Helper()
	ch, err := v.Challenge()
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	resp, err := pow.Solve(ch)
	if err != nil {
		t.Fatalf("Solve: %v", err)
	}
	return ch, resp
}

func decode(t *testing.T, response string) altcha.Payload {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(response)
	if err != nil {
		t.Fatal(err)
	}
	var p altcha.Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func encode(t *testing.T, p any) string {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func wantFailed(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, pow.ErrFailed) || errors.Is(err, pow.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrFailed", err)
	}
	var tmp temporary
	if !errors.As(err, &tmp) || tmp.Temporary() {
		t.Fatalf("err = %v: want Temporary() false", err)
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, pow.ErrUnavailable) || errors.Is(err, pow.ErrFailed) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	var tmp temporary
	if !errors.As(err, &tmp) || !tmp.Temporary() {
		t.Fatalf("err = %v: want Temporary() true", err)
	}
}

func TestSolveAndVerifyWithDefaults(t *testing.T) {
	t.Parallel()
	v, err := pow.New(pow.Config{HMACKey: pow.GenerateKey()})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Name(); got != "pow" {
		t.Errorf("Name() = %q, want pow", got)
	}
	ch, err := v.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Algorithm != "SHA-256" || ch.MaxNumber != pow.DefaultMaxNumber {
		t.Errorf("challenge = %+v, want SHA-256 with maxNumber %d", ch, pow.DefaultMaxNumber)
	}
	ttl := time.Until(time.UnixMilli(ch.ExpiresAt))
	if ttl <= pow.DefaultTTL-2*time.Second || ttl > pow.DefaultTTL {
		t.Errorf("expiresAt is %s from now, want about %s", ttl, pow.DefaultTTL)
	}
	resp, err := pow.Solve(ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(context.Background(), resp, "192.0.2.1"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestChallengeJSON(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newVerifier(t, clk, pow.Config{})
	ch, err := v.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"algorithm", "challenge", "salt", "maxNumber", "expiresAt", "signature"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("challenge JSON %s lacks %q", raw, k)
		}
	}
	if len(fields) != 6 {
		t.Errorf("challenge JSON %s has %d fields, want 6", raw, len(fields))
	}
	if want := t0.Add(pow.DefaultTTL).UnixMilli(); ch.ExpiresAt != want {
		t.Errorf("expiresAt = %d, want %d", ch.ExpiresAt, want)
	}
	_, query, _ := strings.Cut(ch.Salt, "?")
	params, err := url.ParseQuery(query)
	if err != nil || params.Get("expires") != "1700000120" {
		t.Errorf("salt %q: want expires=1700000120", ch.Salt)
	}
}

func TestReplayFails(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, newClock(), pow.Config{})
	_, resp := solved(t, v)
	if err := v.Verify(context.Background(), resp, ""); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	wantFailed(t, v.Verify(context.Background(), resp, ""))
	wantFailed(t, v.Verify(context.Background(), resp, "198.51.100.7"))
}

// Altcha appends the "&" delimiter to a salt that lacks it before hashing,
// so the salt with its trailing "&" cut is another spelling of the same
// challenge: it must count as the same, spent, solution.
func TestReplayWithAnotherSpellingOfTheSaltFails(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, newClock(), pow.Config{})
	_, resp := solved(t, v)
	if err := v.Verify(context.Background(), resp, ""); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	alias := decode(t, resp)
	alias.Salt = strings.TrimSuffix(alias.Salt, "&")
	if ok, err := altcha.VerifySolutionSafe(alias, string(testKey), false); err != nil || !ok {
		t.Fatalf("precondition: the respelled payload should be a valid altcha solution (ok=%v, err=%v)", ok, err)
	}
	wantFailed(t, v.Verify(context.Background(), encode(t, alias), ""))
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newVerifier(t, clk, pow.Config{TTL: time.Minute})
	_, late := solved(t, v)
	_, justInTime := solved(t, v)

	clk.Set(t0.Add(time.Minute - time.Nanosecond))
	if err := v.Verify(context.Background(), justInTime, ""); err != nil {
		t.Fatalf("Verify just before expiry: %v", err)
	}
	clk.Set(t0.Add(time.Minute))
	wantFailed(t, v.Verify(context.Background(), late, ""))
}

// The clock may step back (NTP, or a test); a challenge already seen
// expired stays expired, so a spent entry evicted as expired cannot come
// back to life and be spent again.
func TestClockSteppingBackDoesNotReviveSpentChallenges(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newVerifier(t, clk, pow.Config{TTL: time.Minute})
	_, resp := solved(t, v)
	if err := v.Verify(context.Background(), resp, ""); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(3 * time.Minute))
	_, other := solved(t, v)
	if err := v.Verify(context.Background(), other, ""); err != nil { // evicts resp
		t.Fatal(err)
	}
	clk.Set(t0.Add(10 * time.Second))
	wantFailed(t, v.Verify(context.Background(), resp, ""))
	// Challenges issued meanwhile still work: they expire a TTL after the
	// latest time seen.
	_, fresh := solved(t, v)
	if err := v.Verify(context.Background(), fresh, ""); err != nil {
		t.Fatalf("Verify fresh challenge after the clock stepped back: %v", err)
	}
}

func TestTamperedResponsesFail(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newVerifier(t, clk, pow.Config{})
	key := string(testKey)
	expires := t0.Add(time.Minute)

	// signedByUs returns a solved payload for a challenge made directly
	// with altcha and our key, bypassing Challenge's choices.
	signedByUs := func(opts altcha.ChallengeOptions) altcha.Payload {
		t.Helper()
		opts.HMACKey = key
		opts.MaxNumber = 1_000
		ch, err := altcha.CreateChallenge(opts)
		if err != nil {
			t.Fatal(err)
		}
		sol, err := altcha.SolveChallenge(ch.Challenge, ch.Salt, altcha.Algorithm(ch.Algorithm), int(ch.MaxNumber), 0, nil)
		if err != nil || sol == nil {
			t.Fatalf("SolveChallenge: %v, %v", sol, err)
		}
		return altcha.Payload{Algorithm: ch.Algorithm, Challenge: ch.Challenge, Number: int64(sol.Number), Salt: ch.Salt, Signature: ch.Signature}
	}

	tests := []struct {
		name   string
		tamper func(p altcha.Payload) string
	}{
		{"number", func(p altcha.Payload) string { p.Number++; return encode(t, p) }},
		{"signature", func(p altcha.Payload) string { p.Signature = flipHex(p.Signature); return encode(t, p) }},
		{"challenge", func(p altcha.Payload) string { p.Challenge = flipHex(p.Challenge); return encode(t, p) }},
		{"salt expiry pushed back", func(p altcha.Payload) string {
			p.Salt = strings.Replace(p.Salt, "expires=1700000120", "expires=1700000999", 1)
			return encode(t, p)
		}},
		{"salt random part", func(p altcha.Payload) string { p.Salt = flipHex(p.Salt); return encode(t, p) }},
		{"algorithm", func(p altcha.Payload) string { p.Algorithm = "SHA-512"; return encode(t, p) }},
		{"empty", func(altcha.Payload) string { return "" }},
		{"not base64", func(altcha.Payload) string { return "not base64!" }},
		{"corrupt base64", func(p altcha.Payload) string { return strings.TrimRight(encode(t, p), "=") + "*" }},
		{"not JSON", func(altcha.Payload) string { return base64.StdEncoding.EncodeToString([]byte("[1,2")) }},
		{"raw JSON", func(p altcha.Payload) string { raw, _ := json.Marshal(p); return string(raw) }},
		{"oversized", func(altcha.Payload) string { return strings.Repeat("A", 8192) }},
		{"fractional number", func(p altcha.Payload) string {
			return base64.StdEncoding.EncodeToString([]byte(`{"algorithm":"SHA-256","challenge":"` + p.Challenge + `","number":1.5,"salt":"` + p.Salt + `","signature":"` + p.Signature + `"}`))
		}},
		{"signed by us, SHA-1", func(altcha.Payload) string {
			return encode(t, signedByUs(altcha.ChallengeOptions{Algorithm: altcha.SHA1, Expires: &expires}))
		}},
		{"signed by us, no expiry", func(altcha.Payload) string {
			return encode(t, signedByUs(altcha.ChallengeOptions{Algorithm: altcha.SHA256}))
		}},
		{"signed by us, expiry beyond TTL", func(altcha.Payload) string {
			far := t0.Add(time.Hour)
			return encode(t, signedByUs(altcha.ChallengeOptions{Algorithm: altcha.SHA256, Expires: &far}))
		}},
		{"signed by us, malformed expiry", func(altcha.Payload) string {
			return encode(t, signedByUs(altcha.ChallengeOptions{Algorithm: altcha.SHA256, Params: url.Values{"expires": {"soon"}}}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp := solved(t, v)
			wantFailed(t, v.Verify(context.Background(), tt.tamper(decode(t, resp)), ""))
			// Tampering spends nothing: the genuine response still passes.
			if err := v.Verify(context.Background(), resp, ""); err != nil {
				t.Fatalf("genuine response after a tampered one: %v", err)
			}
		})
	}
}

func TestWrongKeyFails(t *testing.T) {
	t.Parallel()
	clk := newClock()
	issuer := newVerifier(t, clk, pow.Config{})
	other := newVerifier(t, clk, pow.Config{HMACKey: bytes.Repeat([]byte("o"), 32)})
	_, resp := solved(t, issuer)
	wantFailed(t, other.Verify(context.Background(), resp, ""))
}

func TestContextEndedSpendsNothing(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, newClock(), pow.Config{})
	_, resp := solved(t, v)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := v.Verify(ctx, resp, "")
	wantUnavailable(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	if err := v.Verify(context.Background(), resp, ""); err != nil {
		t.Fatalf("Verify after a cancelled attempt: %v", err)
	}
}

func TestConcurrentVerifySpendsOnce(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, newClock(), pow.Config{})
	_, resp := solved(t, v)

	const n = 100
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			errs <- v.Verify(context.Background(), resp, "")
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
		wantFailed(t, err)
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent Verify calls succeeded, want exactly 1", ok, n)
	}
}

func TestSpentSetIsBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	v := newVerifier(t, clk, pow.Config{MaxSpent: 3, TTL: time.Minute})
	for i := range 3 {
		_, resp := solved(t, v)
		if err := v.Verify(context.Background(), resp, ""); err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
	}
	clk.Set(t0.Add(30 * time.Second))
	_, refused := solved(t, v) // expires at t0+90s
	wantUnavailable(t, v.Verify(context.Background(), refused, ""))

	// The three spent challenges expire at t0+60s and make room; the
	// refused response was not spent and now passes, once.
	clk.Set(t0.Add(time.Minute))
	if err := v.Verify(context.Background(), refused, ""); err != nil {
		t.Fatalf("Verify after the spent set drained: %v", err)
	}
	wantFailed(t, v.Verify(context.Background(), refused, ""))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := (pow.Config{HMACKey: testKey}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
	err := pow.Config{HMACKey: []byte("short"), MaxNumber: -1, TTL: time.Millisecond, MaxSpent: -1}.Validate()
	if err == nil {
		t.Fatal("bad config: no error")
	}
	for _, want := range []string{"HMAC key", "max number", "TTL", "max spent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q: does not mention %q", err, want)
		}
	}
	if _, err := pow.New(pow.Config{}); err == nil {
		t.Error("New without a key: no error")
	}
	if a, b := pow.GenerateKey(), pow.GenerateKey(); len(a) != pow.MinKeyLength || bytes.Equal(a, b) {
		t.Errorf("GenerateKey: %x, %x: want two different %d-byte keys", a, b, pow.MinKeyLength)
	}
}

// Solve must find the number the reference solver finds.
func TestSolveAgreesWithAltcha(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, newClock(), pow.Config{})
	ch, resp := solved(t, v)
	sol, err := altcha.SolveChallenge(ch.Challenge, ch.Salt, altcha.SHA256, int(ch.MaxNumber), 0, nil)
	if err != nil || sol == nil {
		t.Fatalf("altcha.SolveChallenge: %v, %v", sol, err)
	}
	if got := decode(t, resp).Number; got != int64(sol.Number) {
		t.Errorf("Solve found %d, altcha found %d", got, sol.Number)
	}
	if ok, err := altcha.VerifySolutionSafe(resp, string(testKey), false); err != nil || !ok {
		t.Errorf("altcha.VerifySolutionSafe(Solve's response) = %v, %v", ok, err)
	}
	ch.Algorithm = "SHA-1"
	if _, err := pow.Solve(ch); err == nil {
		t.Error("Solve accepted SHA-1")
	}
}

func FuzzVerify(f *testing.F) {
	clk := newClock()
	v, err := pow.New(pow.Config{HMACKey: testKey, MaxNumber: 50, Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	ch, err := v.Challenge()
	if err != nil {
		f.Fatal(err)
	}
	resp, err := pow.Solve(ch)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(resp)
	f.Add("")
	f.Add("e30=")
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"algorithm":"SHA-256","salt":"a?expires=9999999999&","number":-1}`)))
	f.Fuzz(func(t *testing.T, response string) {
		err := v.Verify(context.Background(), response, "")
		if err != nil {
			if !errors.Is(err, pow.ErrFailed) && !errors.Is(err, pow.ErrUnavailable) {
				t.Fatalf("err = %v: wraps neither sentinel", err)
			}
			return
		}
		// Accepted: it must be a genuine solution of a challenge we signed.
		ok, verr := altcha.VerifySolutionSafe(response, string(testKey), false)
		if verr != nil || !ok {
			t.Fatalf("accepted %q, which altcha rejects (%v)", response, verr)
		}
	})
}

func flipHex(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}
