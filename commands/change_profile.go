package commands

import (
	"context"

	"switchboard/domain/user"
)

// ChangeProfile changes a user's display name, personal message or avatar;
// nil fields stay as they are.
type ChangeProfile struct {
	User, ClientID                       string
	DisplayName, PersonalMessage, Avatar *string
}

func (h *Handlers) ChangeProfile(ctx context.Context, c ChangeProfile) (uint64, error) {
	at := h.now()
	out, err := h.users.execute(ctx, c.User, user.ChangeProfile{DisplayName: c.DisplayName, PersonalMessage: c.PersonalMessage, Avatar: c.Avatar, At: at}, clientMeta(c.User, c.ClientID, at))
	return out.Result.Position, err
}
