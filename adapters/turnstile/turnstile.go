package turnstile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and limits.
const (
	// DefaultVerifyURL is Cloudflare's siteverify endpoint.
	DefaultVerifyURL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"

	// DefaultTimeout bounds a whole Verify call, retry included: past it
	// the login is refused rather than kept waiting.
	DefaultTimeout = 3 * time.Second

	// MaxTokenLength is the longest token Turnstile issues, in bytes
	// (tokens are ASCII); longer ones are refused without asking
	// siteverify.
	MaxTokenLength = 2048

	// maxAnswerBytes bounds how much of siteverify's answer is read; a
	// genuine one is a few hundred bytes.
	maxAnswerBytes = 64 << 10
)

// dummySecrets are Cloudflare's documented test secrets: they accept only
// the dummy token, which anyone can send, so a server using one verifies
// nothing.
var dummySecrets = []string{
	"1x0000000000000000000000000000000AA", // always passes
	"2x0000000000000000000000000000000AA", // always fails
	"3x0000000000000000000000000000000AA", // always "already spent"
}

// Errors. Every error Verify returns wraps exactly one of them; use
// errors.Is. Both have a Temporary() bool method: false for ErrFailed, true
// for ErrUnavailable.
var (
	// ErrFailed means the token proves nothing: empty, too long, rejected
	// by siteverify (invalid, expired or already spent:
	// timeout-or-duplicate), or minted for another hostname or action.
	// The browser must get a new token. Consumers answer 403
	// verification_failed.
	ErrFailed error = &verifyError{msg: "turnstile: verification failed"}

	// ErrUnavailable means siteverify gave no usable answer: unreachable,
	// too slow (Config.Timeout), 5xx twice, an unexpected status, a body
	// that is not its JSON, or an error code that blames our request
	// rather than the token (missing-input-secret, invalid-input-secret,
	// bad-request, internal-error twice). The login is refused: consumers
	// answer 503 unavailable.
	ErrUnavailable error = &verifyError{msg: "turnstile: verification unavailable", temporary: true}
)

// verifyError is the type of the sentinels. Temporary lets a consumer that
// does not import this package map errors through an interface of its own.
type verifyError struct {
	msg       string
	temporary bool
}

func (e *verifyError) Error() string { return e.msg }

// Temporary reports whether the same login may succeed if retried later
// (true for ErrUnavailable); a rejected token never becomes valid.
func (e *verifyError) Temporary() bool { return e.temporary }

// Config configures a Verifier. The zero value of each optional field
// selects its default.
type Config struct {
	// Secret is the site's secret key. Required; Cloudflare's dummy test
	// secrets are refused unless AllowTestKeys is set.
	Secret string

	// AllowTestKeys accepts Cloudflare's dummy secrets
	// (1x…AA passes, 2x…AA fails, 3x…AA answers timeout-or-duplicate), for
	// development and tests only: with them anyone passes or nobody does.
	AllowTestKeys bool

	// VerifyURL is the siteverify endpoint; empty means DefaultVerifyURL.
	// Tests point it at the stand-in in package fake.
	VerifyURL string

	// Hostname, if set, must equal (case-insensitively) the hostname
	// siteverify reports for the token, i.e. the site the widget ran on;
	// empty accepts any. Set it in production: otherwise a token minted on
	// any site using our sitekey is accepted.
	Hostname string

	// Action, if set, must equal the action the widget was rendered with
	// (for example "login"); empty accepts any.
	Action string

	// Timeout bounds each Verify call as a whole, the retry included; zero
	// means DefaultTimeout. Must not be negative.
	Timeout time.Duration

	// HTTPClient sends the requests; nil means a client that, unlike
	// http.DefaultClient, does not follow redirects (a redirect is treated
	// as an unexpected answer), so the secret only ever goes to VerifyURL.
	// Its own Timeout, if any, applies per attempt on top of Timeout.
	HTTPClient *http.Client
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Secret == "":
		errs = append(errs, errors.New("turnstile: secret is required"))
	case slices.Contains(dummySecrets, c.Secret) && !c.AllowTestKeys:
		errs = append(errs, errors.New("turnstile: secret is one of Cloudflare's dummy test secrets, which verify nothing; set AllowTestKeys to use it outside production"))
	}
	if c.VerifyURL != "" {
		u, err := url.Parse(c.VerifyURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("turnstile: verify URL %q is not an absolute http(s) URL", c.VerifyURL))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("turnstile: timeout must not be negative, got %s", c.Timeout))
	}
	return errors.Join(errs...)
}

// Verifier checks Turnstile tokens with siteverify. It is safe for
// concurrent use.
type Verifier struct {
	cfg Config
}

// New returns a Verifier, or the configuration's problems.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.VerifyURL == "" {
		cfg.VerifyURL = DefaultVerifyURL
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Verifier{cfg: cfg}, nil
}

// Name returns "turnstile", the verifier's name in /api/config and on
// sessions.
func (v *Verifier) Name() string { return "turnstile" }

// Verify asks siteverify about response, the token the browser got from
// the widget, and returns nil only if siteverify says success and the
// token's hostname and action match Config.Hostname and Config.Action.
//
// An empty token, or one longer than MaxTokenLength, fails without a
// request. remoteIP, the client's address (a port is dropped; empty omits
// it), is passed on as remoteip. The request carries a fresh random
// idempotency_key; after a network error, a 5xx or internal-error, Verify
// retries once with the same key, so that a first attempt that reached
// Cloudflare and spent the token yields the same answer again instead of
// timeout-or-duplicate. The whole call, retry included, ends within
// Config.Timeout or when ctx ends, with ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, response, remoteIP string) error {
	if response == "" {
		return fmt.Errorf("%w: empty token", ErrFailed)
	}
	if len(response) > MaxTokenLength {
		return fmt.Errorf("%w: token longer than %d characters", ErrFailed, MaxTokenLength)
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()

	form := url.Values{
		"secret":          {v.cfg.Secret},
		"response":        {response},
		"idempotency_key": {newIdempotencyKey()},
	}
	if ip := clientIP(remoteIP); ip != "" {
		form.Set("remoteip", ip)
	}
	body := form.Encode()

	a, retry, err := v.attempt(ctx, body)
	if retry && ctx.Err() == nil {
		a, _, err = v.attempt(ctx, body)
	}
	if err != nil {
		return err
	}
	return v.judge(a)
}

// answer is siteverify's JSON answer.
type answer struct {
	Success     *bool    `json:"success"`
	ErrorCodes  []string `json:"error-codes"`
	ChallengeTS string   `json:"challenge_ts"`
	Hostname    string   `json:"hostname"`
	Action      string   `json:"action"`
	CData       string   `json:"cdata"`
}

// attempt posts body once. A nil error means a parsed answer; retry says
// whether the failure (or the answer) is worth one more attempt with the
// same idempotency key.
func (v *Verifier) attempt(ctx context.Context, body string) (a answer, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cfg.VerifyURL, strings.NewReader(body))
	if err != nil {
		return answer{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		// The error text names VerifyURL but never the secret, which is
		// in the body.
		return answer{}, true, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	switch {
	case err != nil:
		return answer{}, true, fmt.Errorf("%w: reading answer: %w", ErrUnavailable, err)
	case resp.StatusCode >= 500:
		return answer{}, true, fmt.Errorf("%w: siteverify answered %s", ErrUnavailable, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return answer{}, false, fmt.Errorf("%w: siteverify answered %s", ErrUnavailable, resp.Status)
	}
	a, err = parseAnswer(raw)
	if err != nil {
		return answer{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return a, !*a.Success && slices.Contains(a.ErrorCodes, "internal-error"), nil
}

// parseAnswer decodes siteverify's answer; anything but a JSON object with
// a boolean success is garbage.
func parseAnswer(raw []byte) (answer, error) {
	if len(raw) > maxAnswerBytes {
		return answer{}, errors.New("siteverify answer too long")
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return answer{}, errors.New("siteverify answer is not its JSON")
	}
	if a.Success == nil {
		return answer{}, errors.New("siteverify answer lacks success")
	}
	return a, nil
}

// ourFault are the error codes that blame the request we built, not the
// token: the user can do nothing about them, and an operator must.
var ourFault = []string{"missing-input-secret", "invalid-input-secret", "bad-request", "internal-error"}

// judge turns a parsed answer into Verify's result.
func (v *Verifier) judge(a answer) error {
	if !*a.Success {
		codes := strings.Join(a.ErrorCodes, ",")
		for _, c := range a.ErrorCodes {
			if slices.Contains(ourFault, c) {
				return fmt.Errorf("%w: siteverify refused the request: %s", ErrUnavailable, codes)
			}
		}
		if codes == "" {
			codes = "no error code"
		}
		return fmt.Errorf("%w: siteverify rejected the token: %s", ErrFailed, codes)
	}
	if v.cfg.Hostname != "" && !strings.EqualFold(a.Hostname, v.cfg.Hostname) {
		return fmt.Errorf("%w: token minted for hostname %q", ErrFailed, a.Hostname)
	}
	if v.cfg.Action != "" && a.Action != v.cfg.Action {
		return fmt.Errorf("%w: token minted for action %q", ErrFailed, a.Action)
	}
	return nil
}

// clientIP returns remoteIP without a port, or "" if it is empty.
func clientIP(remoteIP string) string {
	remoteIP = strings.TrimSpace(remoteIP)
	if ap, err := netip.ParseAddrPort(remoteIP); err == nil {
		return ap.Addr().String()
	}
	return remoteIP
}

// newIdempotencyKey returns a random (version 4) UUID, as siteverify wants.
func newIdempotencyKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24: it crashes the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
