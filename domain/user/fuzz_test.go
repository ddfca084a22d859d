package user_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"switchboard/domain"
	"switchboard/domain/user"
)

// bytesReader turns fuzz input into choices; exhausted input reads zeros.
type bytesReader struct{ b []byte }

func (r *bytesReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *bytesReader) str() string {
	n := int(r.byte()) % 64
	if n > len(r.b) {
		n = len(r.b)
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func FuzzUser(f *testing.F) {
	f.Add([]byte("\x00\x05user1\x04User\x01\x03pm!\x00\x01\x03Bob"))
	f.Add([]byte("\x01\x00\x00\x03abc\x00\x02x\n\x00"))
	f.Add([]byte("\x00\x03ABC\x33" + strings.Repeat("n", 51)))
	p := domain.DefaultPolicy()
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &bytesReader{b: in}
		var s user.State
		at := t0
		for steps := 0; len(r.b) > 0 && steps < 50; steps++ {
			at = at.Add(time.Duration(r.byte()) * time.Second)
			var c user.Command
			opt := func() *string {
				if r.byte()%2 == 0 {
					return nil
				}
				v := r.str()
				return &v
			}
			switch r.byte() % 2 {
			case 0:
				c = user.Register{Handle: r.str(), DisplayName: r.str(), PasswordHash: r.str(), Demo: r.byte()%2 == 0, PersonalMessage: r.str(), At: at}
			default:
				c = user.ChangeProfile{DisplayName: opt(), PersonalMessage: opt(), Avatar: opt(), At: at}
			}
			before := s
			evs, err := user.Decide(s, c, p)
			if err != nil {
				if len(evs) != 0 {
					t.Fatalf("%#v: events with error %v", c, err)
				}
				if _, ok := c.(user.Register); ok && before.Exists() && !errors.Is(err, domain.ErrHandleTaken) {
					t.Fatalf("register on an existing user: %v", err)
				}
				continue
			}
			for _, e := range evs {
				s = user.Evolve(s, e)
			}
			if before.Exists() && s.Handle() != before.Handle() {
				t.Fatalf("handle changed from %q to %q", before.Handle(), s.Handle())
			}
			if !s.Exists() {
				if len(evs) > 0 {
					t.Fatalf("events %v but no user", evs)
				}
				continue
			}
			if h, err := user.NormalizeHandle(s.Handle()); err != nil || h != s.Handle() {
				t.Fatalf("stored handle %q is not normalized", s.Handle())
			}
			checkText(t, "display name", s.DisplayName(), 1, p.MaxDisplayNameRunes)
			checkText(t, "personal message", s.PersonalMessage(), 0, p.MaxPersonalMessageRunes)
			checkText(t, "avatar", s.Avatar(), 0, user.MaxAvatarRunes)
		}
	})
}

func checkText(t *testing.T, what, s string, min, max int) {
	t.Helper()
	n := utf8.RuneCountInString(s)
	if !utf8.ValidString(s) || n < min || n > max || s != strings.TrimSpace(s) {
		t.Fatalf("%s %q breaks its rule", what, s)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			t.Fatalf("%s %q has a control character", what, s)
		}
	}
}
