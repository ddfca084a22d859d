package commands

import (
	"context"

	"github.com/google/uuid"

	"switchboard/domain/quota"
)

// ReserveQuota sets aside one bot reply of the day for the user whose
// message triggered it. The reservation id derives from the trigger, so a
// redelivered trigger reserves once (and gets domain.DuplicateError).
type ReserveQuota struct {
	User, Bot, Room string
	TriggerSeq      uint64
	Trigger         uuid.UUID
}

// Reservation names a reservation: the day's stream and its id.
type Reservation struct {
	Day, ID string
}

func (h *Handlers) ReserveQuota(ctx context.Context, c ReserveQuota) (Reservation, error) {
	at := h.now()
	r := Reservation{Day: quota.Day(at), ID: ReactionID(c.Trigger, "reserve").String()}
	_, err := h.quotas.execute(ctx, r.Day, quota.Reserve{
		Reservation: r.ID, Day: r.Day, User: c.User, Bot: c.Bot, Room: c.Room, TriggerSeq: c.TriggerSeq, At: at,
	}, Meta{User: c.User, CommandID: ReactionID(c.Trigger, "reserve"), CausationID: c.Trigger, At: at})
	return r, err
}
