package domain_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"switchboard/domain"
)

func TestTextRuleClean(t *testing.T) {
	t.Parallel()
	msg := domain.TextRule{Field: "Text", MinRunes: 1, MaxRunes: 5, Multiline: true}
	line := domain.TextRule{Field: "Name", MinRunes: 1, MaxRunes: 5}
	optional := domain.TextRule{Field: "PM", MaxRunes: 5}
	tests := []struct {
		name    string
		rule    domain.TextRule
		in      string
		want    string
		wantErr error
	}{
		{"trimmed", msg, "  hi \n", "hi", nil},
		{"lines and tabs inside", msg, "a\nb\tc", "a\nb\tc", nil},
		{"exactly the limit in runes", msg, "héllö", "héllö", nil},
		{"emoji count as one rune", msg, "🎵🎵🎵🎵🎵", "🎵🎵🎵🎵🎵", nil},
		{"one over the limit", msg, "abcdef", "", &domain.TooLongError{Field: "Text", Max: 5}},
		{"empty", msg, "", "", &domain.InvalidError{Field: "Text", Reason: "empty"}},
		{"white space only", msg, " \n\t ", "", &domain.InvalidError{Field: "Text", Reason: "empty"}},
		{"invalid UTF-8", msg, "a\xffb", "", &domain.InvalidError{Field: "Text", Reason: "invalid UTF-8"}},
		{"encoded U+FFFD is fine", msg, "a\uFFFDb", "a\uFFFDb", nil},
		{"NUL", msg, "a\x00b", "", &domain.InvalidError{Field: "Text", Reason: "control character"}},
		{"carriage return", msg, "a\rb", "", &domain.InvalidError{Field: "Text", Reason: "control character"}},
		{"C1 control", msg, "a\u0085b", "", &domain.InvalidError{Field: "Text", Reason: "control character"}},
		{"DEL", msg, "a\x7fb", "", &domain.InvalidError{Field: "Text", Reason: "control character"}},
		{"newline in a single-line field", line, "a\nb", "", &domain.InvalidError{Field: "Name", Reason: "control character"}},
		{"optional empty", optional, "  ", "", nil},
		{"no limit", domain.TextRule{Field: "X"}, strings.Repeat("x", 100000), strings.Repeat("x", 100000), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rule.Clean(tt.in)
			if !errorsMatch(err, tt.wantErr) {
				t.Fatalf("Clean(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func errorsMatch(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func FuzzTextRuleClean(f *testing.F) {
	f.Add("hello", true)
	f.Add(" \u00a0x\n", false)
	f.Add("a\xffb", true)
	f.Fuzz(func(t *testing.T, in string, multiline bool) {
		r := domain.TextRule{Field: "T", MinRunes: 1, MaxRunes: 10, Multiline: multiline}
		out, err := r.Clean(in)
		if err != nil {
			return
		}
		if out != strings.TrimSpace(out) || !utf8.ValidString(out) {
			t.Fatalf("Clean(%q) = %q: not trimmed or not UTF-8", in, out)
		}
		if n := utf8.RuneCountInString(out); n < 1 || n > 10 {
			t.Fatalf("Clean(%q) = %q: %d runes", in, out, n)
		}
		for _, c := range out {
			if unicode.IsControl(c) && !(multiline && (c == '\n' || c == '\t')) {
				t.Fatalf("Clean(%q) = %q: control character %U", in, out, c)
			}
		}
	})
}
