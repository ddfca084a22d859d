package commands

import (
	"context"

	"github.com/google/uuid"

	"switchboard/domain/room"
)

// PostBotReply posts a bot's reply to a message. Its command id derives
// from the trigger, so a redelivered trigger never posts twice.
type PostBotReply struct {
	Room, Bot  string
	TriggerSeq uint64
	// Trigger is the ID of the triggering event (for the id and causation).
	Trigger uuid.UUID
	Text    string
}

func (h *Handlers) PostBotReply(ctx context.Context, c PostBotReply) (Ack, error) {
	at := h.now()
	id := ReactionID(c.Trigger, "reply:"+c.Bot)
	meta := Meta{User: c.Bot, CommandID: id, CausationID: c.Trigger, At: at}
	return h.roomCommand(ctx, c.Room, room.PostBot{Room: c.Room, Bot: c.Bot, TriggerSeq: c.TriggerSeq, Text: c.Text, ClientID: id.String(), At: at}, meta)
}
