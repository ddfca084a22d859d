package quota

import (
	"time"

	"switchboard/domain"
)

// SetBotsEnabled turns the bots on or off for everyone (the kill switch).
type SetBotsEnabled struct {
	Enabled bool
	// By names who flipped the switch (an admin, "ops"), for the audit
	// trail.
	By string
	At time.Time
}

// BotsEnabled: bots answer again.
type BotsEnabled struct {
	By string    `json:"by,omitempty"`
	At time.Time `json:"at"`
}

// BotsDisabled: bots stay silent: no reservation, no LLM call, no message.
type BotsDisabled struct {
	By string    `json:"by,omitempty"`
	At time.Time `json:"at"`
}

func (BotsEnabled) EventType() string  { return "BotsEnabled" }
func (BotsDisabled) EventType() string { return "BotsDisabled" }

// SwitchState is the kill switch folded from SwitchStream(). The zero value
// is enabled. Only EvolveSwitch builds it.
type SwitchState struct {
	disabled bool
	changed  time.Time
	by       string
}

// Enabled reports whether bots may answer.
func (s SwitchState) Enabled() bool { return !s.disabled }

// Check returns domain.ErrBotsDisabled when the switch is off, nil
// otherwise; for the bot orchestrator to call before reserving.
func (s SwitchState) Check() error {
	if s.disabled {
		return domain.ErrBotsDisabled
	}
	return nil
}

// ChangedAt and ChangedBy tell when and by whom the switch was last
// flipped; zero if never.
func (s SwitchState) ChangedAt() time.Time { return s.changed }
func (s SwitchState) ChangedBy() string    { return s.by }

// DecideSwitch flips the switch; setting it to what it is yields no events.
func DecideSwitch(s SwitchState, c SetBotsEnabled) ([]domain.Event, error) {
	if c.At.IsZero() {
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	if c.Enabled == s.Enabled() {
		return nil, nil
	}
	if c.Enabled {
		return []domain.Event{BotsEnabled{By: c.By, At: c.At.UTC()}}, nil
	}
	return []domain.Event{BotsDisabled{By: c.By, At: c.At.UTC()}}, nil
}

// EvolveSwitch folds one event into s. Other events leave s as it is.
func EvolveSwitch(s SwitchState, e domain.Event) SwitchState {
	switch e := e.(type) {
	case BotsEnabled:
		return SwitchState{disabled: false, changed: e.At, by: e.By}
	case BotsDisabled:
		return SwitchState{disabled: true, changed: e.At, by: e.By}
	}
	return s
}
