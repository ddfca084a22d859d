package turnstile

import (
	"strings"
	"testing"
)

func FuzzParseAnswer(f *testing.F) {
	f.Add([]byte(`{"success":true,"error-codes":[],"hostname":"h","action":"a"}`))
	f.Add([]byte(`{"success":false,"error-codes":["timeout-or-duplicate"]}`))
	f.Add([]byte(`<html>`))
	f.Add([]byte(`{"success":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := parseAnswer(raw)
		if err != nil {
			return
		}
		if a.Success == nil {
			t.Fatalf("parsed %q without a success field", raw)
		}
		v := &Verifier{cfg: Config{Hostname: "h", Action: "a"}}
		if v.judge(a) == nil && (!*a.Success || !strings.EqualFold(a.Hostname, "h") || a.Action != "a") {
			t.Fatalf("judge passed %+v", a)
		}
	})
}
