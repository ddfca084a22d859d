package commands

import (
	"context"
	"time"

	"switchboard/domain/presence"
)

// SweepPresence: the sweeper's command: offline if no heartbeat was recorded for Policy.PresenceTimeout. It returns the position of what it appended, or 0.
func (h *Handlers) SweepPresence(ctx context.Context, userHandle string) (uint64, error) {
	return h.presenceCommand(ctx, userHandle, "sweep_presence", func(at time.Time) presence.Command {
		return presence.Sweep{User: userHandle, At: at}
	})
}
