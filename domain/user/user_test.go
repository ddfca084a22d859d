package user_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/user"
)

var t0 = time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)

func ptr(s string) *string { return &s }

var registered = user.UserRegistered{
	Handle: "user_1", DisplayName: "User 1", PasswordHash: "hash", Avatar: "av_1",
	PersonalMessage: "Don't bother me, playing Halo 2", At: t0,
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := domain.DefaultPolicy()
	clippy := &user.Persona{Key: "clippy", Archetype: "Office paperclip", Style: "It looks like..."}
	tests := []struct {
		name    string
		given   []domain.Event
		when    user.Command
		then    []domain.Event
		wantErr error
	}{
		{
			name: "register",
			when: user.Register{Handle: "user_1", DisplayName: " User 1 ", PasswordHash: "hash", Avatar: "av_1", PersonalMessage: "Don't bother me, playing Halo 2 ", At: t0},
			then: []domain.Event{registered},
		},
		{
			name: "register a bot without password",
			when: user.Register{Handle: "bot_clippy", DisplayName: "Clippy", Bot: clippy, At: t0},
			then: []domain.Event{user.UserRegistered{Handle: "bot_clippy", DisplayName: "Clippy", Bot: clippy, At: t0}},
		},
		{
			name: "register a demo account without password",
			when: user.Register{Handle: "user_2", DisplayName: "User 2", Demo: true, At: t0},
			then: []domain.Event{user.UserRegistered{Handle: "user_2", DisplayName: "User 2", Demo: true, At: t0}},
		},
		{
			name:    "register an existing handle",
			given:   []domain.Event{registered},
			when:    user.Register{Handle: "user_1", DisplayName: "Someone", PasswordHash: "h", At: t0},
			wantErr: domain.ErrHandleTaken,
		},
		{
			name:    "handle not normalized",
			when:    user.Register{Handle: "User_1", DisplayName: "U", PasswordHash: "h", At: t0},
			wantErr: &domain.InvalidError{Field: "Handle", Reason: "not normalized"},
		},
		{
			name:    "handle with a bad character",
			when:    user.Register{Handle: "user 1", DisplayName: "U", PasswordHash: "h", At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "display name empty after trimming",
			when:    user.Register{Handle: "user_1", DisplayName: "   ", PasswordHash: "h", At: t0},
			wantErr: &domain.InvalidError{Field: "DisplayName", Reason: "empty"},
		},
		{
			name: "display name of exactly 50 runes",
			when: user.Register{Handle: "user_1", DisplayName: strings.Repeat("é", 50), PasswordHash: "h", At: t0},
			then: []domain.Event{user.UserRegistered{Handle: "user_1", DisplayName: strings.Repeat("é", 50), PasswordHash: "h", At: t0}},
		},
		{
			name:    "display name of 51 runes",
			when:    user.Register{Handle: "user_1", DisplayName: strings.Repeat("é", 51), PasswordHash: "h", At: t0},
			wantErr: &domain.TooLongError{Field: "DisplayName", Max: 50},
		},
		{
			name:    "display name with a newline",
			when:    user.Register{Handle: "user_1", DisplayName: "a\nb", PasswordHash: "h", At: t0},
			wantErr: &domain.InvalidError{Field: "DisplayName", Reason: "control character"},
		},
		{
			name:    "personal message of 129 runes",
			when:    user.Register{Handle: "user_1", DisplayName: "U", PasswordHash: "h", PersonalMessage: strings.Repeat("x", 129), At: t0},
			wantErr: &domain.TooLongError{Field: "PersonalMessage", Max: 128},
		},
		{
			name:    "regular account without password hash",
			when:    user.Register{Handle: "user_1", DisplayName: "U", At: t0},
			wantErr: &domain.InvalidError{Field: "PasswordHash", Reason: "required for a regular account"},
		},
		{
			name:    "bot persona without key",
			when:    user.Register{Handle: "bot_x", DisplayName: "X", Bot: &user.Persona{}, At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "register without time",
			when:    user.Register{Handle: "user_1", DisplayName: "U", PasswordHash: "h"},
			wantErr: &domain.InvalidError{Field: "At", Reason: "missing"},
		},
		{
			name:    "change the profile of a missing user",
			when:    user.ChangeProfile{DisplayName: ptr("X"), At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:  "change nothing",
			given: []domain.Event{registered},
			when:  user.ChangeProfile{At: t0},
		},
		{
			name:  "change to the same values",
			given: []domain.Event{registered},
			when:  user.ChangeProfile{DisplayName: ptr(" User 1"), Avatar: ptr("av_1"), At: t0},
		},
		{
			name:  "change the display name keeps the rest",
			given: []domain.Event{registered},
			when:  user.ChangeProfile{DisplayName: ptr("Master Chief"), At: t0.Add(time.Hour)},
			then: []domain.Event{user.ProfileChanged{
				Handle: "user_1", DisplayName: "Master Chief", PersonalMessage: registered.PersonalMessage,
				Avatar: "av_1", At: t0.Add(time.Hour),
			}},
		},
		{
			name:  "clear the personal message",
			given: []domain.Event{registered},
			when:  user.ChangeProfile{PersonalMessage: ptr(""), At: t0},
			then:  []domain.Event{user.ProfileChanged{Handle: "user_1", DisplayName: "User 1", Avatar: "av_1", At: t0}},
		},
		{
			name:    "change to an empty display name",
			given:   []domain.Event{registered},
			when:    user.ChangeProfile{DisplayName: ptr(""), At: t0},
			wantErr: &domain.InvalidError{Field: "DisplayName", Reason: "empty"},
		},
		{
			name:    "change to a personal message of 129 runes",
			given:   []domain.Event{registered},
			when:    user.ChangeProfile{PersonalMessage: ptr(strings.Repeat("x", 129)), At: t0},
			wantErr: domain.ErrTooLong,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s user.State
			for _, e := range tt.given {
				s = user.Evolve(s, e)
			}
			got, err := user.Decide(s, tt.when, p)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.then) {
				t.Fatalf("events:\n got %#v\nwant %#v", got, tt.then)
			}
		})
	}
}

func TestEvolve(t *testing.T) {
	t.Parallel()
	persona := &user.Persona{Key: "hal"}
	s := user.Evolve(user.State{}, user.UserRegistered{Handle: "bot_hal", DisplayName: "HAL 9000", Bot: persona, At: t0})
	persona.Key = "changed" // the state must not alias the event
	s = user.Evolve(s, user.ProfileChanged{Handle: "bot_hal", DisplayName: "HAL", PersonalMessage: "I'm sorry, Dave.", At: t0})
	b, ok := s.Bot()
	if !s.Exists() || s.Handle() != "bot_hal" || s.DisplayName() != "HAL" || s.PersonalMessage() != "I'm sorry, Dave." ||
		!ok || !s.IsBot() || b.Key != "hal" || !s.RegisteredAt().Equal(t0) {
		t.Fatalf("state after register and change: %+v", s)
	}
}

func TestNormalizeHandle(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"user_1": "user_1", "User_1": "user_1", "a.b-c": "a.b-c", "ABC": "abc",
		strings.Repeat("x", 32): strings.Repeat("x", 32),
	} {
		if got, err := user.NormalizeHandle(in); err != nil || got != want {
			t.Errorf("NormalizeHandle(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ab", strings.Repeat("x", 33), "a b", " abc", "abc!", "\u212Aarl", "héllo", "ab\x00"} {
		if got, err := user.NormalizeHandle(in); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("NormalizeHandle(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
	if got := user.Stream("user_1"); got != "user-user_1" {
		t.Errorf("Stream = %q", got)
	}
}
