package commands

import (
	"context"

	"switchboard/domain/room"
)

// Wink sends a wink from the catalogue (room.Winks) to a room.
type Wink struct {
	Room, User, ClientID, Wink string
}

func (h *Handlers) Wink(ctx context.Context, c Wink) (Ack, error) {
	at := h.now()
	return h.roomCommand(ctx, c.Room, room.Wink{Room: c.Room, By: c.User, ClientID: c.ClientID, Wink: c.Wink, At: at}, clientMeta(c.User, c.ClientID, at))
}
