package quota_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/quota"
)

func FuzzQuota(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 0, 2, 1, 0, 3})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0})
	f.Add([]byte{0, 5, 1, 5, 0, 5, 2, 9})
	// Small limits, so short inputs reach them.
	p := domain.DefaultPolicy()
	p.BotRepliesPerDay = 12
	p.BotRepliesPerUserPerDay = 5
	p.BotTokensPerDay = 20_000
	p.BotReservationTokens = 1500
	f.Fuzz(func(t *testing.T, in []byte) {
		var s quota.State
		at := t0
		next := 0
		status := map[string]string{} // reservation → "out", "charged", "released"
		users := map[string]string{}
		for i := 0; i+1 < len(in) && i < 600; i += 2 {
			op, arg := in[i], in[i+1]
			at = at.Add(time.Second)
			var c quota.Command
			switch op % 3 {
			case 0:
				id := fmt.Sprintf("r%d", next)
				if arg >= 200 && next > 0 {
					id = fmt.Sprintf("r%d", int(arg)%next) // a repeat
				} else {
					next++
				}
				c = quota.Reserve{Reservation: id, Day: day, User: fmt.Sprintf("u%d", arg%4), Bot: "bot", Room: "r", TriggerSeq: 1, At: at}
			case 1:
				c = quota.Charge{Reservation: fmt.Sprintf("r%d", int(arg)%(next+1)), PromptTokens: int(arg) * 10, GeneratedTokens: int(arg), At: at}
			default:
				c = quota.Release{Reservation: fmt.Sprintf("r%d", int(arg)%(next+1)), Reason: "x", At: at}
			}
			before := s
			evs, err := quota.Decide(s, c, p)
			if err != nil {
				if len(evs) > 0 {
					t.Fatal("events with an error")
				}
				if r, ok := c.(quota.Reserve); ok && status[r.Reservation] != "" && !errors.Is(err, domain.ErrDuplicate) {
					t.Fatalf("repeated reservation %s: %v", r.Reservation, err)
				}
				continue
			}
			for _, e := range evs {
				switch e := e.(type) {
				case quota.QuotaReserved:
					if status[e.Reservation] != "" {
						t.Fatalf("reservation %s reserved twice", e.Reservation)
					}
					if before.Tokens()+before.ReservedTokens() >= p.BotTokensPerDay {
						t.Fatal("reserved beyond the token budget")
					}
					status[e.Reservation], users[e.Reservation] = "out", e.User
				case quota.QuotaCharged:
					if status[e.Reservation] != "out" {
						t.Fatalf("charged a reservation that is %q", status[e.Reservation])
					}
					status[e.Reservation] = "charged"
				case quota.QuotaReleased:
					if status[e.Reservation] != "out" {
						t.Fatalf("released a reservation that is %q", status[e.Reservation])
					}
					status[e.Reservation] = "released"
				}
				s = quota.Evolve(s, e)
			}
			// The state agrees with an independent count, and never
			// overspends.
			total, out, perUser := 0, 0, map[string]int{}
			for id, st := range status {
				if st != "released" {
					total++
					perUser[users[id]]++
				}
				if st == "out" {
					out++
				}
			}
			if s.Replies() != total || s.Outstanding() != out || s.ReservedTokens() != out*p.BotReservationTokens {
				t.Fatalf("replies %d/%d, outstanding %d/%d", s.Replies(), total, s.Outstanding(), out)
			}
			if total > p.BotRepliesPerDay {
				t.Fatalf("%d replies, limit %d", total, p.BotRepliesPerDay)
			}
			for u, n := range perUser {
				if n > p.BotRepliesPerUserPerDay || s.UserReplies(u) != n {
					t.Fatalf("user %s: %d replies (state %d), limit %d", u, n, s.UserReplies(u), p.BotRepliesPerUserPerDay)
				}
			}
		}
	})
}
