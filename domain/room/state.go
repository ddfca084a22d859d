package room

import (
	"slices"
	"time"

	"switchboard/domain"
)

// State is a room folded from its stream. The zero State is a room that
// does not exist yet, keeping what DefaultPolicy asks for; New makes one
// that keeps what another Policy asks for. Only Evolve fills it.
//
// State is a handle on memory that Evolve updates in place: after
// s2 := Evolve(s1, e), s1 (and every copy of it) must not be used any
// more. Decide and the accessors only read it, so they may run
// concurrently with each other, but not with Evolve.
type State struct{ d *data }

// New returns the empty state of a room whose state keeps what p asks for:
// the last p.ChatLimit chat times of each user (likewise nudges and winks)
// and the command ids of p.DedupWindow / p.DedupMaxPerRoom. Decide that
// state with the same p (or one with lower limits): a higher rate limit
// than the state keeps is never reached.
func New(p domain.Policy) State {
	return State{d: newData(p)}
}

// retention is what the state keeps, fixed by New.
type retention struct {
	chat, nudge, wink int
	dedupMax          int
	dedupWindow       time.Duration
}

type data struct {
	keep retention

	exists    bool
	id        string
	name      string
	vis       Visibility
	createdBy string
	createdID string // the creating command's ClientID
	createdAt time.Time
	direct    [2]string // the two users of a direct room, sorted

	users   map[string]*member // everyone ever invited or joined
	members int                // how many of users are members

	lastSeq uint64

	// Remembered commands: dedup maps (user, client id) to the outcome;
	// queue holds the same keys, oldest first, for eviction.
	dedup map[dedupKey]outcome
	queue keyQueue

	// kinds[(seq-1) % TriggerHorizon] is the kind of message seq, for the
	// last TriggerHorizon messages, with answered set once a bot replied
	// to it; replies holds those replies by trigger seq.
	kinds   []uint8
	replies map[uint64]outcome
}

type member struct {
	joined  bool
	invited bool // invited and not joined since
	marker  uint64
	chat    times
	nudge   times
	wink    times
}

type dedupKey struct{ user, id string }

type outcome struct {
	seq uint64
	at  time.Time
}

const (
	kindChat uint8 = iota + 1
	kindNudge
	kindWink
	kindBot
	kindSystem

	answered uint8 = 0x80
	kindMask uint8 = 0x7f
)

func kindCode(k Kind) uint8 {
	switch k {
	case KindChat:
		return kindChat
	case KindNudge:
		return kindNudge
	case KindWink:
		return kindWink
	case KindBot:
		return kindBot
	}
	return kindSystem
}

func newData(p domain.Policy) *data {
	return &data{
		keep: retention{
			chat:        max(p.ChatLimit, 0),
			nudge:       max(p.NudgeLimit, 0),
			wink:        max(p.WinkLimit, 0),
			dedupMax:    max(p.DedupMaxPerRoom, 0),
			dedupWindow: p.DedupWindow,
		},
		users:   make(map[string]*member),
		dedup:   make(map[dedupKey]outcome),
		replies: make(map[uint64]outcome),
	}
}

// times is a ring of a user's latest post times of one kind (Unix
// nanoseconds), at most as many as the limit. While it fills, next stays 0
// and the times are in order; once full, next is the oldest.
type times struct {
	at   []int64
	next int
}

func (t *times) push(at int64, keep int) {
	if keep <= 0 {
		return
	}
	if len(t.at) < keep {
		if t.at == nil {
			t.at = make([]int64, 0, keep)
		}
		t.at = append(t.at, at)
		return
	}
	t.at[t.next] = at
	t.next = (t.next + 1) % len(t.at)
}

// recent returns the k-th latest time (k = 1 is the latest), or false if
// fewer are kept.
func (t *times) recent(k int) (int64, bool) {
	n := len(t.at)
	if k <= 0 || k > n {
		return 0, false
	}
	return t.at[(t.next-k+n)%n], true
}

// keyQueue is a growable ring buffer of keys, oldest first.
type keyQueue struct {
	buf  []dedupKey
	head int
	n    int
}

func (q *keyQueue) push(k dedupKey) {
	if q.n == len(q.buf) {
		nb := make([]dedupKey, max(16, 2*len(q.buf)))
		for i := 0; i < q.n; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = k
	q.n++
}

func (q *keyQueue) front() dedupKey { return q.buf[q.head] }

func (q *keyQueue) pop() dedupKey {
	k := q.buf[q.head]
	q.buf[q.head] = dedupKey{} // drop the strings for the collector
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return k
}

// Exists reports whether the room was created.
func (s State) Exists() bool { return s.d != nil && s.d.exists }

// ID is the room's id.
func (s State) ID() string {
	if s.d == nil {
		return ""
	}
	return s.d.id
}

// Name is the room's name; empty for direct rooms.
func (s State) Name() string {
	if s.d == nil {
		return ""
	}
	return s.d.name
}

// Visibility is who may join; empty if the room does not exist.
func (s State) Visibility() Visibility {
	if s.d == nil {
		return ""
	}
	return s.d.vis
}

// CreatedBy is the handle of the room's creator.
func (s State) CreatedBy() string {
	if s.d == nil {
		return ""
	}
	return s.d.createdBy
}

// CreatedAt is when the room was created.
func (s State) CreatedAt() time.Time {
	if s.d == nil {
		return time.Time{}
	}
	return s.d.createdAt
}

// DirectMembers returns the two users of a direct room, sorted, whether or
// not they are members right now; nil for other rooms.
func (s State) DirectMembers() []string {
	if s.d == nil || s.d.vis != Direct {
		return nil
	}
	return []string{s.d.direct[0], s.d.direct[1]}
}

// IsDirectMember reports whether user is one of a direct room's two users.
func (s State) IsDirectMember(user string) bool {
	return s.d != nil && s.d.vis == Direct && user != "" && (s.d.direct[0] == user || s.d.direct[1] == user)
}

// Members returns the members, sorted. A new slice each call.
func (s State) Members() []string {
	if s.d == nil {
		return nil
	}
	ms := make([]string, 0, s.d.members)
	for u, m := range s.d.users {
		if m.joined {
			ms = append(ms, u)
		}
	}
	slices.Sort(ms)
	return ms
}

// MemberCount is the number of members.
func (s State) MemberCount() int {
	if s.d == nil {
		return 0
	}
	return s.d.members
}

// IsMember reports whether user is a member.
func (s State) IsMember(user string) bool {
	if s.d == nil {
		return false
	}
	m := s.d.users[user]
	return m != nil && m.joined
}

// IsInvited reports whether user is invited to the private room and has not
// joined since (joining uses up the invitation; after leaving, a new one is
// needed).
func (s State) IsInvited(user string) bool {
	if s.d == nil {
		return false
	}
	m := s.d.users[user]
	return m != nil && m.invited
}

// LastSeq is the seq of the latest message; 0 if there is none.
func (s State) LastSeq() uint64 {
	if s.d == nil {
		return 0
	}
	return s.d.lastSeq
}

// ReadMarker is the seq up to which user has read the room; 0 if never
// moved. It survives leaving and rejoining.
func (s State) ReadMarker(user string) uint64 {
	if s.d == nil {
		return 0
	}
	if m := s.d.users[user]; m != nil {
		return m.marker
	}
	return 0
}

// Remembered returns the outcome of the command by user with this client
// id, if the room still remembers it: the seq of the message it posted (0
// if none) and when it was applied.
func (s State) Remembered(user, clientID string) (seq uint64, at time.Time, ok bool) {
	if s.d == nil {
		return 0, time.Time{}, false
	}
	o, ok := s.d.dedup[dedupKey{user, clientID}]
	return o.seq, o.at, ok
}

// RememberedCount is how many command ids the room remembers.
func (s State) RememberedCount() int {
	if s.d == nil {
		return 0
	}
	return len(s.d.dedup)
}
