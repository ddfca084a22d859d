package commands

import (
	"context"
	"time"

	"switchboard/domain/presence"
)

// Disconnect: the user's last connection closed: the user goes offline. It returns the position of what it appended, or 0.
func (h *Handlers) Disconnect(ctx context.Context, userHandle string) (uint64, error) {
	return h.presenceCommand(ctx, userHandle, "disconnect", func(at time.Time) presence.Command {
		return presence.Disconnect{User: userHandle, At: at}
	})
}
