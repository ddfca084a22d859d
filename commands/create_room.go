package commands

import (
	"context"
	"encoding/hex"

	"switchboard/domain/room"
)

// CreateRoom creates a public or private room; its creator joins it. The
// room's id is derived from the user and the client id, so a resend
// addresses the same room and gets the original ack.
type CreateRoom struct {
	User, ClientID, Name string
	Visibility           room.Visibility
}

func (h *Handlers) CreateRoom(ctx context.Context, c CreateRoom) (Ack, error) {
	at := h.now()
	meta := clientMeta(c.User, c.ClientID, at)
	id := "r" + hex.EncodeToString(meta.CommandID[:8])
	return h.roomCommand(ctx, id, room.Create{Room: id, Name: c.Name, Visibility: c.Visibility, By: c.User, ClientID: c.ClientID, At: at}, meta)
}
