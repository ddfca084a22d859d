package user

import "time"

// UserRegistered: the account exists. The first event of its stream.
type UserRegistered struct {
	Handle          string    `json:"handle"`
	DisplayName     string    `json:"displayName"`
	PasswordHash    string    `json:"passwordHash,omitempty"`
	Demo            bool      `json:"demo,omitempty"`
	Bot             *Persona  `json:"bot,omitempty"`
	Avatar          string    `json:"avatar,omitempty"`
	PersonalMessage string    `json:"personalMessage,omitempty"`
	At              time.Time `json:"at"`
}

// ProfileChanged carries the whole profile after the change (not only what
// changed), so a projection needs no earlier event to show it.
type ProfileChanged struct {
	Handle          string    `json:"handle"`
	DisplayName     string    `json:"displayName"`
	PersonalMessage string    `json:"personalMessage,omitempty"`
	Avatar          string    `json:"avatar,omitempty"`
	At              time.Time `json:"at"`
}

func (UserRegistered) EventType() string { return "UserRegistered" }
func (ProfileChanged) EventType() string { return "ProfileChanged" }
