package user

import (
	"time"

	"switchboard/domain"
)

// State is a user folded from its stream. The zero State is a user that
// does not exist. Only Evolve builds it.
type State struct {
	exists          bool
	handle          string
	displayName     string
	passwordHash    string
	demo            bool
	bot             Persona
	isBot           bool
	avatar          string
	personalMessage string
	registeredAt    time.Time
}

// Evolve folds one event into s. Events of other aggregates leave s as it
// is. State is a plain value, so s itself is not changed.
func Evolve(s State, e domain.Event) State {
	switch e := e.(type) {
	case UserRegistered:
		s = State{
			exists:          true,
			handle:          e.Handle,
			displayName:     e.DisplayName,
			passwordHash:    e.PasswordHash,
			demo:            e.Demo,
			avatar:          e.Avatar,
			personalMessage: e.PersonalMessage,
			registeredAt:    e.At,
		}
		if e.Bot != nil {
			s.bot, s.isBot = *e.Bot, true
		}
	case ProfileChanged:
		s.displayName = e.DisplayName
		s.personalMessage = e.PersonalMessage
		s.avatar = e.Avatar
	}
	return s
}

// Exists reports whether the user is registered.
func (s State) Exists() bool { return s.exists }

// Handle is the user's id.
func (s State) Handle() string { return s.handle }

// DisplayName is the name others see.
func (s State) DisplayName() string { return s.displayName }

// PersonalMessage is the user's status line.
func (s State) PersonalMessage() string { return s.personalMessage }

// Avatar is the user's avatar id or path.
func (s State) Avatar() string { return s.avatar }

// PasswordHash is the hash recorded at registration, for the login handler
// to check a password against. Empty for demo and bot accounts registered
// without one.
func (s State) PasswordHash() string { return s.passwordHash }

// Demo reports whether this is a seeded demo account.
func (s State) Demo() bool { return s.demo }

// Bot returns the persona of a bot user, and whether the user is a bot.
func (s State) Bot() (Persona, bool) { return s.bot, s.isBot }

// IsBot reports whether the user is a bot.
func (s State) IsBot() bool { return s.isBot }

// RegisteredAt is when the user registered.
func (s State) RegisteredAt() time.Time { return s.registeredAt }
