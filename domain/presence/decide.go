package presence

import (
	"time"

	"switchboard/domain"
)

// Decide checks c against s under p and returns the events to append.
//
//   - Connect: an offline user goes to their chosen status (reason
//     connected). A heartbeat is recorded too, coalesced like Heartbeat.
//   - SetStatus: sets the chosen and the effective status (reason status),
//     recording a heartbeat if the user was offline; a status other than
//     online, busy, away or invisible: *domain.InvalidError; no change: no
//     events.
//   - Heartbeat: recorded only if the last recorded one is at least
//     HeartbeatInterval old (or there is none); an offline user also goes
//     back to their chosen status (reason resumed).
//   - Disconnect: offline (reason disconnected); already offline: no
//     events.
//   - Sweep: offline (reason timeout) if the last recorded heartbeat is at
//     least PresenceTimeout old; otherwise no events.
//
// Every command's User must be non-empty and match the stream's user once
// it has one. Decide does not modify s.
func Decide(s State, c Command, p domain.Policy) ([]domain.Event, error) {
	switch c := c.(type) {
	case Connect:
		at, err := check(s, c.User, c.At)
		if err != nil {
			return nil, err
		}
		var evs []domain.Event
		if s.Status() == Offline {
			evs = append(evs, PresenceChanged{User: c.User, Status: s.Chosen(), Chosen: s.Chosen(), Reason: ReasonConnected, At: at})
		}
		if heartbeatDue(s, at, p) {
			evs = append(evs, HeartbeatRecorded{User: c.User, At: at})
		}
		return evs, nil

	case SetStatus:
		at, err := check(s, c.User, c.At)
		if err != nil {
			return nil, err
		}
		if !c.Status.Choosable() {
			return nil, &domain.InvalidError{Field: "Status", Reason: "must be online, busy, away or invisible"}
		}
		if s.Chosen() == c.Status && s.Status() == c.Status {
			return nil, nil
		}
		evs := []domain.Event{PresenceChanged{User: c.User, Status: c.Status, Chosen: c.Status, Reason: ReasonStatus, At: at}}
		if s.Status() == Offline && heartbeatDue(s, at, p) {
			evs = append(evs, HeartbeatRecorded{User: c.User, At: at})
		}
		return evs, nil

	case Heartbeat:
		at, err := check(s, c.User, c.At)
		if err != nil {
			return nil, err
		}
		var evs []domain.Event
		if s.Status() == Offline {
			evs = append(evs, PresenceChanged{User: c.User, Status: s.Chosen(), Chosen: s.Chosen(), Reason: ReasonResumed, At: at})
		}
		if heartbeatDue(s, at, p) {
			evs = append(evs, HeartbeatRecorded{User: c.User, At: at})
		}
		return evs, nil

	case Disconnect:
		at, err := check(s, c.User, c.At)
		if err != nil {
			return nil, err
		}
		if s.Status() == Offline {
			return nil, nil
		}
		return []domain.Event{PresenceChanged{User: c.User, Status: Offline, Chosen: s.Chosen(), Reason: ReasonDisconnected, At: at}}, nil

	case Sweep:
		at, err := check(s, c.User, c.At)
		if err != nil {
			return nil, err
		}
		if s.Status() == Offline || p.PresenceTimeout <= 0 || at.Sub(s.lastHeartbeat) < p.PresenceTimeout {
			return nil, nil
		}
		return []domain.Event{PresenceChanged{User: c.User, Status: Offline, Chosen: s.Chosen(), Reason: ReasonTimeout, At: at}}, nil
	}
	return nil, &domain.InvalidError{Field: "Command", Reason: "unknown presence command"}
}

// check validates the fields every command has and returns At in UTC.
func check(s State, user string, at time.Time) (time.Time, error) {
	switch {
	case user == "":
		return time.Time{}, &domain.InvalidError{Field: "User", Reason: "missing"}
	case s.user != "" && user != s.user:
		return time.Time{}, &domain.InvalidError{Field: "User", Reason: "does not match the stream"}
	case at.IsZero():
		return time.Time{}, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	return at.UTC(), nil
}

func heartbeatDue(s State, at time.Time, p domain.Policy) bool {
	return s.lastHeartbeat.IsZero() || at.Sub(s.lastHeartbeat) >= p.HeartbeatInterval
}
