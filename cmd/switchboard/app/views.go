package app

import (
	"context"
	"errors"

	"switchboard/adapters/httpapi"
	"switchboard/adapters/ws"
	"switchboard/domain/presence"
	"switchboard/projections"
)

// The adapters declare what they read; these types answer from the
// projections. They only translate: every rule lives in the projections or
// the domain.

// reads is shared by both views.
type reads struct {
	set    *projections.Set
	runner *projections.Runner
}

func (r reads) displayName(handle string) string {
	if u, ok := r.set.Directory.User(handle); ok {
		return u.DisplayName
	}
	return ""
}

func (r reads) wsMessage(m projections.Message) ws.Message {
	out := ws.Message{ID: m.ID, Seq: m.Seq, Sender: m.Sender, Kind: string(m.Kind), Text: m.Text, Wink: m.Wink, At: m.At.UnixMilli()}
	if m.Sender != "" {
		out.SenderName = r.displayName(m.Sender)
	}
	return out
}

func wsPresence(p projections.UserPresence) ws.Presence {
	return ws.Presence{User: p.User, Status: string(p.Status), DisplayName: p.DisplayName, PersonalMessage: p.PersonalMessage, Avatar: p.Avatar, Bot: p.Bot}
}

// botPresence shows bots online: they answer whenever the bot backend
// does, and have no sockets to report presence.
func botPresence(p projections.UserPresence) projections.UserPresence {
	if p.Bot && p.Status == presence.Offline {
		p.Status = presence.Online
	}
	return p
}

// wsViews is ws.Views.
type wsViews struct{ reads }

var _ ws.Views = wsViews{}

func wsSession(s projections.Session) ws.SessionInfo {
	return ws.SessionInfo{ID: s.ID, User: s.User, ExpiresAt: s.ExpiresAt, Ended: s.Ended, EndReason: string(s.EndReason)}
}

func (v wsViews) SessionByTokenHash(hash string) (ws.SessionInfo, bool) {
	s, ok := v.set.Sessions.ByTokenHash(hash)
	return wsSession(s), ok
}

func (v wsViews) Session(id string) (ws.SessionInfo, bool) {
	s, ok := v.set.Sessions.ByID(id)
	return wsSession(s), ok
}

func (v wsViews) Me(user string) (ws.Presence, bool) {
	p, ok := v.set.Presence.Get(user)
	if !ok {
		return ws.Presence{User: user, Status: string(presence.Online)}, false
	}
	me := wsPresence(p)
	if p.Chosen != "" {
		me.Status = string(p.Chosen)
	}
	return me, true
}

func (v wsViews) RoomsOf(user string) []ws.RoomInfo {
	rooms := v.set.Directory.RoomsOf(user)
	out := make([]ws.RoomInfo, 0, len(rooms))
	for _, r := range rooms {
		info := ws.RoomInfo{ID: r.ID, Name: r.Name, Visibility: string(r.Visibility), LastSeq: v.set.History.LastSeq(r.ID)}
		if len(r.Direct) > 0 {
			info.Members = r.Direct
		}
		out = append(out, info)
	}
	return out
}

func (v wsViews) Members(room string) []string               { return v.set.Directory.Members(room) }
func (v wsViews) IsMember(room, user string) bool            { return v.set.Directory.IsMember(room, user) }
func (v wsViews) Sync(ctx context.Context, pos uint64) error { return v.runner.Sync(ctx, pos) }

func (v wsViews) Latest(room string) ([]ws.Message, bool) {
	msgs, complete := v.set.History.Latest(room)
	out := make([]ws.Message, len(msgs))
	for i, m := range msgs {
		out[i] = v.wsMessage(m)
	}
	return out, complete
}

func (v wsViews) Since(ctx context.Context, room string, seq uint64) ([]ws.Message, error) {
	msgs, err := v.set.History.Since(ctx, room, seq)
	out := make([]ws.Message, len(msgs))
	for i, m := range msgs {
		out[i] = v.wsMessage(m)
	}
	return out, err
}

func (v wsViews) PresenceFor(viewer string) []ws.Presence {
	list := v.set.Presence.List(viewer)
	out := make([]ws.Presence, len(list))
	for i, p := range list {
		out[i] = wsPresence(botPresence(p))
	}
	return out
}

// fanOut returns the hub sink that hands the gateway the changes of each
// notice, on the projections runner's goroutine.
func (r reads) fanOut(g *ws.Gateway) func(projections.Notice) {
	var buf []ws.Change
	return func(n projections.Notice) {
		buf = r.changes(n, buf[:0])
		for _, ch := range buf {
			g.Fan(ch)
		}
		clear(buf)
	}
}

// changes appends the gateway's changes for a notice (none for notices it
// does not fan out).
func (r reads) changes(n projections.Notice, out []ws.Change) []ws.Change {
	switch n := n.(type) {
	case projections.MessagePosted:
		return append(out, ws.Change{Message: &ws.RoomMessage{Room: n.Room, Message: r.wsMessage(n.Message)}})
	case projections.MemberChanged:
		return append(out, ws.Change{Member: &ws.MemberChange{Room: n.Room, User: n.User, Change: string(n.Change)}})
	case projections.ReadMarkerMoved:
		return append(out, ws.Change{Receipt: &ws.Receipt{Room: n.Room, User: n.User, Seq: n.Seq}})
	case projections.PresenceChanged:
		p := wsPresence(botPresence(n.Presence))
		return append(out, ws.Change{Presence: &p})
	case projections.ProfileChanged:
		p := wsPresence(botPresence(n.Presence))
		return append(out, ws.Change{Presence: &p})
	case projections.UserRegistered:
		u := n.User
		st := presence.Offline
		if u.IsBot() {
			st = presence.Online
		}
		p := ws.Presence{User: u.Handle, Status: string(st), DisplayName: u.DisplayName, PersonalMessage: u.PersonalMessage, Avatar: u.Avatar, Bot: u.IsBot()}
		return append(out, ws.Change{Presence: &p})
	case projections.SessionEnded:
		return append(out, ws.Change{Ended: &ws.SessionInfo{ID: n.Session, User: n.User, Ended: true, EndReason: string(n.Reason)}})
	case projections.RoomCreated:
		// A direct room's two users are members from its creation, with
		// no MemberChanged: tell both, so their sockets follow it.
		for _, u := range n.Room.Direct {
			out = append(out, ws.Change{Member: &ws.MemberChange{Room: n.Room.ID, User: u, Change: "joined"}})
		}
	}
	return out
}

// apiViews is httpapi.Views.
type apiViews struct{ reads }

var _ httpapi.Views = apiViews{}

func (v apiViews) SessionByTokenHash(hash string) (httpapi.SessionInfo, bool) {
	s, ok := v.set.Sessions.ByTokenHash(hash)
	return httpapi.SessionInfo{ID: s.ID, User: s.User, TokenHash: s.TokenHash, ExpiresAt: s.ExpiresAt, Ended: s.Ended}, ok
}

func (v apiViews) apiUser(u projections.User, viewer string) httpapi.User {
	out := httpapi.User{Handle: u.Handle, DisplayName: u.DisplayName, Avatar: u.Avatar, PersonalMessage: u.PersonalMessage, Status: string(presence.Offline), Bot: u.IsBot()}
	if p, ok := v.set.Presence.Get(u.Handle); ok {
		p = botPresence(projections.Visible(viewer, p))
		out.Status = string(p.Status)
		if viewer == u.Handle && p.Chosen != "" {
			out.Status = string(p.Chosen)
		}
	} else if u.IsBot() {
		out.Status = string(presence.Online)
	}
	return out
}

func (v apiViews) User(handle string) (httpapi.User, bool) {
	u, ok := v.set.Directory.User(handle)
	if !ok {
		return httpapi.User{}, false
	}
	return v.apiUser(u, handle), true
}

func (v apiViews) Users() []httpapi.User {
	users := v.set.Directory.Users()
	out := make([]httpapi.User, len(users))
	for i, u := range users {
		out[i] = v.apiUser(u, "")
	}
	return out
}

func (v apiViews) apiRoom(r projections.Room, viewer string) httpapi.Room {
	out := httpapi.Room{ID: r.ID, Name: r.Name, Visibility: r.Visibility, LastSeq: v.set.History.LastSeq(r.ID)}
	if len(r.Direct) > 0 {
		out.Members = r.Direct
	}
	if viewer != "" && !v.set.Directory.IsMember(r.ID, viewer) && v.set.Directory.IsInvited(r.ID, viewer) {
		out.Invited = true
	}
	return out
}

func (v apiViews) RoomsVisibleTo(user string) []httpapi.Room {
	rooms := v.set.Directory.RoomsVisibleTo(user)
	out := make([]httpapi.Room, len(rooms))
	for i, r := range rooms {
		out[i] = v.apiRoom(r, user)
	}
	return out
}

func (v apiViews) Room(id string) (httpapi.Room, bool) {
	r, ok := v.set.Directory.Room(id)
	if !ok {
		return httpapi.Room{}, false
	}
	return v.apiRoom(r, ""), true
}

func (v apiViews) IsMember(room, user string) bool { return v.set.Directory.IsMember(room, user) }

// Page returns up to limit messages before a seq, newest first. The API
// asks for one more than it shows to learn whether older ones exist;
// History pages by at most projections.MaxPage, so a longer page is read
// in two steps.
func (v apiViews) Page(ctx context.Context, room string, before uint64, limit int) ([]httpapi.Message, error) {
	msgs, err := v.set.History.Page(ctx, room, before, min(limit, projections.MaxPage))
	if err == nil && limit > projections.MaxPage && len(msgs) == projections.MaxPage {
		var more []projections.Message
		more, err = v.set.History.Page(ctx, room, msgs[len(msgs)-1].Seq, limit-projections.MaxPage)
		msgs = append(msgs, more...)
	}
	out := make([]httpapi.Message, len(msgs))
	for i, m := range msgs {
		w := v.wsMessage(m)
		out[i] = httpapi.Message{ID: w.ID, Seq: w.Seq, Sender: w.Sender, SenderName: w.SenderName, Kind: w.Kind, Text: w.Text, Wink: w.Wink, At: w.At}
	}
	return out, err
}

func (v apiViews) Sync(ctx context.Context, pos uint64) error { return v.runner.Sync(ctx, pos) }
func (v apiViews) CatchUp(ctx context.Context) error          { return v.runner.SyncHead(ctx) }

func (v apiViews) Ready() error {
	if err := v.runner.Err(); err != nil {
		return err
	}
	if !v.runner.Ready() {
		return errors.New("projections are catching up with the log")
	}
	return nil
}
