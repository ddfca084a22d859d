package projections

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"switchboard/domain"
	"switchboard/domain/session"
	"switchboard/eventstore"
)

const sessionsSchema = 1

// EndedSessionsKept is how many ended sessions the view remembers, the
// most recently ended; older ones are forgotten (ByTokenHash no longer
// finds them). It bounds the view's memory by the live sessions, not by
// the log. The choice depends on the log only, so replays agree.
const EndedSessionsKept = 10_000

// Session is a login, as the gateway checks it.
type Session struct {
	ID        string
	User      string
	TokenHash string // lowercase hex SHA-256 of the token
	Verifier  string
	StartedAt time.Time
	RenewedAt time.Time // the last recorded renewal, or the start
	// ExpiresAt is the recorded expiry. The view has no clock: a session
	// past its expiry stays listed, not ended, until the sweeper ends it;
	// callers compare ExpiresAt with their own clock.
	ExpiresAt time.Time
	Ended     bool
	EndReason session.Reason
	EndedAt   time.Time
}

// Sessions is the sessions projection: token hash → session, and the live
// sessions of each user.
type Sessions struct {
	mu     sync.RWMutex
	hint   sizeHint
	byID   map[string]*Session
	byHash map[string]*Session
	byUser map[string]map[string]*Session // live (not ended) sessions
	ended  []string                       // ids of kept ended sessions, oldest first
}

var (
	_ Projection = (*Sessions)(nil)
	_ Notifier   = (*Sessions)(nil)
	_ Dumper     = (*Sessions)(nil)
)

// NewSessions returns an empty sessions view.
func NewSessions() *Sessions {
	return &Sessions{
		byID:   make(map[string]*Session),
		byHash: make(map[string]*Session),
		byUser: make(map[string]map[string]*Session),
	}
}

// Name implements Projection.
func (s *Sessions) Name() string { return SessionsName }

// add indexes a session (s.mu held).
func (s *Sessions) add(x *Session) {
	s.byID[x.ID] = x
	s.byHash[x.TokenHash] = x
	if !x.Ended {
		m := s.byUser[x.User]
		if m == nil {
			m = make(map[string]*Session)
			s.byUser[x.User] = m
		}
		m[x.ID] = x
	}
}

// Apply implements Projection: SessionStarted, SessionRenewed,
// SessionEnded. A second start of a known session id is ignored.
func (s *Sessions) Apply(rec eventstore.Record, ev domain.Event) {
	switch e := ev.(type) {
	case session.SessionStarted:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.byID[e.Session] != nil {
			return
		}
		at := e.At.UTC()
		s.add(&Session{ID: e.Session, User: e.User, TokenHash: e.TokenHash, Verifier: e.Verifier, StartedAt: at, RenewedAt: at, ExpiresAt: e.ExpiresAt.UTC()})
	case session.SessionRenewed:
		s.mu.Lock()
		defer s.mu.Unlock()
		if x := s.byID[e.Session]; x != nil && !x.Ended {
			x.RenewedAt, x.ExpiresAt = e.At.UTC(), e.ExpiresAt.UTC()
		}
	case session.SessionEnded:
		s.mu.Lock()
		defer s.mu.Unlock()
		x := s.byID[e.Session]
		if x == nil || x.Ended {
			return
		}
		x.Ended, x.EndReason, x.EndedAt = true, e.Reason, e.At.UTC()
		if m := s.byUser[x.User]; m != nil {
			delete(m, x.ID)
			if len(m) == 0 {
				delete(s.byUser, x.User)
			}
		}
		s.ended = append(s.ended, x.ID)
		for len(s.ended) > EndedSessionsKept {
			s.forget(s.ended[0])
			s.ended[0] = ""
			s.ended = s.ended[1:]
		}
	}
}

// forget drops an ended session (s.mu held).
func (s *Sessions) forget(id string) {
	x := s.byID[id]
	if x == nil {
		return
	}
	delete(s.byID, id)
	if s.byHash[x.TokenHash] == x {
		delete(s.byHash, x.TokenHash)
	}
}

// Notify implements Notifier: SessionEnded to UserTopic.
func (s *Sessions) Notify(rec eventstore.Record, ev domain.Event, hub *Hub) {
	e, ok := ev.(session.SessionEnded)
	if !ok {
		return
	}
	x, ok := s.ByID(e.Session)
	if !ok {
		return
	}
	hub.Publish(SessionEnded{Position: rec.Position, Session: x.ID, User: x.User, Reason: x.EndReason}, UserTopic(x.User))
}

// ByTokenHash returns the session with this token hash, ended or not.
func (s *Sessions) ByTokenHash(hash string) (Session, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if x := s.byHash[hash]; x != nil {
		return *x, true
	}
	return Session{}, false
}

// ByID returns the session with this id, ended or not.
func (s *Sessions) ByID(id string) (Session, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if x := s.byID[id]; x != nil {
		return *x, true
	}
	return Session{}, false
}

// ByUser returns the user's sessions that have not ended (expired or not),
// sorted by id.
func (s *Sessions) ByUser(usr string) []Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.byUser[usr]
	out := make([]Session, 0, len(m))
	for _, id := range sortedKeys(m) {
		out = append(out, *m[id])
	}
	return out
}

// Live returns how many sessions have not ended (for metrics).
func (s *Sessions) Live() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID) - len(s.ended)
}

func encSession(e *enc, x *Session) {
	e.str(x.ID)
	e.str(x.User)
	e.str(x.TokenHash)
	e.str(x.Verifier)
	e.time(x.StartedAt)
	e.time(x.RenewedAt)
	e.time(x.ExpiresAt)
	e.bool(x.Ended)
	e.str(string(x.EndReason))
	e.time(x.EndedAt)
}

func decSession(d *dec) *Session {
	return &Session{
		ID: d.str(), User: d.str(), TokenHash: d.str(), Verifier: d.str(),
		StartedAt: d.time(), RenewedAt: d.time(), ExpiresAt: d.time(),
		Ended: d.bool(), EndReason: session.Reason(d.str()), EndedAt: d.time(),
	}
}

// MarshalSnapshot implements Projection: the live sessions sorted by id
// (and, for equal token hashes, the later start wins the hash on restore:
// see UnmarshalSnapshot), then the ended ones in the order they ended.
func (s *Sessions) MarshalSnapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.hint.enc()
	e.uint(sessionsSchema)
	live := make([]*Session, 0, len(s.byID)-len(s.ended))
	for _, x := range s.byID {
		if !x.Ended {
			live = append(live, x)
		}
	}
	slices.SortFunc(live, func(a, b *Session) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	e.uint(uint64(len(live)))
	for _, x := range live {
		encSession(&e, x)
		e.bool(s.byHash[x.TokenHash] == x)
	}
	e.uint(uint64(len(s.ended)))
	for _, id := range s.ended {
		x := s.byID[id]
		encSession(&e, x)
		e.bool(s.byHash[x.TokenHash] == x)
	}
	s.hint.note(len(e.b))
	return e.b, nil
}

// UnmarshalSnapshot implements Projection.
func (s *Sessions) UnmarshalSnapshot(data []byte) error {
	d := dec{b: data}
	d.version(SessionsName, sessionsSchema)
	n := NewSessions()
	var owners []*Session // sessions that own their token hash
	for k := d.count(10); k > 0 && d.err == nil; k-- {
		x := decSession(&d)
		n.add(x)
		if d.bool() {
			owners = append(owners, x)
		}
	}
	for k := d.count(10); k > 0 && d.err == nil; k-- {
		x := decSession(&d)
		n.add(x)
		n.ended = append(n.ended, x.ID)
		if d.bool() {
			owners = append(owners, x)
		}
	}
	if err := d.done(); err != nil {
		return err
	}
	// Token hashes are unique in practice; if two sessions shared one,
	// the snapshot says which of them the index pointed to.
	clear(n.byHash)
	for _, x := range owners {
		n.byHash[x.TokenHash] = x
	}
	s.mu.Lock()
	s.byID, s.byHash, s.byUser, s.ended = n.byID, n.byHash, n.byUser, n.ended
	s.mu.Unlock()
	return nil
}

// Dump implements Dumper.
func (s *Sessions) Dump(w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range sortedKeys(s.byID) {
		x := s.byID[id]
		if _, err := fmt.Fprintf(w, "session %s user=%s hash=%s owner=%t verifier=%q started=%s renewed=%s expires=%s ended=%t reason=%q endedAt=%s\n",
			x.ID, x.User, x.TokenHash, s.byHash[x.TokenHash] == x, x.Verifier, fmtTime(x.StartedAt), fmtTime(x.RenewedAt), fmtTime(x.ExpiresAt), x.Ended, x.EndReason, fmtTime(x.EndedAt)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "ended order %v\n", s.ended)
	return err
}
