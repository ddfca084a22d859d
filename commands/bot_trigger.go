package commands

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"switchboard/domain/room"
	"switchboard/domain/user"
)

// botProfile is what the orchestrator knows of one bot, learned from its
// UserRegistered and ProfileChanged events.
type botProfile struct {
	Handle, DisplayName, PersonalMessage string
	Persona                              user.Persona
	// squashed is the display name in lowercase without spaces, which a
	// mention may abbreviate.
	squashed string
}

func newBotProfile(handle, displayName, personalMessage string, p user.Persona) *botProfile {
	return &botProfile{
		Handle: handle, DisplayName: displayName, PersonalMessage: personalMessage, Persona: p,
		squashed: strings.ToLower(strings.Join(strings.Fields(displayName), "")),
	}
}

// botDirectory is an immutable snapshot of the bots, in mention order:
// first the handles the configuration lists, in its order (the
// reference's), then any other bot in the order it registered. A change
// makes a new directory (copy on write), so Handle reads one without a
// lock.
type botDirectory struct {
	bots     []*botProfile
	byHandle map[string]*botProfile
}

// with returns a directory with p added or replaced; order is the
// configured order of handles.
func (d *botDirectory) with(p *botProfile, order []string) *botDirectory {
	n := &botDirectory{byHandle: make(map[string]*botProfile, len(d.byHandle)+1)}
	for _, b := range d.bots {
		if b.Handle != p.Handle {
			n.bots = append(n.bots, b)
		}
	}
	n.bots = append(n.bots, p)
	rank := func(h string) int {
		if i := slices.Index(order, h); i >= 0 {
			return i
		}
		return len(order)
	}
	// Stable: bots outside the configured order keep their registration
	// order.
	slices.SortStableFunc(n.bots, func(a, b *botProfile) int { return rank(a.Handle) - rank(b.Handle) })
	for _, b := range n.bots {
		n.byHandle[b.Handle] = b
	}
	return n
}

// maxMentionLen bounds the word after '@' that is looked at.
const maxMentionLen = 64

// firstMention returns the word of the first mention in text: an '@' at
// the start of the text or after a character that cannot be part of a
// name (so "a@b.com" is no mention), followed by one or more letters,
// digits, '_', '-' or '.'. ok is false when text mentions nobody.
func firstMention(text string) (word string, ok bool) {
	prev := ' '
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == '@' && !mentionRune(prev) {
			j := i + size
			for j < len(text) && j-i-size < maxMentionLen {
				c, n := utf8.DecodeRuneInString(text[j:])
				if !mentionRune(c) {
					break
				}
				j += n
			}
			if j > i+size {
				return text[i+size : j], true
			}
		}
		prev = r
		i += size
	}
	return "", false
}

func mentionRune(r rune) bool {
	return r == '_' || r == '-' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// mentioned returns the bot the first mention of text names, or nil. Only
// the first mention counts: "@user_2 ask @clippy" mentions user_2, not a
// bot.
func (d *botDirectory) mentioned(text string) *botProfile {
	word, ok := firstMention(text)
	if !ok {
		return nil
	}
	w := strings.ToLower(word)
	if b := d.match(w); b != nil {
		return b
	}
	// "@clippy." or "@hal-": punctuation that ends the sentence.
	if t := strings.TrimRight(w, ".-_"); t != "" && t != w {
		return d.match(t)
	}
	return nil
}

// match finds the bot a lowercase mention names. An exact name wins over
// an abbreviation wherever the bots stand in the order: first the bots
// whose handle (with or without its "bot_" prefix) or persona key is w,
// then the first bot, in order, whose display name without spaces starts
// with w ("@hal" is HAL 9000, "@dj" DJ_Euphoria, "@ask" Ask Jeeves).
func (d *botDirectory) match(w string) *botProfile {
	for _, b := range d.bots {
		if w == b.Handle || w == strings.TrimPrefix(b.Handle, "bot_") || w == b.Persona.Key {
			return b
		}
	}
	for _, b := range d.bots {
		if strings.HasPrefix(b.squashed, w) {
			return b
		}
	}
	return nil
}

// direct returns the bot a direct room is with, if sender's other party in
// roomID is a bot. A direct room's id derives from its two handles
// (room.DirectID), so this needs no state: the room is the bot's if its id
// is the id of sender and that bot.
func (d *botDirectory) direct(roomID, sender string) *botProfile {
	if !strings.HasPrefix(roomID, room.DirectPrefix) {
		return nil
	}
	for _, b := range d.bots {
		if room.DirectID(sender, b.Handle) == roomID {
			return b
		}
	}
	return nil
}

// target returns the bot that m calls on, or nil. In a direct room with a
// bot, every chat, nudge and wink of the human calls it; elsewhere (and
// in a direct room between two people) a chat whose first mention names a
// bot. Messages of bots and of the system never call a bot, which is what
// prevents bots from answering each other.
func (d *botDirectory) target(m room.MessagePosted) *botProfile {
	if !m.Kind.Human() || m.Sender == "" || d.byHandle[m.Sender] != nil {
		return nil
	}
	if b := d.direct(m.Room, m.Sender); b != nil {
		return b
	}
	if m.Kind != room.KindChat {
		return nil
	}
	return d.mentioned(m.Text)
}
