package presence

import (
	"time"

	"switchboard/domain"
)

// State is a user's presence folded from its stream. The zero State is a
// user who never connected: chosen Online, effectively Offline. Only Evolve
// builds it.
type State struct {
	user          string
	chosen        Status // "" means Online
	effective     Status // "" means Offline
	lastHeartbeat time.Time
}

// Evolve folds one event into s. Events of other aggregates leave s as it
// is. State is a plain value, so s itself is not changed.
func Evolve(s State, e domain.Event) State {
	switch e := e.(type) {
	case PresenceChanged:
		s.user = e.User
		s.effective = e.Status
		s.chosen = e.Chosen
	case HeartbeatRecorded:
		s.user = e.User
		s.lastHeartbeat = e.At
	}
	return s
}

// User is the user, once any event was recorded.
func (s State) User() string { return s.user }

// Chosen is the status the user chose, Online by default: what they show
// while connected.
func (s State) Chosen() Status {
	if s.chosen == "" {
		return Online
	}
	return s.chosen
}

// Status is the user's effective status: Chosen while connected, Offline
// otherwise.
func (s State) Status() Status {
	if s.effective == "" {
		return Offline
	}
	return s.effective
}

// VisibleStatus is the status others see: Invisible shows as Offline.
func (s State) VisibleStatus() Status { return Visible(s.Status()) }

// Visible maps an effective status to what others see of it.
func Visible(st Status) Status {
	if st == Invisible || st == "" {
		return Offline
	}
	return st
}

// LastHeartbeat is when a heartbeat was last recorded; zero if never.
func (s State) LastHeartbeat() time.Time { return s.lastHeartbeat }
