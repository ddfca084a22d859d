package commands

import (
	"context"

	"switchboard/domain/room"
)

// Invite lets a user join a private room; only members may invite.
type Invite struct {
	Room, User, ClientID, Invitee string
}

func (h *Handlers) Invite(ctx context.Context, c Invite) (Ack, error) {
	at := h.now()
	exists, err := h.userExists(ctx, c.Invitee)
	if err != nil {
		return Ack{}, err
	}
	return h.roomCommand(ctx, c.Room, room.Invite{Room: c.Room, User: c.Invitee, UserExists: exists, By: c.User, ClientID: c.ClientID, At: at}, clientMeta(c.User, c.ClientID, at))
}
