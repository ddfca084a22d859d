package turnstile_test

import (
	"context"
	"os"
	"testing"
	"time"

	"switchboard/adapters/turnstile"
)

// TestRealSiteverify checks the contract against Cloudflare itself. CI has
// no internet, so it runs only when TURNSTILE_TEST_SECRET and
// TURNSTILE_TEST_TOKEN name a pair that siteverify should accept: the dummy
// pair (1x0000000000000000000000000000000AA and XXXX.DUMMY.TOKEN.XXXX), or
// a real secret with a fresh token from the widget (then
// TURNSTILE_TEST_HOSTNAME and TURNSTILE_TEST_ACTION, if set, are checked
// too).
func TestRealSiteverify(t *testing.T) {
	secret, token := os.Getenv("TURNSTILE_TEST_SECRET"), os.Getenv("TURNSTILE_TEST_TOKEN")
	if secret == "" || token == "" {
		t.Skip("TURNSTILE_TEST_SECRET and TURNSTILE_TEST_TOKEN are not set: skipping the test against the real Cloudflare siteverify (CI has no internet; the local stand-in covers the contract)")
	}
	v, err := turnstile.New(turnstile.Config{
		Secret:        secret,
		AllowTestKeys: true,
		Hostname:      os.Getenv("TURNSTILE_TEST_HOSTNAME"),
		Action:        os.Getenv("TURNSTILE_TEST_ACTION"),
		Timeout:       10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(context.Background(), token, ""); err != nil {
		t.Fatalf("Verify against %s: %v", turnstile.DefaultVerifyURL, err)
	}
	// A forged token is refused, never passed.
	if err := v.Verify(context.Background(), "0.forged-token", ""); err == nil {
		t.Fatal("siteverify accepted a forged token")
	}
}
