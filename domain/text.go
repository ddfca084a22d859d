package domain

import (
	"strings"
	"unicode/utf8"
)

// Trim removes leading and trailing white space (as defined by Unicode).
// Free text is stored trimmed.
func Trim(s string) string { return strings.TrimSpace(s) }

// TextRule says what a free-text field accepts. Rooms use it for messages
// and room names, users for display names and personal messages.
type TextRule struct {
	// Field names the field in errors ("Text", "DisplayName").
	Field string
	// MinRunes is the least length after trimming. Zero allows empty text;
	// one requires some text.
	MinRunes int
	// MaxRunes is the greatest length after trimming, in runes (Unicode
	// code points, what a user counts as characters). Zero: no limit.
	MaxRunes int
	// Multiline allows '\n' and '\t'. Other control characters (Unicode
	// category Cc) are always refused: they break terminals and logs and
	// have no business in chat.
	Multiline bool
}

// Clean trims s and checks it against r, returning the trimmed text. It
// reports an empty or short text and malformed text as *InvalidError and an
// over-long one as *TooLongError. It does not allocate unless it fails.
func (r TextRule) Clean(s string) (string, error) {
	s = Trim(s)
	n := 0
	for i, c := range s {
		if c == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return "", &InvalidError{Field: r.Field, Reason: "invalid UTF-8"}
			}
		}
		if c < 0x20 || (c >= 0x7f && c <= 0x9f) { // unicode.IsControl, inlined
			if !r.Multiline || (c != '\n' && c != '\t') {
				return "", &InvalidError{Field: r.Field, Reason: "control character"}
			}
		}
		n++
	}
	if n < r.MinRunes {
		if n == 0 {
			return "", &InvalidError{Field: r.Field, Reason: "empty"}
		}
		return "", &InvalidError{Field: r.Field, Reason: "too short"}
	}
	if r.MaxRunes > 0 && n > r.MaxRunes {
		return "", &TooLongError{Field: r.Field, Max: r.MaxRunes}
	}
	return s, nil
}
