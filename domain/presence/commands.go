package presence

import "time"

// Command is one of the commands below; Decide rejects anything else. Every
// command names the user whose stream it goes to.
type Command interface{ presenceCommand() }

// Connect: a connection of the user opened.
type Connect struct {
	User string
	At   time.Time
}

// SetStatus: the user chose a status (online, busy, away or invisible).
type SetStatus struct {
	User   string
	Status Status
	At     time.Time
}

// Heartbeat: the user's client is alive.
type Heartbeat struct {
	User string
	At   time.Time
}

// Disconnect: the user's last connection closed.
type Disconnect struct {
	User string
	At   time.Time
}

// Sweep is the sweeper's command: it marks the user offline if no
// heartbeat was recorded for Policy.PresenceTimeout.
type Sweep struct {
	User string
	At   time.Time
}

func (Connect) presenceCommand()    {}
func (SetStatus) presenceCommand()  {}
func (Heartbeat) presenceCommand()  {}
func (Disconnect) presenceCommand() {}
func (Sweep) presenceCommand()      {}
