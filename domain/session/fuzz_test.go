package session_test

import (
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/session"
)

func FuzzSession(f *testing.F) {
	f.Add([]byte{0, 0, 1, 200, 1, 200, 1, 60, 3, 255, 2})
	f.Add([]byte{0, 0, 1, 10, 1, 130, 1, 130, 1, 130, 3, 0})
	f.Add([]byte{1, 0, 0, 1, 2, 3, 0, 0})
	p := domain.DefaultPolicy()
	f.Fuzz(func(t *testing.T, in []byte) {
		var s session.State
		at := t0
		var lastRecorded time.Time
		for i := 0; i+1 < len(in) && i < 200; i += 2 {
			op, arg := in[i], in[i+1]
			// Steps of up to ~17 minutes, so sessions both live and expire.
			at = at.Add(time.Duration(arg) * 4 * time.Second)
			var c session.Command
			switch op % 5 {
			case 0:
				c = session.Start{Session: "s1", User: "u", TokenHash: hash, PasswordOK: arg%7 != 0, VerificationOK: arg%11 != 0, At: at}
			case 1, 2:
				c = session.Renew{At: at}
			case 3:
				c = session.End{Reason: []session.Reason{session.ReasonLogout, session.ReasonRevoked, "x"}[arg%3], At: at}
			default:
				c = session.Expire{At: at}
			}
			before := s
			evs, err := session.Decide(s, c, p)
			if err != nil && len(evs) > 0 {
				t.Fatalf("events with an error")
			}
			for _, e := range evs {
				if ended, _ := before.Ended(); ended {
					t.Fatalf("%T after the session ended", e)
				}
				switch e := e.(type) {
				case session.SessionRenewed:
					if e.At.Sub(lastRecorded) < p.SessionRenewInterval {
						t.Fatalf("renewal recorded %s after the last", e.At.Sub(lastRecorded))
					}
					if !before.Active(e.At) {
						t.Fatal("renewed an inactive session")
					}
					lastRecorded = e.At
				case session.SessionStarted:
					lastRecorded = e.At
				}
				s = session.Evolve(s, e)
			}
			if s.Exists() {
				if s.ExpiresAt().After(s.StartedAt().Add(p.SessionMaxLifetime)) {
					t.Fatalf("expiry %v beyond the cap", s.ExpiresAt())
				}
				if before.Exists() && s.ExpiresAt().Before(before.ExpiresAt()) {
					t.Fatal("expiry moved backwards")
				}
				if s.Active(at) && !at.Before(s.ExpiresAt()) {
					t.Fatal("active past the expiry")
				}
			}
		}
	})
}
