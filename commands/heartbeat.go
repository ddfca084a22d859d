package commands

import (
	"context"
	"time"

	"switchboard/domain/presence"
)

// Heartbeat: the user's client is alive; recorded at most once per Policy.HeartbeatInterval. It returns the position of what it appended, or 0.
func (h *Handlers) Heartbeat(ctx context.Context, userHandle string) (uint64, error) {
	return h.presenceCommand(ctx, userHandle, "heartbeat", func(at time.Time) presence.Command {
		return presence.Heartbeat{User: userHandle, At: at}
	})
}
