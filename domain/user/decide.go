package user

import (
	"switchboard/domain"
)

// Limits of a bot persona's fields, in runes.
const (
	maxPersonaKey  = 32
	maxPersonaText = 2048
)

// Decide checks c against s under p and returns the events to append.
//
//   - Register on an existing user: domain.ErrHandleTaken. A handle that is
//     not normalized, a bad display name, personal message, avatar or
//     persona, or a missing password hash for a regular account:
//     *domain.InvalidError (or *domain.TooLongError).
//   - ChangeProfile on a missing user: domain.ErrNotFound; a change that
//     changes nothing: no events.
//
// Texts are stored trimmed. Decide does not modify s.
func Decide(s State, c Command, p domain.Policy) ([]domain.Event, error) {
	switch c := c.(type) {
	case Register:
		return register(s, c, p)
	case ChangeProfile:
		return changeProfile(s, c, p)
	}
	return nil, &domain.InvalidError{Field: "Command", Reason: "unknown user command"}
}

func displayNameRule(p domain.Policy) domain.TextRule {
	return domain.TextRule{Field: "DisplayName", MinRunes: 1, MaxRunes: p.MaxDisplayNameRunes}
}

func personalMessageRule(p domain.Policy) domain.TextRule {
	return domain.TextRule{Field: "PersonalMessage", MaxRunes: p.MaxPersonalMessageRunes}
}

func avatarRule() domain.TextRule {
	return domain.TextRule{Field: "Avatar", MaxRunes: MaxAvatarRunes}
}

func register(s State, c Register, p domain.Policy) ([]domain.Event, error) {
	if s.exists {
		return nil, domain.ErrHandleTaken
	}
	if c.At.IsZero() {
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	h, err := NormalizeHandle(c.Handle)
	if err != nil {
		return nil, err
	}
	if h != c.Handle {
		return nil, &domain.InvalidError{Field: "Handle", Reason: "not normalized"}
	}
	name, err := displayNameRule(p).Clean(c.DisplayName)
	if err != nil {
		return nil, err
	}
	pm, err := personalMessageRule(p).Clean(c.PersonalMessage)
	if err != nil {
		return nil, err
	}
	avatar, err := avatarRule().Clean(c.Avatar)
	if err != nil {
		return nil, err
	}
	if c.PasswordHash == "" && !c.Demo && c.Bot == nil {
		return nil, &domain.InvalidError{Field: "PasswordHash", Reason: "required for a regular account"}
	}
	var bot *Persona
	if c.Bot != nil {
		b, err := cleanPersona(*c.Bot)
		if err != nil {
			return nil, err
		}
		bot = &b
	}
	return []domain.Event{UserRegistered{
		Handle:          h,
		DisplayName:     name,
		PasswordHash:    c.PasswordHash,
		Demo:            c.Demo,
		Bot:             bot,
		Avatar:          avatar,
		PersonalMessage: pm,
		At:              c.At.UTC(),
	}}, nil
}

func cleanPersona(b Persona) (Persona, error) {
	if b.Key == "" || len(b.Key) > maxPersonaKey {
		return Persona{}, &domain.InvalidError{Field: "Bot.Key", Reason: "length must be 1 to 32"}
	}
	for i := 0; i < len(b.Key); i++ {
		c := b.Key[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return Persona{}, &domain.InvalidError{Field: "Bot.Key", Reason: "only a-z, 0-9 and '_' are allowed"}
		}
	}
	var err error
	if b.Archetype, err = (domain.TextRule{Field: "Bot.Archetype", MaxRunes: maxPersonaText, Multiline: true}).Clean(b.Archetype); err != nil {
		return Persona{}, err
	}
	if b.Style, err = (domain.TextRule{Field: "Bot.Style", MaxRunes: maxPersonaText, Multiline: true}).Clean(b.Style); err != nil {
		return Persona{}, err
	}
	return b, nil
}

func changeProfile(s State, c ChangeProfile, p domain.Policy) ([]domain.Event, error) {
	if !s.exists {
		return nil, domain.ErrNotFound
	}
	if c.At.IsZero() {
		return nil, &domain.InvalidError{Field: "At", Reason: "missing"}
	}
	e := ProfileChanged{
		Handle:          s.handle,
		DisplayName:     s.displayName,
		PersonalMessage: s.personalMessage,
		Avatar:          s.avatar,
		At:              c.At.UTC(),
	}
	var err error
	if c.DisplayName != nil {
		if e.DisplayName, err = displayNameRule(p).Clean(*c.DisplayName); err != nil {
			return nil, err
		}
	}
	if c.PersonalMessage != nil {
		if e.PersonalMessage, err = personalMessageRule(p).Clean(*c.PersonalMessage); err != nil {
			return nil, err
		}
	}
	if c.Avatar != nil {
		if e.Avatar, err = avatarRule().Clean(*c.Avatar); err != nil {
			return nil, err
		}
	}
	if e.DisplayName == s.displayName && e.PersonalMessage == s.personalMessage && e.Avatar == s.avatar {
		return nil, nil
	}
	return []domain.Event{e}, nil
}
