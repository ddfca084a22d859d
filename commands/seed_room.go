package commands

import (
	"context"
	"errors"

	"switchboard/domain"
	"switchboard/domain/room"
)

// SeedRoom creates a room with a fixed id (the demo rooms "general" and
// "music"), created by host, who joins it. Seeding twice changes nothing.
func (h *Handlers) SeedRoom(ctx context.Context, id, name string, vis room.Visibility, host string) (Ack, error) {
	at := h.now()
	clientID := "seed:" + id
	ack, err := h.roomCommand(ctx, id, room.Create{Room: id, Name: name, Visibility: vis, By: host, ClientID: clientID, At: at}, clientMeta(host, clientID, at))
	if errors.Is(err, domain.ErrForbidden) {
		// Created before by another seeder (another node, another version).
		return Ack{Room: id}, nil
	}
	return ack, err
}
