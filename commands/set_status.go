package commands

import (
	"context"
	"time"

	"switchboard/domain/presence"
)

// SetStatus sets the status a user chose: online, busy, away or invisible.
func (h *Handlers) SetStatus(ctx context.Context, userHandle string, status presence.Status) (uint64, error) {
	return h.presenceCommand(ctx, userHandle, "status:"+string(status), func(at time.Time) presence.Command {
		return presence.SetStatus{User: userHandle, Status: status, At: at}
	})
}

// presenceCommand runs a presence command. Presence commands are facts of
// the moment rather than client requests: their ids come from the user,
// what they do and the time.
func (h *Handlers) presenceCommand(ctx context.Context, userHandle, what string, cmd func(time.Time) presence.Command) (uint64, error) {
	at := h.now()
	id := nameUUID(nsSystem, "presence\x00", userHandle, "\x00", what, "\x00", at.Format(time.RFC3339Nano))
	out, err := h.presence.execute(ctx, userHandle, cmd(at), Meta{User: userHandle, CommandID: id, At: at})
	return out.Result.Position, err
}
