package commands

import (
	"context"
	"strconv"

	"switchboard/domain/room"
)

// MoveReadMarker records that a user has read a room up to Seq. Markers
// only move forward: a lower Seq changes nothing.
type MoveReadMarker struct {
	Room, User string
	Seq        uint64
}

func (h *Handlers) MoveReadMarker(ctx context.Context, c MoveReadMarker) (Ack, error) {
	at := h.now()
	// The marker's value makes the command's identity: moving to the same
	// seq twice is the same command.
	meta := Meta{User: c.User, CommandID: nameUUID(nsClient, c.User, "\x00read\x00", c.Room, "\x00", strconv.FormatUint(c.Seq, 10)), At: at}
	return h.roomCommand(ctx, c.Room, room.MoveReadMarker{Room: c.Room, By: c.User, Seq: c.Seq, At: at}, meta)
}
