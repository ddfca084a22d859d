package commands

import (
	"context"

	"switchboard/domain/session"
)

// EndSession ends a session (logout or revocation). Ending an ended
// session changes nothing.
func (h *Handlers) EndSession(ctx context.Context, sessionID string, reason session.Reason) (uint64, error) {
	at := h.now()
	out, err := h.sessions.execute(ctx, sessionID, session.End{Reason: reason, At: at}, Meta{CommandID: SystemCommandID("end:" + sessionID), At: at})
	return out.Result.Position, err
}
