package commands

import (
	"context"

	"switchboard/domain/quota"
)

// ChargeQuota records the tokens a reserved reply used.
func (h *Handlers) ChargeQuota(ctx context.Context, r Reservation, promptTokens, generatedTokens int) error {
	at := h.now()
	_, err := h.quotas.execute(ctx, r.Day, quota.Charge{Reservation: r.ID, PromptTokens: promptTokens, GeneratedTokens: generatedTokens, At: at},
		Meta{CommandID: SystemCommandID("charge:" + r.ID), At: at})
	return err
}
