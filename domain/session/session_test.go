package session_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/session"
)

var (
	t0   = time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)
	hash = strings.Repeat("ab", 32)
)

func started() session.SessionStarted {
	return session.SessionStarted{Session: "s1", User: "user_1", TokenHash: hash, Verifier: "pow", ExpiresAt: t0.Add(20 * time.Minute), At: t0}
}

func renewed(at time.Time) session.SessionRenewed {
	return session.SessionRenewed{Session: "s1", ExpiresAt: at.Add(20 * time.Minute), At: at}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := domain.DefaultPolicy()
	start := session.Start{Session: "s1", User: "user_1", TokenHash: hash, Verifier: "pow", PasswordOK: true, VerificationOK: true, At: t0}
	ended := session.SessionEnded{Session: "s1", Reason: session.ReasonLogout, At: t0.Add(time.Minute)}
	// A session renewed until its 12 h cap.
	late := t0.Add(11*time.Hour + 45*time.Minute)
	tests := []struct {
		name    string
		given   []domain.Event
		when    session.Command
		then    []domain.Event
		wantErr error
	}{
		{name: "start", when: start, then: []domain.Event{started()}},
		{
			name:    "verification is checked first",
			when:    session.Start{Session: "s1", User: "user_1", TokenHash: hash, At: t0},
			wantErr: domain.ErrVerificationFailed,
		},
		{
			name:    "wrong password",
			when:    session.Start{Session: "s1", User: "user_1", TokenHash: hash, VerificationOK: true, At: t0},
			wantErr: domain.ErrInvalidCredentials,
		},
		{
			name:    "token hash that is not a hex SHA-256",
			when:    session.Start{Session: "s1", User: "user_1", TokenHash: "secret-token", PasswordOK: true, VerificationOK: true, At: t0},
			wantErr: &domain.InvalidError{Field: "TokenHash", Reason: "not a lowercase hex SHA-256"},
		},
		{
			name:    "start without user",
			when:    session.Start{Session: "s1", TokenHash: hash, PasswordOK: true, VerificationOK: true, At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "start again",
			given:   []domain.Event{started()},
			when:    start,
			wantErr: &domain.DuplicateError{ID: "s1", At: t0},
		},
		{
			name:    "start an id in use by another login",
			given:   []domain.Event{started()},
			when:    session.Start{Session: "s1", User: "user_2", TokenHash: hash, PasswordOK: true, VerificationOK: true, At: t0},
			wantErr: domain.ErrForbidden,
		},
		{
			name:  "renew after the interval",
			given: []domain.Event{started()},
			when:  session.Renew{At: t0.Add(2 * time.Minute)},
			then:  []domain.Event{renewed(t0.Add(2 * time.Minute))},
		},
		{
			name:  "renew within the interval is coalesced",
			given: []domain.Event{started()},
			when:  session.Renew{At: t0.Add(2*time.Minute - time.Nanosecond)},
		},
		{
			name:  "renew measures the interval from the last recorded renewal",
			given: []domain.Event{started(), renewed(t0.Add(5 * time.Minute))},
			when:  session.Renew{At: t0.Add(6 * time.Minute)},
		},
		{
			name:  "renew is capped at the maximum lifetime",
			given: []domain.Event{started(), renewed(t0.Add(11*time.Hour + 30*time.Minute))},
			when:  session.Renew{At: late},
			then:  []domain.Event{session.SessionRenewed{Session: "s1", ExpiresAt: t0.Add(12 * time.Hour), At: late}},
		},
		{
			name:  "renew at the cap changes nothing",
			given: []domain.Event{started(), session.SessionRenewed{Session: "s1", ExpiresAt: t0.Add(12 * time.Hour), At: late}},
			when:  session.Renew{At: late.Add(3 * time.Minute)},
		},
		{
			name:    "renew an expired session",
			given:   []domain.Event{started()},
			when:    session.Renew{At: t0.Add(20 * time.Minute)},
			wantErr: domain.ErrSessionEnded,
		},
		{
			name:    "renew an ended session",
			given:   []domain.Event{started(), ended},
			when:    session.Renew{At: t0.Add(3 * time.Minute)},
			wantErr: domain.ErrSessionEnded,
		},
		{
			name:    "renew an unknown session",
			when:    session.Renew{At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:  "logout",
			given: []domain.Event{started()},
			when:  session.End{Reason: session.ReasonLogout, At: t0.Add(time.Minute)},
			then:  []domain.Event{ended},
		},
		{
			name:  "end twice",
			given: []domain.Event{started(), ended},
			when:  session.End{Reason: session.ReasonRevoked, At: t0.Add(2 * time.Minute)},
		},
		{
			name:    "end with an unknown reason",
			given:   []domain.Event{started()},
			when:    session.End{Reason: "bored", At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "end an unknown session",
			when:    session.End{Reason: session.ReasonLogout, At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:  "expire exactly at the expiry",
			given: []domain.Event{started()},
			when:  session.Expire{At: t0.Add(20 * time.Minute)},
			then:  []domain.Event{session.SessionEnded{Session: "s1", Reason: session.ReasonExpired, At: t0.Add(20 * time.Minute)}},
		},
		{
			name:  "expire before the expiry",
			given: []domain.Event{started()},
			when:  session.Expire{At: t0.Add(20*time.Minute - time.Nanosecond)},
		},
		{
			name:  "expire an ended session",
			given: []domain.Event{started(), ended},
			when:  session.Expire{At: t0.Add(time.Hour)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s session.State
			for _, e := range tt.given {
				s = session.Evolve(s, e)
			}
			got, err := session.Decide(s, tt.when, p)
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

func TestState(t *testing.T) {
	t.Parallel()
	s := session.Evolve(session.State{}, started())
	if !s.Active(t0) || !s.Active(t0.Add(20*time.Minute-1)) || s.Active(t0.Add(20*time.Minute)) {
		t.Fatal("Active does not follow the expiry")
	}
	if s.User() != "user_1" || s.TokenHash() != hash || !s.ExpiresAt().Equal(t0.Add(20*time.Minute)) {
		t.Fatalf("accessors: %+v", s)
	}
	s = session.Evolve(s, session.SessionEnded{Session: "s1", Reason: session.ReasonRevoked, At: t0})
	if ended, why := s.Ended(); s.Active(t0) || !ended || why != session.ReasonRevoked {
		t.Fatal("an ended session is active")
	}
	if session.Stream("s1") != "session-s1" {
		t.Fatal("Stream")
	}
}
