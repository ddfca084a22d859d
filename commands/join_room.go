package commands

import (
	"context"

	"switchboard/domain/room"
)

// JoinRoom joins a public room, or a private room the user is invited to.
type JoinRoom struct {
	Room, User, ClientID string
}

func (h *Handlers) JoinRoom(ctx context.Context, c JoinRoom) (Ack, error) {
	at := h.now()
	return h.roomCommand(ctx, c.Room, room.Join{Room: c.Room, By: c.User, ClientID: c.ClientID, At: at}, clientMeta(c.User, c.ClientID, at))
}
