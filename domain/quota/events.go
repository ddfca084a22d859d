package quota

import "time"

// QuotaReserved: one reply of the day is set aside for User, holding Tokens
// tokens of the day's budget until charged or released.
type QuotaReserved struct {
	Reservation string `json:"reservation"`
	Day         string `json:"day"`
	User        string `json:"user"`
	Bot         string `json:"bot"`
	Room        string `json:"room"`
	TriggerSeq  uint64 `json:"triggerSeq"`
	// Tokens is Policy.BotReservationTokens when reserved, recorded so the
	// fold does not depend on the policy.
	Tokens int       `json:"tokens"`
	At     time.Time `json:"at"`
}

// QuotaCharged: the reserved reply was posted and used these tokens. It
// keeps counting as a reply of the day.
type QuotaCharged struct {
	Reservation     string    `json:"reservation"`
	User            string    `json:"user"`
	PromptTokens    int       `json:"promptTokens"`
	GeneratedTokens int       `json:"generatedTokens"`
	At              time.Time `json:"at"`
}

// QuotaReleased: the reservation was given back; it no longer counts.
type QuotaReleased struct {
	Reservation string    `json:"reservation"`
	User        string    `json:"user"`
	Reason      string    `json:"reason,omitempty"`
	At          time.Time `json:"at"`
}

func (QuotaReserved) EventType() string { return "QuotaReserved" }
func (QuotaCharged) EventType() string  { return "QuotaCharged" }
func (QuotaReleased) EventType() string { return "QuotaReleased" }
