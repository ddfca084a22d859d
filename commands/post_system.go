package commands

import (
	"context"

	"github.com/google/uuid"

	"switchboard/domain/room"
)

// PostSystem posts a system notice to a room (a bot is unavailable, a
// quota is used up). Cause identifies what prompted it, and with What makes
// the command's identity: one notice per cause.
type PostSystem struct {
	Room, Text, What string
	Cause            uuid.UUID
}

func (h *Handlers) PostSystem(ctx context.Context, c PostSystem) (Ack, error) {
	at := h.now()
	id := ReactionID(c.Cause, "system:"+c.What)
	meta := Meta{CommandID: id, CausationID: c.Cause, At: at}
	return h.roomCommand(ctx, c.Room, room.PostSystem{Room: c.Room, Text: c.Text, CauseID: c.Cause.String(), ClientID: id.String(), At: at}, meta)
}
