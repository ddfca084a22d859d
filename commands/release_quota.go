package commands

import (
	"context"

	"switchboard/domain/quota"
)

// ReleaseQuota gives a reservation back uncharged (the reply failed).
func (h *Handlers) ReleaseQuota(ctx context.Context, r Reservation, reason string) error {
	at := h.now()
	_, err := h.quotas.execute(ctx, r.Day, quota.Release{Reservation: r.ID, Reason: reason, At: at},
		Meta{CommandID: SystemCommandID("release:" + r.ID), At: at})
	return err
}
