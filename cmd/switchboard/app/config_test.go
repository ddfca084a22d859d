package app

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	key := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // a fragment of the error; empty: valid
	}{
		{"embedded defaults", Config{Data: "d"}, ""},
		{"no data", Config{}, "data directory"},
		{"kurrentdb store", Config{Data: "d", Store: "esdb://db:2113?tls=false"}, ""},
		{"kurrentdb scheme", Config{Data: "d", Store: "kurrentdb://db:2113"}, ""},
		{"unknown store", Config{Data: "d", Store: "postgres://db"}, "KurrentDB connection string"},
		{"cluster", Config{Data: "d", Store: "esdb://db:2113", NATS: "nats://n:4222", PowKey: key}, ""},
		{"cluster without a shared store", Config{Data: "d", NATS: "nats://n:4222", PowKey: key}, "without a shared store"},
		{"cluster without a pow key", Config{Data: "d", Store: "esdb://db:2113", NATS: "nats://n:4222"}, "proof-of-work key"},
		{"cluster on turnstile", Config{Data: "d", Store: "esdb://db:2113", NATS: "nats://n:4222", Verifier: "turnstile", TurnstileSecret: "s", TurnstileSiteKey: "k"}, ""},
		{"none without the flag", Config{Data: "d", Verifier: "none"}, "--dev-no-verification"},
		{"short admin token", Config{Data: "d", AdminToken: "short"}, "admin token"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error about %q", tc.name, err, tc.want)
		}
	}
}
