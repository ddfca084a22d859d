package quota

import (
	"time"

	"switchboard/domain"
)

// State is the quota of one day folded from its stream. The zero State is a
// day with nothing reserved. Only Evolve builds it.
//
// State refers to maps that Evolve updates in place: after s2 :=
// Evolve(s1, e), s1 must not be used any more. Its size is bounded by the
// day's replies (at most Policy.BotRepliesPerDay reservations are kept).
type State struct{ d *data }

type data struct {
	day          string
	reservations map[string]*reservation
	users        map[string]int // charged + outstanding replies per user
	charged      int            // charged replies
	outstanding  int            // outstanding reservations
	tokens       int            // charged tokens
	reserved     int            // tokens set aside by outstanding reservations
}

type status uint8

const (
	outstanding status = iota
	charged
	released
)

type reservation struct {
	user   string
	tokens int
	status status
	at     time.Time
}

// Evolve folds one event into s and returns the new state. It may reuse the
// memory of s: callers must not use s afterwards. Events of other
// aggregates leave s as it is.
func Evolve(s State, e domain.Event) State {
	switch e := e.(type) {
	case QuotaReserved:
		d := s.init()
		if d.day == "" {
			d.day = e.Day
		}
		if _, ok := d.reservations[e.Reservation]; ok {
			return s // a repeat never passes Decide; keep the first
		}
		d.reservations[e.Reservation] = &reservation{user: e.User, tokens: e.Tokens, at: e.At}
		d.users[e.User]++
		d.outstanding++
		d.reserved += e.Tokens
	case QuotaCharged:
		if r := s.outstandingReservation(e.Reservation); r != nil {
			d := s.d
			r.status = charged
			d.outstanding--
			d.reserved -= r.tokens
			d.charged++
			d.tokens += e.PromptTokens + e.GeneratedTokens
		}
	case QuotaReleased:
		if r := s.outstandingReservation(e.Reservation); r != nil {
			d := s.d
			r.status = released
			d.outstanding--
			d.reserved -= r.tokens
			if d.users[r.user]--; d.users[r.user] == 0 {
				delete(d.users, r.user)
			}
		}
	}
	return s
}

func (s *State) init() *data {
	if s.d == nil {
		s.d = &data{reservations: make(map[string]*reservation), users: make(map[string]int)}
	}
	return s.d
}

func (s State) outstandingReservation(id string) *reservation {
	if s.d == nil {
		return nil
	}
	if r := s.d.reservations[id]; r != nil && r.status == outstanding {
		return r
	}
	return nil
}

// Day is the day of the stream, once anything was reserved.
func (s State) Day() string {
	if s.d == nil {
		return ""
	}
	return s.d.day
}

// UserReplies is the user's replies of the day: charged plus outstanding.
func (s State) UserReplies(user string) int {
	if s.d == nil {
		return 0
	}
	return s.d.users[user]
}

// Replies is everyone's replies of the day: charged plus outstanding.
func (s State) Replies() int {
	if s.d == nil {
		return 0
	}
	return s.d.charged + s.d.outstanding
}

// Charged is the number of charged replies of the day.
func (s State) Charged() int {
	if s.d == nil {
		return 0
	}
	return s.d.charged
}

// Tokens is the tokens charged today (prompt plus generated).
func (s State) Tokens() int {
	if s.d == nil {
		return 0
	}
	return s.d.tokens
}

// ReservedTokens is the tokens set aside by outstanding reservations.
func (s State) ReservedTokens() int {
	if s.d == nil {
		return 0
	}
	return s.d.reserved
}

// Outstanding is the number of reservations neither charged nor released.
func (s State) Outstanding() int {
	if s.d == nil {
		return 0
	}
	return s.d.outstanding
}

// IsOutstanding reports whether the reservation exists and is neither
// charged nor released.
func (s State) IsOutstanding(reservation string) bool {
	return s.outstandingReservation(reservation) != nil
}

// ReservedBy returns the user a reservation was made for, and whether it
// exists.
func (s State) ReservedBy(reservation string) (string, bool) {
	if s.d == nil {
		return "", false
	}
	r, ok := s.d.reservations[reservation]
	if !ok {
		return "", false
	}
	return r.user, true
}
