package user

import "switchboard/domain"

// Stream returns the name of the stream of the user with this handle.
func Stream(handle string) string { return "user-" + handle }

// Handle length limits, in bytes (handles are ASCII).
const (
	MinHandleLen = 3
	MaxHandleLen = 32
)

// MaxAvatarRunes limits an avatar reference (an id such as "av_1" or a
// path). It is not a Policy field: avatars are chosen from a catalogue, not
// typed by users.
const MaxAvatarRunes = 256

// NormalizeHandle folds h to lowercase and checks it: 3–32 characters of
// a–z, 0–9, '_', '.' and '-'. It returns the handle in the one form that
// names streams and appears on the wire, or an *domain.InvalidError.
// Surrounding white space is an error, not trimmed: a handle is an
// identifier, not free text.
func NormalizeHandle(h string) (string, error) {
	if len(h) > 4*MaxHandleLen { // cheap bound before folding
		return "", &domain.InvalidError{Field: "Handle", Reason: "length must be 3 to 32"}
	}
	h = toLower(h)
	if len(h) < MinHandleLen || len(h) > MaxHandleLen {
		return "", &domain.InvalidError{Field: "Handle", Reason: "length must be 3 to 32"}
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "", &domain.InvalidError{Field: "Handle", Reason: "only a-z, 0-9, '_', '.' and '-' are allowed"}
		}
	}
	return h, nil
}

// toLower folds ASCII letters only: any other byte makes the handle invalid
// anyway, and folding only ASCII keeps look-alikes (the Kelvin sign folds
// to 'k' under Unicode rules) from becoming someone else's handle.
func toLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Persona makes a user a bot: which character the LLM plays.
type Persona struct {
	// Key names the persona, e.g. "clippy"; 1–32 characters of a–z, 0–9
	// and '_'.
	Key string `json:"key"`
	// Archetype and Style describe the character for the prompt.
	Archetype string `json:"archetype,omitempty"`
	Style     string `json:"style,omitempty"`
}
