package pow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	altcha "github.com/altcha-org/altcha-lib-go"
)

// Defaults applied to zero Config fields.
const (
	// DefaultMaxNumber is the difficulty: the server hides a number drawn
	// uniformly from [0, DefaultMaxNumber] and the browser counts up from 0,
	// so a solve costs 50,000 SHA-256 calls on average and 100,000 at worst.
	// ALTCHA's published measurements of its widget (Web Crypto
	// crypto.subtle.digest in Web Workers) for a 100,000 challenge are about
	// 0.3 s on a recent laptop, 0.8 s on a 2020 phone and 2.5 s on a
	// low-end 2023 Android phone at worst, i.e. about a second for a typical
	// user and an average case half of that. Higher values price low-end
	// phones out of logging in long before they cost a scripted attacker
	// much: Solve, a native solver, does the whole 100,000 range in under
	// 10 ms on one core (4 ms on average). So the proof of work is a speed
	// bump that makes each attempt cost something and keeps naive bots
	// out; the per-account back-off and per-IP limits (RELIABILITY.md
	// §3.9) are what stop guessing.
	DefaultMaxNumber int64 = 100_000

	// DefaultTTL is how long a challenge may be solved and spent: long
	// enough for a slow phone and a user typing a password, short enough
	// that the spent set (which keeps entries until expiry) stays small.
	DefaultTTL = 2 * time.Minute

	// DefaultMaxSpent caps the spent-challenge set: at most this many
	// solved, unexpired challenges are remembered (about 10 MB). See
	// Config.MaxSpent.
	DefaultMaxSpent = 100_000

	// MinKeyLength is the shortest HMAC key accepted, in bytes.
	MinKeyLength = 32

	// maxResponseLength bounds the base64 payload Verify will decode. A
	// genuine one is about 300 characters (the widget may add a few fields
	// such as "took").
	maxResponseLength = 4096

	algorithm = altcha.SHA256
)

// Errors. Every error Verify returns wraps exactly one of them; use
// errors.Is. Both have a Temporary() bool method: false for ErrFailed, true
// for ErrUnavailable.
var (
	// ErrFailed means the response proves nothing: malformed, wrong
	// solution, bad signature (including one made with another key),
	// expired, or already spent. The client must fetch a new challenge.
	// Consumers answer 403 verification_failed.
	ErrFailed error = &verifyError{msg: "pow: verification failed"}

	// ErrUnavailable means the verifier could not take the response now:
	// the spent-challenge set is full (see Config.MaxSpent) or the
	// request's context ended before verification. The response was not
	// spent. Consumers refuse the login with 503 unavailable.
	ErrUnavailable error = &verifyError{msg: "pow: verification unavailable", temporary: true}
)

// verifyError is the type of the sentinels. Temporary lets a consumer that
// does not import this package map errors through an interface of its own.
type verifyError struct {
	msg       string
	temporary bool
}

func (e *verifyError) Error() string { return e.msg }

// Temporary reports whether the same login may succeed if retried later
// (true for ErrUnavailable); a failed proof never becomes valid.
func (e *verifyError) Temporary() bool { return e.temporary }

func failed(reason string) error { return fmt.Errorf("%w: %s", ErrFailed, reason) }

// Config configures a Verifier. The zero value of each optional field
// selects its default.
type Config struct {
	// HMACKey signs challenges. Required, at least MinKeyLength bytes of
	// secret randomness (see GenerateKey); whoever knows it can mint
	// challenges of any difficulty. With a key generated at start-up,
	// challenges issued before a restart are refused after it, and clients
	// fetch a new one. The spent set lives in this process: instances that
	// share a key would each accept a solution once.
	HMACKey []byte

	// MaxNumber is the difficulty (see DefaultMaxNumber); zero means
	// DefaultMaxNumber. Must not be negative.
	MaxNumber int64

	// TTL is how long an issued challenge stays solvable; zero means
	// DefaultTTL. Altcha encodes the expiry in whole seconds, so a
	// challenge lives between TTL-1s and TTL. Must be at least a second.
	TTL time.Duration

	// MaxSpent caps how many spent, unexpired challenges are remembered;
	// zero means DefaultMaxSpent. When the set is full, Verify refuses new
	// solutions with ErrUnavailable until entries expire (at most TTL
	// later) rather than forget an unexpired one, because forgetting would
	// let that solution be spent again: a full set denies logins for at
	// most TTL, which fails closed, while evicting early would silently
	// break single use. Filling it takes MaxSpent valid solutions within
	// one TTL: about 830 verified solutions per second at the defaults,
	// which a few cores can solve but the per-IP login limit (20/min)
	// spreads over some 2,500 addresses, so consumers should apply that
	// limit before Verify. Must not be negative.
	MaxSpent int

	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.HMACKey) < MinKeyLength {
		errs = append(errs, fmt.Errorf("pow: HMAC key must be at least %d bytes, got %d", MinKeyLength, len(c.HMACKey)))
	}
	if c.MaxNumber < 0 {
		errs = append(errs, fmt.Errorf("pow: max number must not be negative, got %d", c.MaxNumber))
	}
	if c.TTL != 0 && c.TTL < time.Second {
		errs = append(errs, fmt.Errorf("pow: TTL must be at least 1s, got %s", c.TTL))
	}
	if c.MaxSpent < 0 {
		errs = append(errs, fmt.Errorf("pow: max spent must not be negative, got %d", c.MaxSpent))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.MaxNumber == 0 {
		c.MaxNumber = DefaultMaxNumber
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxSpent == 0 {
		c.MaxSpent = DefaultMaxSpent
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// GenerateKey returns a fresh random HMAC key of MinKeyLength bytes, for a
// server that has none configured.
func GenerateKey() []byte {
	key := make([]byte, MinKeyLength)
	rand.Read(key) // never fails since Go 1.24: it crashes the program instead
	return key
}

// Challenge is what POST /api/auth/challenge sends (as JSON): ALTCHA's
// (v1, SHA) challenge plus its expiry. Solve accepts it as is, and so do
// ALTCHA widgets that speak this format (they read maxNumber or
// maxnumber); the 3.x widget speaks ALTCHA's PoW v2 format instead.
type Challenge struct {
	// Algorithm is always "SHA-256".
	Algorithm string `json:"algorithm"`
	// Challenge is hex SHA-256(Salt + decimal number).
	Challenge string `json:"challenge"`
	// Salt is random hex followed by "?expires=<Unix seconds>&".
	Salt string `json:"salt"`
	// MaxNumber is the difficulty: the number lies in [0, MaxNumber].
	MaxNumber int64 `json:"maxNumber"`
	// ExpiresAt is when the challenge stops being accepted, Unix ms (the
	// salt's expires parameter, in milliseconds).
	ExpiresAt int64 `json:"expiresAt"`
	// Signature is hex HMAC-SHA-256(key, Challenge).
	Signature string `json:"signature"`
}

// Verifier issues and checks proof-of-work challenges. It is safe for
// concurrent use.
type Verifier struct {
	cfg   Config
	key   string // HMACKey as altcha takes it
	spent *spentSet
}

// New returns a Verifier, or the configuration's problems.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.HMACKey = append([]byte(nil), cfg.HMACKey...)
	return &Verifier{
		cfg:   cfg,
		key:   string(cfg.HMACKey),
		spent: newSpentSet(cfg.MaxSpent),
	}, nil
}

// Name returns "pow", the verifier's name in /api/config and on sessions.
func (v *Verifier) Name() string { return "pow" }

// Challenge issues a new challenge that expires TTL from now. It keeps no
// state: everything needed to check the solution is in the signed challenge.
func (v *Verifier) Challenge() (Challenge, error) {
	expires := v.spent.clock(v.cfg.Now()).Add(v.cfg.TTL)
	ch, err := altcha.CreateChallenge(altcha.ChallengeOptions{
		Algorithm: algorithm,
		MaxNumber: v.cfg.MaxNumber,
		HMACKey:   v.key,
		Expires:   &expires,
	})
	if err != nil {
		return Challenge{}, fmt.Errorf("pow: create challenge: %w", err)
	}
	return Challenge{
		Algorithm: ch.Algorithm,
		Challenge: ch.Challenge,
		Salt:      ch.Salt,
		MaxNumber: ch.MaxNumber,
		ExpiresAt: expires.Unix() * 1000,
		Signature: ch.Signature,
	}, nil
}

// Verify accepts response once if it solves a challenge this Verifier's key
// signed and that has not expired.
//
// response is ALTCHA's payload, exactly what the widget submits (and Solve
// returns): standard, padded base64 of the JSON object
//
//	{"algorithm":"SHA-256","challenge":"<hex>","number":<int>,"salt":"<salt>","signature":"<hex>"}
//
// with algorithm, challenge, salt and signature copied from the Challenge
// and number the solution; other fields (the widget adds "took") are
// ignored. The signature and the solution are compared in constant time.
//
// The expiry is read from the salt (which the signature covers, through the
// challenge hash) and checked against Config.Now; a salt without one is
// refused, as is an algorithm other than SHA-256. The check is single-use:
// the first successful Verify of a challenge spends it, and every later one
// fails with ErrFailed until the challenge expires, after which it fails as
// expired. remoteIP is not used: the challenge is not bound to an address,
// so a client behind a changing NAT can still log in.
func (v *Verifier) Verify(ctx context.Context, response, remoteIP string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if response == "" {
		return failed("empty response")
	}
	if len(response) > maxResponseLength {
		return failed("response too long")
	}
	raw, err := base64.StdEncoding.DecodeString(response)
	if err != nil {
		return failed("response is not base64")
	}
	var p altcha.Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return failed("response is not an altcha payload")
	}
	if p.Algorithm != string(algorithm) {
		return failed("unsupported algorithm")
	}
	expiry, err := expiryOf(p)
	if err != nil {
		return failed(err.Error())
	}
	now := v.spent.clock(v.cfg.Now())
	if !now.Before(expiry) {
		return failed("challenge expired")
	}
	if expiry.After(now.Add(v.cfg.TTL + time.Second)) {
		// Only a key holder could sign this; refusing it keeps every
		// spent entry's lifetime within TTL.
		return failed("challenge expiry beyond TTL")
	}
	// checkExpires is false: altcha would read the wall clock instead of
	// Config.Now and skip salts without an expiry; both are checked above.
	ok, err := altcha.VerifySolutionSafe(p, v.key, false)
	if err != nil || !ok {
		return failed("wrong solution or signature")
	}
	// The challenge hash, not the salt and number, identifies what is
	// spent: altcha appends the "&" delimiter to a salt lacking it, so a
	// salt with and without it spell the same challenge and signature.
	var id [32]byte
	if n, err := hex.Decode(id[:], []byte(p.Challenge)); err != nil || n != len(id) {
		return failed("malformed challenge")
	}
	return v.spent.spend(id, expiry, now)
}

// expiryOf returns the expiry carried in the salt's "expires" parameter.
func expiryOf(p altcha.Payload) (time.Time, error) {
	s := altcha.ExtractParams(p).Get("expires")
	if s == "" {
		return time.Time{}, errors.New("challenge has no expiry")
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, errors.New("malformed expiry")
	}
	return time.Unix(sec, 0), nil
}
