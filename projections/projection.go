package projections

import (
	"fmt"
	"io"
	"slices"

	"switchboard/domain"
	"switchboard/eventstore"
)

// Projection is a read model folded from the log.
//
// A projection is a deterministic function of the records it was given:
// it never reads the clock, calls out or keeps anything it cannot put in
// its snapshot, so replaying the same log from zero always gives the same
// state and the same snapshot bytes, and a snapshot plus the records after
// it gives the same state as a full replay.
//
// The Runner calls Apply in position order, once per record, never
// concurrently with itself or with MarshalSnapshot or UnmarshalSnapshot.
// Queries may run concurrently with all of these: every projection guards
// its state with its own RWMutex and returns copies.
type Projection interface {
	// Name is the projection's stable name, which names its snapshot
	// file: "history", "presence", "quota", "sessions", "directory".
	Name() string
	// Apply folds one record, already decoded into ev, into the state.
	// Records of events the projection does not use are ignored. It must
	// not fail: a record the projection cannot make sense of is ignored
	// too (deterministically, so a replay ignores it again).
	Apply(rec eventstore.Record, ev domain.Event)
	// MarshalSnapshot encodes the whole state. Equal states give equal
	// bytes.
	MarshalSnapshot() ([]byte, error)
	// UnmarshalSnapshot replaces the whole state with a decoded snapshot.
	// On error the state is left as it was.
	UnmarshalSnapshot(data []byte) error
}

// Notifier is implemented by projections that tell the gateway what
// changed. The Runner calls Notify after every projection has applied rec
// (so a subscriber reading any projection on a notice sees at least that
// position), only for projections that applied rec in this run, and only
// while the hub has listeners.
type Notifier interface {
	Notify(rec eventstore.Record, ev domain.Event, h *Hub)
}

// Capturer is implemented by projections whose state is too big to encode
// on the apply path. Capture takes a consistent view of the state quickly
// (the Runner's apply loop waits only for that) and returns a function
// that encodes it later, concurrently with Apply, into exactly what
// MarshalSnapshot would have returned at the time of the Capture. The
// Runner uses it instead of MarshalSnapshot when it is there.
type Capturer interface {
	Capture() (encode func() ([]byte, error))
}

// Dumper is implemented by projections that can print their state as text
// lines in a canonical order; verify uses it to show the first difference
// between two states.
type Dumper interface {
	Dump(w io.Writer) error
}

// The names of the projections, which also name their snapshot files.
const (
	HistoryName   = "history"
	PresenceName  = "presence"
	QuotaName     = "quota"
	SessionsName  = "sessions"
	DirectoryName = "directory"
)

// Names returns the names of every projection, in the order a Set lists
// them. A new slice each call.
func Names() []string {
	return []string{HistoryName, PresenceName, QuotaName, SessionsName, DirectoryName}
}

// Set is one of each projection, fresh or as restored by a Runner. The
// gateway queries these fields.
type Set struct {
	History   *History
	Presence  *Presence
	Quota     *Quota
	Sessions  *Sessions
	Directory *Directory
}

// NewSet returns empty projections. store is what History reads messages
// older than its buffer from (see History.Since); it may be nil when those
// queries are not made (rebuild, verify).
func NewSet(store eventstore.Store) *Set {
	return &Set{
		History:   NewHistory(store),
		Presence:  NewPresence(),
		Quota:     NewQuota(),
		Sessions:  NewSessions(),
		Directory: NewDirectory(),
	}
}

// All returns the projections of the set, in the order of Names.
func (s *Set) All() []Projection {
	return []Projection{s.History, s.Presence, s.Quota, s.Sessions, s.Directory}
}

// Select returns the projections with the given names, in the order of
// Names; no names means all of them. An unknown name is an error.
func (s *Set) Select(names ...string) ([]Projection, error) {
	if len(names) == 0 {
		return s.All(), nil
	}
	var out []Projection
	for _, p := range s.All() {
		if slices.Contains(names, p.Name()) {
			out = append(out, p)
		}
	}
	for _, n := range names {
		if !slices.Contains(Names(), n) {
			return nil, fmt.Errorf("projections: unknown projection %q (want one of %v)", n, Names())
		}
	}
	return out, nil
}
