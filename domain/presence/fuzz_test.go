package presence_test

import (
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/presence"
)

func FuzzPresence(f *testing.F) {
	f.Add([]byte{0, 0, 2, 30, 2, 30, 2, 30, 4, 200, 2, 1})
	f.Add([]byte{0, 0, 1, 3, 3, 5, 0, 10, 1, 4})
	f.Add([]byte{2, 0, 4, 255, 4, 255, 1, 1})
	p := domain.DefaultPolicy()
	statuses := []presence.Status{presence.Online, presence.Busy, presence.Away, presence.Invisible, presence.Offline, "x"}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s presence.State
		at := t0
		var lastBeat time.Time
		for i := 0; i+1 < len(in) && i < 400; i += 2 {
			op, arg := in[i], in[i+1]
			at = at.Add(time.Duration(arg) * time.Second)
			var c presence.Command
			switch op % 5 {
			case 0:
				c = presence.Connect{User: "u", At: at}
			case 1:
				c = presence.SetStatus{User: "u", Status: statuses[int(arg)%len(statuses)], At: at}
			case 2:
				c = presence.Heartbeat{User: "u", At: at}
			case 3:
				c = presence.Disconnect{User: "u", At: at}
			default:
				c = presence.Sweep{User: "u", At: at}
			}
			before := s
			evs, err := presence.Decide(s, c, p)
			if err != nil && len(evs) > 0 {
				t.Fatal("events with an error")
			}
			for _, e := range evs {
				switch e := e.(type) {
				case presence.HeartbeatRecorded:
					if !lastBeat.IsZero() && e.At.Sub(lastBeat) < p.HeartbeatInterval {
						t.Fatalf("heartbeats recorded %s apart", e.At.Sub(lastBeat))
					}
					lastBeat = e.At
				case presence.PresenceChanged:
					if e.Status == before.Status() && e.Chosen == before.Chosen() {
						t.Fatalf("PresenceChanged that changes nothing: %+v", e)
					}
					if e.Reason == presence.ReasonTimeout && e.At.Sub(before.LastHeartbeat()) < p.PresenceTimeout {
						t.Fatal("timed out too early")
					}
				}
				s = presence.Evolve(s, e)
			}
			if !s.Chosen().Choosable() {
				t.Fatalf("chosen status %q", s.Chosen())
			}
			if st := s.Status(); st != presence.Offline && st != s.Chosen() {
				t.Fatalf("effective %q while chosen %q", st, s.Chosen())
			}
			if s.Status() != presence.Offline && s.LastHeartbeat().IsZero() {
				t.Fatal("online without any heartbeat")
			}
			if s.Status() == presence.Invisible && s.VisibleStatus() != presence.Offline {
				t.Fatal("invisible is visible")
			}
		}
	})
}
