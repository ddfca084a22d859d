package commands

import (
	"context"

	"switchboard/domain/room"
)

// Nudge shakes the windows of a room's members.
type Nudge struct {
	Room, User, ClientID string
}

func (h *Handlers) Nudge(ctx context.Context, c Nudge) (Ack, error) {
	at := h.now()
	return h.roomCommand(ctx, c.Room, room.Nudge{Room: c.Room, By: c.User, ClientID: c.ClientID, At: at}, clientMeta(c.User, c.ClientID, at))
}
