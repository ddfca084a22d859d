package commands

import (
	"context"

	"switchboard/domain/room"
)

// OpenDirect opens (creating it the first time) the direct room of two
// users. Its id is room.DirectID of the two handles, the same from both
// sides; only those two may ever be in it.
type OpenDirect struct {
	User, ClientID, With string
}

func (h *Handlers) OpenDirect(ctx context.Context, c OpenDirect) (Ack, error) {
	at := h.now()
	exists, err := h.userExists(ctx, c.With)
	if err != nil {
		return Ack{}, err
	}
	id := room.DirectID(c.User, c.With)
	ack, err := h.roomCommand(ctx, id, room.OpenDirect{Room: id, By: c.User, With: c.With, WithExists: exists, ClientID: c.ClientID, At: at}, clientMeta(c.User, c.ClientID, at))
	ack.Room = id
	return ack, err
}
