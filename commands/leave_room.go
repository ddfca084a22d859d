package commands

import (
	"context"

	"switchboard/domain/room"
)

// LeaveRoom leaves a room.
type LeaveRoom struct {
	Room, User, ClientID string
}

func (h *Handlers) LeaveRoom(ctx context.Context, c LeaveRoom) (Ack, error) {
	at := h.now()
	return h.roomCommand(ctx, c.Room, room.Leave{Room: c.Room, By: c.User, ClientID: c.ClientID, At: at}, clientMeta(c.User, c.ClientID, at))
}
