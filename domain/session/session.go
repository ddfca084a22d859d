package session

// Stream returns the name of the stream of the session with this id.
func Stream(id string) string { return "session-" + id }

// Reason says why a session ended.
type Reason string

// The reasons a session ends.
const (
	ReasonLogout  Reason = "logout"  // the user logged out
	ReasonExpired Reason = "expired" // the expiry passed without renewal
	ReasonRevoked Reason = "revoked" // an administrator or the system ended it
)

// MaxIDLen bounds a session id.
const MaxIDLen = 128
