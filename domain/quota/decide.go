package quota

import (
	"time"

	"switchboard/domain"
)

// Decide checks c against s under p and returns the events to append.
//
//   - Reserve: a reservation id seen before: *domain.DuplicateError (At is
//     the original's). Else *domain.QuotaExhaustedError when a limit is
//     reached, checked in this order so the global quota wins: "global"
//     if the day's replies (charged + outstanding) are at least
//     BotRepliesPerDay, "user" if the user's are at least
//     BotRepliesPerUserPerDay, "tokens" if the charged tokens plus those
//     set aside by outstanding reservations are at least BotTokensPerDay.
//     A Day other than the stream's: *domain.InvalidError.
//   - Charge: unknown reservation: domain.ErrNotFound; already charged or
//     released: no events; negative counts: *domain.InvalidError.
//   - Release: unknown reservation: domain.ErrNotFound; already charged or
//     released: no events. Nothing is charged.
//
// Decide does not modify s.
func Decide(s State, c Command, p domain.Policy) ([]domain.Event, error) {
	switch c := c.(type) {
	case Reserve:
		return reserve(s, c, p)
	case Charge:
		return charge(s, c)
	case Release:
		return release(s, c)
	}
	return nil, &domain.InvalidError{Field: "Command", Reason: "unknown quota command"}
}

func reserve(s State, c Reserve, p domain.Policy) ([]domain.Event, error) {
	if s.d != nil {
		if r, ok := s.d.reservations[c.Reservation]; ok {
			return nil, &domain.DuplicateError{ID: c.Reservation, At: r.at}
		}
	}
	if err := checkID(c.Reservation); err != nil {
		return nil, err
	}
	switch {
	case !validDay(c.Day):
		return nil, &domain.InvalidError{Field: "Day", Reason: "not a day (2006-01-02)"}
	case s.Day() != "" && c.Day != s.Day():
		return nil, &domain.InvalidError{Field: "Day", Reason: "does not match the stream"}
	case c.User == "":
		return nil, &domain.InvalidError{Field: "User", Reason: "missing"}
	case c.Bot == "":
		return nil, &domain.InvalidError{Field: "Bot", Reason: "missing"}
	case c.At.IsZero():
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	if p.BotRepliesPerDay > 0 && s.Replies() >= p.BotRepliesPerDay {
		return nil, &domain.QuotaExhaustedError{Quota: domain.QuotaGlobal}
	}
	if p.BotRepliesPerUserPerDay > 0 && s.UserReplies(c.User) >= p.BotRepliesPerUserPerDay {
		return nil, &domain.QuotaExhaustedError{Quota: domain.QuotaUser}
	}
	if p.BotTokensPerDay > 0 && s.Tokens()+s.ReservedTokens() >= p.BotTokensPerDay {
		return nil, &domain.QuotaExhaustedError{Quota: domain.QuotaTokens}
	}
	return []domain.Event{QuotaReserved{
		Reservation: c.Reservation,
		Day:         c.Day,
		User:        c.User,
		Bot:         c.Bot,
		Room:        c.Room,
		TriggerSeq:  c.TriggerSeq,
		Tokens:      p.BotReservationTokens,
		At:          c.At.UTC(),
	}}, nil
}

func validDay(day string) bool {
	t, err := time.Parse(DayLayout, day)
	return err == nil && t.Format(DayLayout) == day
}

func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return &domain.InvalidError{Field: "Reservation", Reason: "length must be 1 to 128"}
	}
	return nil
}

func charge(s State, c Charge) ([]domain.Event, error) {
	r, err := find(s, c.Reservation)
	if err != nil {
		return nil, err
	}
	switch {
	case c.PromptTokens < 0:
		return nil, &domain.InvalidError{Field: "PromptTokens", Reason: "negative"}
	case c.GeneratedTokens < 0:
		return nil, &domain.InvalidError{Field: "GeneratedTokens", Reason: "negative"}
	case c.At.IsZero():
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	if r.status != outstanding {
		return nil, nil
	}
	return []domain.Event{QuotaCharged{
		Reservation:     c.Reservation,
		User:            r.user,
		PromptTokens:    c.PromptTokens,
		GeneratedTokens: c.GeneratedTokens,
		At:              c.At.UTC(),
	}}, nil
}

func release(s State, c Release) ([]domain.Event, error) {
	r, err := find(s, c.Reservation)
	if err != nil {
		return nil, err
	}
	if c.At.IsZero() {
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	if r.status != outstanding {
		return nil, nil
	}
	return []domain.Event{QuotaReleased{Reservation: c.Reservation, User: r.user, Reason: c.Reason, At: c.At.UTC()}}, nil
}

func find(s State, id string) (*reservation, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if s.d == nil {
		return nil, domain.ErrNotFound
	}
	r, ok := s.d.reservations[id]
	if !ok {
		return nil, domain.ErrNotFound
	}
	return r, nil
}
