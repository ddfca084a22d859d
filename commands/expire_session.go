package commands

import (
	"context"

	"switchboard/domain/session"
)

// ExpireSession is the sweeper's command: it ends a session whose expiry
// has passed, and does nothing otherwise.
func (h *Handlers) ExpireSession(ctx context.Context, sessionID string) (bool, error) {
	at := h.now()
	out, err := h.sessions.execute(ctx, sessionID, session.Expire{At: at}, Meta{CommandID: SystemCommandID("expire:" + sessionID), At: at})
	return len(out.Events) > 0, err
}
