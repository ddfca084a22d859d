package commands

import (
	"context"
	"errors"

	"switchboard/domain"
	"switchboard/domain/user"
	"switchboard/eventstore"
)

// RegisterUser creates an account. The handle is case-folded; it is the
// user's id and the name of its stream, so two registrations of one handle
// meet in the store's "no stream" check and only one wins.
type RegisterUser struct {
	Handle, DisplayName, Password string
	// Demo and Bot are for seeding: a demo account may log in without a
	// password in demo mode; a bot never logs in.
	Demo            bool
	Bot             *user.Persona
	Avatar          string
	PersonalMessage string
}

// RegisterUser returns the normalized handle. A resend of the same
// registration is not recognised as such: it gets domain.ErrHandleTaken.
func (h *Handlers) RegisterUser(ctx context.Context, c RegisterUser) (string, uint64, error) {
	handle, err := user.NormalizeHandle(c.Handle)
	if err != nil {
		return "", 0, err
	}
	var hash string
	if c.Bot == nil && (!c.Demo || c.Password != "") {
		if hash, err = h.hasher.Hash(c.Password); err != nil {
			return "", 0, err
		}
	}
	at := h.now()
	meta := Meta{User: handle, CommandID: SystemCommandID("register:" + handle), At: at}
	out, err := h.users.execute(ctx, handle, user.Register{
		Handle: handle, DisplayName: c.DisplayName, PasswordHash: hash, Demo: c.Demo, Bot: c.Bot,
		Avatar: c.Avatar, PersonalMessage: c.PersonalMessage, At: at,
	}, meta)
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.Is(err, ErrIDReused) {
		err = domain.ErrHandleTaken
	}
	if err != nil {
		return "", 0, err
	}
	return handle, out.Result.Position, nil
}

// userExists reports whether a handle is registered.
func (h *Handlers) userExists(ctx context.Context, handle string) (bool, error) {
	exists := false
	err := h.users.read(ctx, handle, func(s user.State) { exists = s.Exists() })
	return exists, err
}

// UserInfo is what the command side knows of a user.
type UserInfo struct {
	Handle, DisplayName string
	Bot                 bool
	Persona             user.Persona
}

// User returns a registered user, or domain.ErrNotFound.
func (h *Handlers) User(ctx context.Context, handle string) (UserInfo, error) {
	var info UserInfo
	found := false
	err := h.users.read(ctx, handle, func(s user.State) {
		if found = s.Exists(); found {
			info = UserInfo{Handle: s.Handle(), DisplayName: s.DisplayName()}
			info.Persona, info.Bot = s.Bot()
		}
	})
	if err == nil && !found {
		err = domain.ErrNotFound
	}
	return info, err
}
