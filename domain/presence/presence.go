package presence

// Stream returns the name of the presence stream of the user.
func Stream(user string) string { return "presence-" + user }

// Status is a presence status.
type Status string

// The statuses. Offline is never chosen: a user who wants to look offline
// chooses Invisible.
const (
	Online    Status = "online"
	Busy      Status = "busy"
	Away      Status = "away"
	Invisible Status = "invisible" // shown to others as Offline
	Offline   Status = "offline"
)

// Choosable reports whether a user may choose s (any status but Offline).
func (s Status) Choosable() bool {
	switch s {
	case Online, Busy, Away, Invisible:
		return true
	}
	return false
}

// Reason says why the effective status changed.
type Reason string

// The reasons of a PresenceChanged.
const (
	ReasonConnected    Reason = "connected"    // the first connection opened
	ReasonStatus       Reason = "status"       // the user chose a status
	ReasonResumed      Reason = "resumed"      // a heartbeat after the user was marked offline
	ReasonDisconnected Reason = "disconnected" // the last connection closed
	ReasonTimeout      Reason = "timeout"      // no heartbeat for PresenceTimeout
)
