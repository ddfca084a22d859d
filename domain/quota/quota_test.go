package quota_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/quota"
)

var t0 = time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)

const day = "2025-11-23"

func reserved(id, user string) quota.QuotaReserved {
	return quota.QuotaReserved{Reservation: id, Day: day, User: user, Bot: "bot_clippy", Room: "general", TriggerSeq: 7, Tokens: 1024, At: t0}
}

func charged(id, user string, prompt, generated int) quota.QuotaCharged {
	return quota.QuotaCharged{Reservation: id, User: user, PromptTokens: prompt, GeneratedTokens: generated, At: t0}
}

// replies returns n reservations with ids prefix0, prefix1…; user(i)
// names the user of the i-th; each is charged with 150 tokens when charge
// is set (so the token budget is not what runs out).
func replies(prefix string, n int, user func(int) string, charge bool) []domain.Event {
	var evs []domain.Event
	for i := range n {
		id := fmt.Sprintf("%s%d", prefix, i)
		evs = append(evs, reserved(id, user(i)))
		if charge {
			evs = append(evs, charged(id, user(i), 100, 50))
		}
	}
	return evs
}

func same(u string) func(int) string { return func(int) string { return u } }

func spread(i int) string { return fmt.Sprintf("user_%d", i%100) }

func cat(lists ...[]domain.Event) []domain.Event {
	var all []domain.Event
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := domain.DefaultPolicy()
	reserve := quota.Reserve{Reservation: "new", Day: day, User: "user_1", Bot: "bot_clippy", Room: "general", TriggerSeq: 7, At: t0}
	want := []domain.Event{quota.QuotaReserved{Reservation: "new", Day: day, User: "user_1", Bot: "bot_clippy", Room: "general", TriggerSeq: 7, Tokens: 1024, At: t0}}
	tests := []struct {
		name    string
		given   []domain.Event
		when    quota.Command
		then    []domain.Event
		wantErr error
	}{
		{name: "reserve", when: reserve, then: want},
		{
			name:  "the user's 50th reply",
			given: replies("r", 49, same("user_1"), true),
			when:  reserve,
			then:  want,
		},
		{
			name:    "the user's 51st reply",
			given:   replies("r", 50, same("user_1"), true),
			when:    reserve,
			wantErr: &domain.QuotaExhaustedError{Quota: domain.QuotaUser},
		},
		{
			name:  "a released reservation no longer counts",
			given: cat(replies("r", 50, same("user_1"), false), []domain.Event{quota.QuotaReleased{Reservation: "r0", User: "user_1", At: t0}}),
			when:  reserve,
			then:  want,
		},
		{
			name:  "the day's 4000th reply",
			given: replies("r", 3999, spread, true),
			when:  reserve,
			then:  want,
		},
		{
			name:    "the day's 4001st reply",
			given:   replies("r", 4000, spread, true),
			when:    reserve,
			wantErr: &domain.QuotaExhaustedError{Quota: domain.QuotaGlobal},
		},
		{
			name:    "global wins when both are exhausted",
			given:   cat(replies("u", 50, same("user_1"), true), replies("o", 3950, spread, true)),
			when:    reserve,
			wantErr: &domain.QuotaExhaustedError{Quota: domain.QuotaGlobal},
		},
		{
			name:  "tokens just under the budget",
			given: []domain.Event{reserved("a", "user_2"), charged("a", "user_2", 1_000_000, 998_975), reserved("b", "user_2")},
			when:  reserve,
			then:  want,
		},
		{
			name:    "tokens charged plus set aside reach the budget",
			given:   []domain.Event{reserved("a", "user_2"), charged("a", "user_2", 1_000_000, 998_976), reserved("b", "user_2")},
			when:    reserve,
			wantErr: &domain.QuotaExhaustedError{Quota: domain.QuotaTokens},
		},
		{
			name:    "a repeated reservation",
			given:   []domain.Event{reserved("new", "user_1")},
			when:    reserve,
			wantErr: &domain.DuplicateError{ID: "new", At: t0},
		},
		{
			name:    "a repeated reservation after it was charged, even when exhausted",
			given:   cat([]domain.Event{reserved("new", "user_1"), charged("new", "user_1", 1, 1)}, replies("r", 4000, spread, true)),
			when:    reserve,
			wantErr: &domain.DuplicateError{ID: "new", At: t0},
		},
		{
			name:    "a day other than the stream's",
			given:   []domain.Event{reserved("a", "user_2")},
			when:    quota.Reserve{Reservation: "new", Day: "2025-11-24", User: "user_1", Bot: "b", At: t0},
			wantErr: &domain.InvalidError{Field: "Day", Reason: "does not match the stream"},
		},
		{
			name:    "a malformed day",
			when:    quota.Reserve{Reservation: "new", Day: "2025-11-31", User: "user_1", Bot: "b", At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "reserve without id",
			when:    quota.Reserve{Day: day, User: "user_1", Bot: "b", At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:  "charge",
			given: []domain.Event{reserved("a", "user_2")},
			when:  quota.Charge{Reservation: "a", PromptTokens: 300, GeneratedTokens: 42, At: t0},
			then:  []domain.Event{charged("a", "user_2", 300, 42)},
		},
		{
			name:    "charge an unknown reservation",
			given:   []domain.Event{reserved("a", "user_2")},
			when:    quota.Charge{Reservation: "b", At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:  "charge twice",
			given: []domain.Event{reserved("a", "user_2"), charged("a", "user_2", 1, 2)},
			when:  quota.Charge{Reservation: "a", PromptTokens: 1, GeneratedTokens: 2, At: t0},
		},
		{
			name:  "charge a released reservation",
			given: []domain.Event{reserved("a", "user_2"), quota.QuotaReleased{Reservation: "a", User: "user_2", At: t0}},
			when:  quota.Charge{Reservation: "a", PromptTokens: 1, At: t0},
		},
		{
			name:    "charge negative tokens",
			given:   []domain.Event{reserved("a", "user_2")},
			when:    quota.Charge{Reservation: "a", PromptTokens: -1, At: t0},
			wantErr: &domain.InvalidError{Field: "PromptTokens", Reason: "negative"},
		},
		{
			name:  "release",
			given: []domain.Event{reserved("a", "user_2")},
			when:  quota.Release{Reservation: "a", Reason: "backend_error", At: t0},
			then:  []domain.Event{quota.QuotaReleased{Reservation: "a", User: "user_2", Reason: "backend_error", At: t0}},
		},
		{
			name:    "release an unknown reservation",
			when:    quota.Release{Reservation: "a", At: t0},
			wantErr: domain.ErrNotFound,
		},
		{
			name:  "release a charged reservation",
			given: []domain.Event{reserved("a", "user_2"), charged("a", "user_2", 1, 2)},
			when:  quota.Release{Reservation: "a", At: t0},
		},
		{
			name:  "release twice",
			given: []domain.Event{reserved("a", "user_2"), quota.QuotaReleased{Reservation: "a", User: "user_2", At: t0}},
			when:  quota.Release{Reservation: "a", At: t0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s quota.State
			for _, e := range tt.given {
				s = quota.Evolve(s, e)
			}
			got, err := quota.Decide(s, tt.when, p)
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

func TestAccessors(t *testing.T) {
	t.Parallel()
	var s quota.State
	for _, e := range []domain.Event{
		reserved("a", "u1"), reserved("b", "u1"), reserved("c", "u2"),
		charged("a", "u1", 100, 20),
		quota.QuotaReleased{Reservation: "c", User: "u2", At: t0},
	} {
		s = quota.Evolve(s, e)
	}
	if s.Replies() != 2 || s.UserReplies("u1") != 2 || s.UserReplies("u2") != 0 || s.Tokens() != 120 ||
		s.Outstanding() != 1 || s.ReservedTokens() != 1024 || s.Charged() != 1 || !s.IsOutstanding("b") || s.Day() != day {
		t.Fatalf("replies %d, u1 %d, u2 %d, tokens %d, outstanding %d", s.Replies(), s.UserReplies("u1"), s.UserReplies("u2"), s.Tokens(), s.Outstanding())
	}
	if quota.Day(time.Date(2025, 11, 23, 23, 30, 0, 0, time.FixedZone("x", -3600))) != "2025-11-24" {
		t.Fatal("Day is not the UTC day")
	}
	if quota.Stream(day) != "quota-2025-11-23" || quota.SwitchStream() != "bots-switch" {
		t.Fatal("stream names")
	}
}

func TestSwitch(t *testing.T) {
	t.Parallel()
	disabled := quota.BotsDisabled{By: "admin", At: t0}
	tests := []struct {
		name  string
		given []domain.Event
		when  quota.SetBotsEnabled
		then  []domain.Event
	}{
		{name: "enabled by default", when: quota.SetBotsEnabled{Enabled: true, By: "admin", At: t0}},
		{name: "disable", when: quota.SetBotsEnabled{By: "admin", At: t0}, then: []domain.Event{disabled}},
		{name: "disable twice", given: []domain.Event{disabled}, when: quota.SetBotsEnabled{By: "admin", At: t0}},
		{
			name:  "enable",
			given: []domain.Event{disabled},
			when:  quota.SetBotsEnabled{Enabled: true, By: "ops", At: t0},
			then:  []domain.Event{quota.BotsEnabled{By: "ops", At: t0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s quota.SwitchState
			for _, e := range tt.given {
				s = quota.EvolveSwitch(s, e)
			}
			got, err := quota.DecideSwitch(s, tt.when)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.then) {
				t.Fatalf("events:\n got %#v\nwant %#v", got, tt.then)
			}
		})
	}
	s := quota.EvolveSwitch(quota.SwitchState{}, disabled)
	if s.Enabled() || !errors.Is(s.Check(), domain.ErrBotsDisabled) {
		t.Fatal("disabled switch")
	}
	if s = quota.EvolveSwitch(s, quota.BotsEnabled{At: t0}); !s.Enabled() || s.Check() != nil {
		t.Fatal("enabled switch")
	}
}
