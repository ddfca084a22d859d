package commands

import (
	"context"
	"time"

	"switchboard/domain/presence"
)

// Connect: a connection of the user opened: an offline user comes back to the status they chose. It returns the position of what it appended, or 0.
func (h *Handlers) Connect(ctx context.Context, userHandle string) (uint64, error) {
	return h.presenceCommand(ctx, userHandle, "connect", func(at time.Time) presence.Command {
		return presence.Connect{User: userHandle, At: at}
	})
}
