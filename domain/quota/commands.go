package quota

import "time"

// Command is one of the commands below; Decide rejects anything else.
type Command interface{ quotaCommand() }

// Reserve sets aside one bot reply of the day for User before the LLM is
// called.
type Reserve struct {
	// Reservation identifies the reservation; derive it from the trigger
	// (room and seq), so a redelivered trigger reserves once.
	Reservation string
	// Day is the stream's day (Day(t)).
	Day string
	// User is the human whose message triggered the reply.
	User string
	// Bot is the handle of the bot that replies.
	Bot string
	// Room and TriggerSeq name the triggering message.
	Room       string
	TriggerSeq uint64
	At         time.Time
}

// Charge records the tokens a reserved reply really used.
type Charge struct {
	Reservation     string
	PromptTokens    int
	GeneratedTokens int
	At              time.Time
}

// Release gives a reservation back without charging it (backend failure,
// timeout, kill switch, reply not posted).
type Release struct {
	Reservation string
	// Reason is free text for the audit trail, e.g. "backend_error".
	Reason string
	At     time.Time
}

func (Reserve) quotaCommand() {}
func (Charge) quotaCommand()  {}
func (Release) quotaCommand() {}
