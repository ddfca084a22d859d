package commands

import (
	"context"

	"github.com/google/uuid"

	"switchboard/domain/quota"
)

// BotsEnabled reports the kill switch's state.
func (h *Handlers) BotsEnabled(ctx context.Context) (bool, error) {
	on := true
	err := h.bots.read(ctx, "switch", func(s quota.SwitchState) { on = s.Enabled() })
	return on, err
}

// SetBotsEnabled flips the kill switch; by names who did it.
func (h *Handlers) SetBotsEnabled(ctx context.Context, enabled bool, by string) (uint64, error) {
	at := h.now()
	out, err := h.bots.execute(ctx, "switch", quota.SetBotsEnabled{Enabled: enabled, By: by, At: at},
		Meta{User: by, CommandID: uuid.New(), At: at})
	return out.Result.Position, err
}
