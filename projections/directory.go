package projections

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/domain"
	"switchboard/domain/room"
	"switchboard/domain/user"
	"switchboard/eventstore"
)

const directorySchema = 1

// User is a registered user or bot.
type User struct {
	Handle          string
	DisplayName     string
	PersonalMessage string
	Avatar          string
	Demo            bool
	// Bot is the persona key of a bot ("clippy"); empty for people.
	Bot          string
	RegisteredAt time.Time
}

// IsBot reports whether the user is a bot.
func (u User) IsBot() bool { return u.Bot != "" }

// Room is a room as listed: what it is, how many members it has, and its
// newest message.
type Room struct {
	ID         string
	Name       string // empty for direct rooms
	Visibility room.Visibility
	CreatedBy  string
	CreatedAt  time.Time
	// Direct is the two users of a direct room, sorted, whether or not
	// they are members right now; nil for other rooms.
	Direct        []string
	Members       int
	LastSeq       uint64
	LastMessageAt time.Time
}

// ReadMarker is how far a user has read a room.
type ReadMarker struct {
	User string
	Seq  uint64
}

// Directory is the directory projection: users and bots, rooms, members,
// invitations and read markers.
//
// Membership follows the room decider's fold: joining uses up an
// invitation, inviting a member changes nothing, a direct room's two users
// are members from its creation. Read markers only move forward and
// survive leaving.
type Directory struct {
	mu    sync.RWMutex
	hint  sizeHint
	users map[string]*User
	rooms map[string]*dirRoom
	// public holds the ids of public rooms; related[u] the rooms u is a
	// member of, invited to, or one of the two users of.
	public  map[string]struct{}
	related map[string]map[string]struct{}
}

type dirRoom struct {
	info    Room
	members map[string]struct{}
	invited map[string]struct{}
	markers map[string]uint64
	// sorted caches Members' answer until the members change: the gateway
	// asks for every message it fans out.
	sorted atomic.Pointer[[]string]
}

// membersChanged updates what derives from the members (d.mu held).
func (r *dirRoom) membersChanged() {
	r.info.Members = len(r.members)
	r.sorted.Store(nil)
}

var (
	_ Projection = (*Directory)(nil)
	_ Notifier   = (*Directory)(nil)
	_ Dumper     = (*Directory)(nil)
)

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	return &Directory{
		users:   make(map[string]*User),
		rooms:   make(map[string]*dirRoom),
		public:  make(map[string]struct{}),
		related: make(map[string]map[string]struct{}),
	}
}

// Name implements Projection.
func (d *Directory) Name() string { return DirectoryName }

func newDirRoom(info Room) *dirRoom {
	return &dirRoom{info: info, members: make(map[string]struct{}), invited: make(map[string]struct{}), markers: make(map[string]uint64)}
}

// relate re-derives whether user u is related to room r (d.mu held).
func (d *Directory) relate(r *dirRoom, u string) {
	_, member := r.members[u]
	_, invited := r.invited[u]
	direct := slices.Contains(r.info.Direct, u)
	m := d.related[u]
	if member || invited || direct {
		if m == nil {
			m = make(map[string]struct{})
			d.related[u] = m
		}
		m[r.info.ID] = struct{}{}
		return
	}
	if m != nil {
		delete(m, r.info.ID)
		if len(m) == 0 {
			delete(d.related, u)
		}
	}
}

// room returns the room, creating a placeholder for events that arrive for
// a room never created (d.mu held); the decider never writes those, but
// the fold must not fail on them.
func (d *Directory) room(id string) *dirRoom {
	r := d.rooms[id]
	if r == nil {
		r = newDirRoom(Room{ID: id})
		d.rooms[id] = r
	}
	return r
}

// Apply implements Projection: users, rooms, membership, messages' seqs
// and read markers.
func (d *Directory) Apply(rec eventstore.Record, ev domain.Event) {
	switch e := ev.(type) {
	case user.UserRegistered:
		u := &User{Handle: e.Handle, DisplayName: e.DisplayName, PersonalMessage: e.PersonalMessage, Avatar: e.Avatar, Demo: e.Demo, RegisteredAt: e.At.UTC()}
		if e.Bot != nil {
			u.Bot = e.Bot.Key
		}
		d.mu.Lock()
		if d.users[e.Handle] == nil {
			d.users[e.Handle] = u
		}
		d.mu.Unlock()
	case user.ProfileChanged:
		d.mu.Lock()
		if u := d.users[e.Handle]; u != nil {
			u.DisplayName, u.PersonalMessage, u.Avatar = e.DisplayName, e.PersonalMessage, e.Avatar
		}
		d.mu.Unlock()
	case room.RoomCreated:
		d.mu.Lock()
		defer d.mu.Unlock()
		r := d.room(e.Room)
		if r.info.Visibility != "" {
			return // created twice: keep the first
		}
		r.info.Name, r.info.Visibility, r.info.CreatedBy, r.info.CreatedAt = e.Name, e.Visibility, e.By, e.At.UTC()
		if e.Visibility == room.Public {
			d.public[e.Room] = struct{}{}
		}
		if e.Visibility == room.Direct && len(e.Members) == 2 {
			pair := []string{e.Members[0], e.Members[1]}
			slices.Sort(pair)
			r.info.Direct = pair
			for _, u := range pair {
				r.members[u] = struct{}{}
				delete(r.invited, u)
				d.relate(r, u)
			}
			r.membersChanged()
		}
	case room.MemberInvited:
		d.mu.Lock()
		r := d.room(e.Room)
		if _, member := r.members[e.User]; !member {
			r.invited[e.User] = struct{}{}
			d.relate(r, e.User)
		}
		d.mu.Unlock()
	case room.MemberJoined:
		d.mu.Lock()
		r := d.room(e.Room)
		r.members[e.User] = struct{}{}
		delete(r.invited, e.User)
		r.membersChanged()
		d.relate(r, e.User)
		d.mu.Unlock()
	case room.MemberLeft:
		d.mu.Lock()
		r := d.room(e.Room)
		delete(r.members, e.User)
		r.membersChanged()
		d.relate(r, e.User)
		d.mu.Unlock()
	case room.MessagePosted:
		d.mu.Lock()
		r := d.room(e.Room)
		if e.Seq > r.info.LastSeq {
			r.info.LastSeq, r.info.LastMessageAt = e.Seq, e.At.UTC()
		}
		d.mu.Unlock()
	case room.ReadMarkerMoved:
		d.mu.Lock()
		r := d.room(e.Room)
		if e.Seq > r.markers[e.User] {
			r.markers[e.User] = e.Seq
		}
		d.mu.Unlock()
	}
}

// Notify implements Notifier: users, rooms, membership and read markers.
func (d *Directory) Notify(rec eventstore.Record, ev domain.Event, hub *Hub) {
	pos := rec.Position
	switch e := ev.(type) {
	case user.UserRegistered:
		if u, ok := d.User(e.Handle); ok {
			hub.Publish(UserRegistered{Position: pos, User: u}, DirectoryTopic(), PresenceTopic())
		}
	case room.RoomCreated:
		r, ok := d.Room(e.Room)
		if !ok {
			return
		}
		topics := []Topic{RoomTopic(e.Room), UserTopic(r.CreatedBy)}
		for _, u := range r.Direct {
			topics = append(topics, UserTopic(u))
		}
		if r.Visibility == room.Public {
			topics = append(topics, DirectoryTopic())
		}
		hub.Publish(RoomCreated{Position: pos, Room: r}, topics...)
	case room.MemberInvited:
		hub.Publish(MemberChanged{Position: pos, Room: e.Room, User: e.User, Change: Invited, By: e.By}, RoomTopic(e.Room), UserTopic(e.User))
	case room.MemberJoined:
		hub.Publish(MemberChanged{Position: pos, Room: e.Room, User: e.User, Change: Joined}, RoomTopic(e.Room), UserTopic(e.User))
	case room.MemberLeft:
		hub.Publish(MemberChanged{Position: pos, Room: e.Room, User: e.User, Change: Left}, RoomTopic(e.Room), UserTopic(e.User))
	case room.ReadMarkerMoved:
		if hub.Listening(RoomTopic(e.Room)) {
			hub.Publish(ReadMarkerMoved{Position: pos, Room: e.Room, User: e.User, Seq: d.ReadMarker(e.Room, e.User)}, RoomTopic(e.Room))
		}
	}
}

// copyRoom returns a copy that shares no memory with the state.
func copyRoom(r *dirRoom) Room {
	out := r.info
	out.Direct = slices.Clone(r.info.Direct)
	return out
}

// User returns a registered user or bot.
func (d *Directory) User(handle string) (User, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if u := d.users[handle]; u != nil {
		return *u, true
	}
	return User{}, false
}

// Users returns every user and bot, sorted by handle.
func (d *Directory) Users() []User {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]User, 0, len(d.users))
	for _, h := range sortedKeys(d.users) {
		out = append(out, *d.users[h])
	}
	return out
}

// Room returns a created room.
func (d *Directory) Room(id string) (Room, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	r := d.rooms[id]
	if r == nil || r.info.Visibility == "" {
		return Room{}, false
	}
	return copyRoom(r), true
}

// Rooms returns every created room, sorted by id.
func (d *Directory) Rooms() []Room {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Room, 0, len(d.rooms))
	for _, id := range sortedKeys(d.rooms) {
		if r := d.rooms[id]; r.info.Visibility != "" {
			out = append(out, copyRoom(r))
		}
	}
	return out
}

// RoomsVisibleTo returns the rooms u may see, sorted by id: every public
// room, the private rooms u is a member of or invited to, and u's direct
// rooms (also after leaving them: u may open them again).
func (d *Directory) RoomsVisibleTo(u string) []Room {
	d.mu.RLock()
	defer d.mu.RUnlock()
	ids := make([]string, 0, len(d.public)+len(d.related[u]))
	for id := range d.public {
		ids = append(ids, id)
	}
	for id := range d.related[u] {
		if _, pub := d.public[id]; !pub {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]Room, 0, len(ids))
	for _, id := range ids {
		if r := d.rooms[id]; r != nil && r.info.Visibility != "" {
			out = append(out, copyRoom(r))
		}
	}
	return out
}

// RoomsOf returns the rooms u is a member of, sorted by id.
func (d *Directory) RoomsOf(u string) []Room {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []Room
	for _, id := range sortedKeys(d.related[u]) {
		r := d.rooms[id]
		if _, ok := r.members[u]; ok && r.info.Visibility != "" {
			out = append(out, copyRoom(r))
		}
	}
	return out
}

// Members returns the room's members, sorted. The slice is shared with
// other callers until the members change: read it, never modify it.
func (d *Directory) Members(roomID string) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	r := d.rooms[roomID]
	if r == nil {
		return nil
	}
	if p := r.sorted.Load(); p != nil {
		return *p
	}
	// Readers may race to fill the cache; they store equal slices.
	ms := sortedKeys(r.members)
	r.sorted.Store(&ms)
	return ms
}

// Invited returns the users invited to the room who have not joined,
// sorted.
func (d *Directory) Invited(roomID string) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if r := d.rooms[roomID]; r != nil {
		return sortedKeys(r.invited)
	}
	return nil
}

// IsMember reports whether u is a member of the room.
func (d *Directory) IsMember(roomID, u string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if r := d.rooms[roomID]; r != nil {
		_, ok := r.members[u]
		return ok
	}
	return false
}

// IsInvited reports whether u is invited to the room and has not joined.
func (d *Directory) IsInvited(roomID, u string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if r := d.rooms[roomID]; r != nil {
		_, ok := r.invited[u]
		return ok
	}
	return false
}

// ReadMarkers returns the room's read markers, sorted by user.
func (d *Directory) ReadMarkers(roomID string) []ReadMarker {
	d.mu.RLock()
	defer d.mu.RUnlock()
	r := d.rooms[roomID]
	if r == nil {
		return nil
	}
	out := make([]ReadMarker, 0, len(r.markers))
	for _, u := range sortedKeys(r.markers) {
		out = append(out, ReadMarker{User: u, Seq: r.markers[u]})
	}
	return out
}

// ReadMarker returns how far u has read the room; 0 if never marked.
func (d *Directory) ReadMarker(roomID, u string) uint64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if r := d.rooms[roomID]; r != nil {
		return r.markers[u]
	}
	return 0
}

// encSet writes a set in order; keys is scratch space, returned for reuse.
func encSet(e *enc, m map[string]struct{}, keys []string) []string {
	e.uint(uint64(len(m)))
	keys = appendSorted(keys, m)
	for _, k := range keys {
		e.str(k)
	}
	return keys
}

func decSet(d *dec) map[string]struct{} {
	m := make(map[string]struct{})
	for n := d.count(1); n > 0 && d.err == nil; n-- {
		m[d.str()] = struct{}{}
	}
	return m
}

// MarshalSnapshot implements Projection. The indexes (public, related) are
// derived on restore, not stored.
func (d *Directory) MarshalSnapshot() ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e := d.hint.enc()
	e.uint(directorySchema)
	e.uint(uint64(len(d.users)))
	for _, h := range sortedKeys(d.users) {
		u := d.users[h]
		e.str(u.Handle)
		e.str(u.DisplayName)
		e.str(u.PersonalMessage)
		e.str(u.Avatar)
		e.bool(u.Demo)
		e.str(u.Bot)
		e.time(u.RegisteredAt)
	}
	e.uint(uint64(len(d.rooms)))
	var keys []string
	for _, id := range sortedKeys(d.rooms) {
		r := d.rooms[id]
		e.str(id)
		e.str(r.info.Name)
		e.str(string(r.info.Visibility))
		e.str(r.info.CreatedBy)
		e.time(r.info.CreatedAt)
		e.uint(uint64(len(r.info.Direct)))
		for _, u := range r.info.Direct {
			e.str(u)
		}
		e.uint(r.info.LastSeq)
		e.time(r.info.LastMessageAt)
		keys = encSet(&e, r.members, keys)
		keys = encSet(&e, r.invited, keys)
		e.uint(uint64(len(r.markers)))
		keys = appendSorted(keys, r.markers)
		for _, u := range keys {
			e.str(u)
			e.uint(r.markers[u])
		}
	}
	d.hint.note(len(e.b))
	return e.b, nil
}

// UnmarshalSnapshot implements Projection.
func (d *Directory) UnmarshalSnapshot(data []byte) error {
	dc := dec{b: data}
	dc.version(DirectoryName, directorySchema)
	n := NewDirectory()
	for k := dc.count(7); k > 0 && dc.err == nil; k-- {
		u := &User{Handle: dc.str(), DisplayName: dc.str(), PersonalMessage: dc.str(), Avatar: dc.str(), Demo: dc.bool(), Bot: dc.str(), RegisteredAt: dc.time()}
		n.users[u.Handle] = u
	}
	for k := dc.count(10); k > 0 && dc.err == nil; k-- {
		info := Room{ID: dc.str(), Name: dc.str(), Visibility: room.Visibility(dc.str()), CreatedBy: dc.str(), CreatedAt: dc.time()}
		for j := dc.count(1); j > 0 && dc.err == nil; j-- {
			info.Direct = append(info.Direct, dc.str())
		}
		info.LastSeq, info.LastMessageAt = dc.uint(), dc.time()
		r := newDirRoom(info)
		r.members = decSet(&dc)
		r.invited = decSet(&dc)
		for j := dc.count(2); j > 0 && dc.err == nil; j-- {
			u := dc.str()
			r.markers[u] = dc.uint()
		}
		r.membersChanged()
		n.rooms[info.ID] = r
	}
	if err := dc.done(); err != nil {
		return err
	}
	for id, r := range n.rooms {
		if r.info.Visibility == room.Public {
			n.public[id] = struct{}{}
		}
		for u := range r.members {
			n.relate(r, u)
		}
		for u := range r.invited {
			n.relate(r, u)
		}
		for _, u := range r.info.Direct {
			n.relate(r, u)
		}
	}
	d.mu.Lock()
	d.users, d.rooms, d.public, d.related = n.users, n.rooms, n.public, n.related
	d.mu.Unlock()
	return nil
}

// Dump implements Dumper.
func (d *Directory) Dump(w io.Writer) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, h := range sortedKeys(d.users) {
		u := d.users[h]
		if _, err := fmt.Fprintf(w, "user %s name=%q message=%q avatar=%q demo=%t bot=%q registered=%s\n",
			u.Handle, u.DisplayName, u.PersonalMessage, u.Avatar, u.Demo, u.Bot, fmtTime(u.RegisteredAt)); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(d.rooms) {
		r := d.rooms[id]
		i := r.info
		if _, err := fmt.Fprintf(w, "room %s name=%q visibility=%s by=%s created=%s direct=%v lastSeq=%d lastAt=%s members=%v invited=%v\n",
			id, i.Name, i.Visibility, i.CreatedBy, fmtTime(i.CreatedAt), i.Direct, i.LastSeq, fmtTime(i.LastMessageAt), sortedKeys(r.members), sortedKeys(r.invited)); err != nil {
			return err
		}
		for _, u := range sortedKeys(r.markers) {
			if _, err := fmt.Fprintf(w, "room %s marker %s=%d\n", id, u, r.markers[u]); err != nil {
				return err
			}
		}
	}
	return nil
}
