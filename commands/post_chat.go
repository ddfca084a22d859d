package commands

import (
	"context"

	"switchboard/domain/room"
)

// PostChat posts a chat message to a room the user is a member of.
type PostChat struct {
	Room, User, ClientID, Text string
}

// PostChat answers with the message's seq, or the original ack for a
// resend of the same ClientID.
func (h *Handlers) PostChat(ctx context.Context, c PostChat) (Ack, error) {
	at := h.now()
	return h.roomCommand(ctx, c.Room, room.PostChat{Room: c.Room, By: c.User, ClientID: c.ClientID, Text: c.Text, At: at}, clientMeta(c.User, c.ClientID, at))
}
