package presence

import "time"

// PresenceChanged: the user's effective status (Status) or chosen status
// (Chosen) changed. Both are always given, so a projection needs no earlier
// event. Status is what the user is; others see VisibleStatus of it.
type PresenceChanged struct {
	User   string    `json:"user"`
	Status Status    `json:"status"`
	Chosen Status    `json:"chosen"`
	Reason Reason    `json:"reason"`
	At     time.Time `json:"at"`
}

// HeartbeatRecorded: the user's client was alive at At. Coalesced: at most
// one per Policy.HeartbeatInterval.
type HeartbeatRecorded struct {
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

func (PresenceChanged) EventType() string   { return "PresenceChanged" }
func (HeartbeatRecorded) EventType() string { return "HeartbeatRecorded" }
