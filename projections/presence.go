package projections

import (
	"fmt"
	"io"
	"sync"
	"time"

	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/domain/user"
	"switchboard/eventstore"
)

const presenceSchema = 1

// UserPresence is what the buddy list shows of a user.
type UserPresence struct {
	User            string // handle
	DisplayName     string
	PersonalMessage string
	Avatar          string
	Bot             bool
	// Status is the effective status: online, busy, away, invisible or
	// offline. Others see Visible applied to it.
	Status presence.Status
	// Chosen is the status the user picked, shown while connected. Only
	// the user sees it (Visible clears it for others).
	Chosen presence.Status
	// LastHeartbeat is the last recorded heartbeat; zero if never. Hidden
	// from others while the user is invisible.
	LastHeartbeat time.Time
}

// Presence is the presence projection: per user, profile and status.
//
// A user appears once registered or once any presence event names them;
// until their first PresenceChanged they are offline with chosen status
// online, as in the domain.
type Presence struct {
	mu    sync.RWMutex
	hint  sizeHint
	users map[string]*UserPresence
}

var (
	_ Projection = (*Presence)(nil)
	_ Notifier   = (*Presence)(nil)
	_ Dumper     = (*Presence)(nil)
)

// NewPresence returns an empty presence view.
func NewPresence() *Presence {
	return &Presence{users: make(map[string]*UserPresence)}
}

// Name implements Projection.
func (p *Presence) Name() string { return PresenceName }

// entry returns the user's entry, creating it (p.mu held).
func (p *Presence) entry(handle string) *UserPresence {
	u := p.users[handle]
	if u == nil {
		u = &UserPresence{User: handle, Status: presence.Offline, Chosen: presence.Online}
		p.users[handle] = u
	}
	return u
}

// Apply implements Projection: UserRegistered, ProfileChanged,
// PresenceChanged, HeartbeatRecorded.
func (p *Presence) Apply(rec eventstore.Record, ev domain.Event) {
	switch e := ev.(type) {
	case user.UserRegistered:
		p.mu.Lock()
		u := p.entry(e.Handle)
		u.DisplayName, u.PersonalMessage, u.Avatar, u.Bot = e.DisplayName, e.PersonalMessage, e.Avatar, e.Bot != nil
		p.mu.Unlock()
	case user.ProfileChanged:
		p.mu.Lock()
		u := p.entry(e.Handle)
		u.DisplayName, u.PersonalMessage, u.Avatar = e.DisplayName, e.PersonalMessage, e.Avatar
		p.mu.Unlock()
	case presence.PresenceChanged:
		p.mu.Lock()
		u := p.entry(e.User)
		u.Status, u.Chosen = e.Status, e.Chosen
		if u.Status == "" {
			u.Status = presence.Offline
		}
		if u.Chosen == "" {
			u.Chosen = presence.Online
		}
		p.mu.Unlock()
	case presence.HeartbeatRecorded:
		p.mu.Lock()
		p.entry(e.User).LastHeartbeat = e.At.UTC()
		p.mu.Unlock()
	}
}

// Notify implements Notifier: PresenceChanged and ProfileChanged to
// PresenceTopic, with the whole entry.
func (p *Presence) Notify(rec eventstore.Record, ev domain.Event, hub *Hub) {
	var handle string
	switch e := ev.(type) {
	case presence.PresenceChanged:
		handle = e.User
	case user.ProfileChanged:
		handle = e.Handle
	default:
		return
	}
	if !hub.Listening(PresenceTopic()) {
		return
	}
	u, ok := p.Get(handle)
	if !ok {
		return
	}
	if _, profile := ev.(user.ProfileChanged); profile {
		hub.Publish(ProfileChanged{Position: rec.Position, Presence: u}, PresenceTopic())
		return
	}
	hub.Publish(PresenceChanged{Position: rec.Position, Presence: u}, PresenceTopic())
}

// Get returns the user's entry as it is, with the true status.
func (p *Presence) Get(handle string) (UserPresence, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if u := p.users[handle]; u != nil {
		return *u, true
	}
	return UserPresence{}, false
}

// Visible returns the user's entry as viewer may see it: see Visible.
func (p *Presence) Visible(viewer, handle string) (UserPresence, bool) {
	u, ok := p.Get(handle)
	if !ok {
		return u, false
	}
	return Visible(viewer, u), true
}

// Visible returns u as viewer may see it. Users see themselves as they are;
// others never see the chosen status, and see an invisible user as offline,
// without a last heartbeat.
func Visible(viewer string, u UserPresence) UserPresence {
	if viewer == u.User {
		return u
	}
	u.Chosen = ""
	if u.Status == presence.Invisible || u.Status == "" {
		u.Status = presence.Offline
		u.LastHeartbeat = time.Time{}
	}
	return u
}

// List returns every user as viewer may see them, sorted by handle.
func (p *Presence) List(viewer string) []UserPresence {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]UserPresence, 0, len(p.users))
	for _, h := range sortedKeys(p.users) {
		out = append(out, Visible(viewer, *p.users[h]))
	}
	return out
}

// Counts returns how many users have each effective status (for metrics).
func (p *Presence) Counts() map[presence.Status]int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[presence.Status]int)
	for _, u := range p.users {
		out[u.Status]++
	}
	return out
}

// MarshalSnapshot implements Projection.
func (p *Presence) MarshalSnapshot() ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e := p.hint.enc()
	e.uint(presenceSchema)
	e.uint(uint64(len(p.users)))
	for _, h := range sortedKeys(p.users) {
		u := p.users[h]
		e.str(u.User)
		e.str(u.DisplayName)
		e.str(u.PersonalMessage)
		e.str(u.Avatar)
		e.bool(u.Bot)
		e.str(string(u.Status))
		e.str(string(u.Chosen))
		e.time(u.LastHeartbeat)
	}
	p.hint.note(len(e.b))
	return e.b, nil
}

// UnmarshalSnapshot implements Projection.
func (p *Presence) UnmarshalSnapshot(data []byte) error {
	d := dec{b: data}
	d.version(PresenceName, presenceSchema)
	users := make(map[string]*UserPresence)
	for n := d.count(8); n > 0 && d.err == nil; n-- {
		u := &UserPresence{
			User: d.str(), DisplayName: d.str(), PersonalMessage: d.str(), Avatar: d.str(), Bot: d.bool(),
			Status: presence.Status(d.str()), Chosen: presence.Status(d.str()), LastHeartbeat: d.time(),
		}
		users[u.User] = u
	}
	if err := d.done(); err != nil {
		return err
	}
	p.mu.Lock()
	p.users = users
	p.mu.Unlock()
	return nil
}

// Dump implements Dumper.
func (p *Presence) Dump(w io.Writer) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, h := range sortedKeys(p.users) {
		u := p.users[h]
		if _, err := fmt.Fprintf(w, "user %s name=%q message=%q avatar=%q bot=%t status=%s chosen=%s heartbeat=%s\n",
			u.User, u.DisplayName, u.PersonalMessage, u.Avatar, u.Bot, u.Status, u.Chosen, fmtTime(u.LastHeartbeat)); err != nil {
			return err
		}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339Nano)
}
