package commands

import (
	"context"
	"time"

	"switchboard/domain/session"
)

// RenewSession slides a session's expiry on activity. Renewals are recorded
// at most every Policy.SessionRenewInterval; in between it changes nothing
// and returns the current expiry.
func (h *Handlers) RenewSession(ctx context.Context, sessionID string) (time.Time, error) {
	at := h.now()
	meta := Meta{CommandID: SystemCommandID("renew:" + sessionID + ":" + at.Format(time.RFC3339Nano)), At: at}
	out, err := h.sessions.execute(ctx, sessionID, session.Renew{At: at}, meta)
	if err != nil {
		return time.Time{}, err
	}
	for _, ev := range out.Events {
		if r, ok := ev.(session.SessionRenewed); ok {
			return r.ExpiresAt, nil
		}
	}
	var exp time.Time
	err = h.sessions.read(ctx, sessionID, func(s session.State) { exp = s.ExpiresAt() })
	return exp, err
}
