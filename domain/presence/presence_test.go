package presence_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/presence"
)

var t0 = time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)

func changed(st, chosen presence.Status, why presence.Reason, at time.Time) presence.PresenceChanged {
	return presence.PresenceChanged{User: "u", Status: st, Chosen: chosen, Reason: why, At: at}
}

func beat(at time.Time) presence.HeartbeatRecorded {
	return presence.HeartbeatRecorded{User: "u", At: at}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := domain.DefaultPolicy()
	online := []domain.Event{changed(presence.Online, presence.Online, presence.ReasonConnected, t0), beat(t0)}
	busy := append(online[:2:2], changed(presence.Busy, presence.Busy, presence.ReasonStatus, t0))
	offlineBusy := append(busy[:3:3], changed(presence.Offline, presence.Busy, presence.ReasonDisconnected, t0.Add(time.Minute)))
	tests := []struct {
		name    string
		given   []domain.Event
		when    presence.Command
		then    []domain.Event
		wantErr error
	}{
		{
			name: "first connect goes online and records a heartbeat",
			when: presence.Connect{User: "u", At: t0},
			then: online,
		},
		{
			name:  "connect returns to the chosen status",
			given: offlineBusy,
			when:  presence.Connect{User: "u", At: t0.Add(2 * time.Minute)},
			then: []domain.Event{
				changed(presence.Busy, presence.Busy, presence.ReasonConnected, t0.Add(2*time.Minute)),
				beat(t0.Add(2 * time.Minute)),
			},
		},
		{
			name:  "reconnect within the heartbeat interval records no heartbeat",
			given: offlineBusy,
			when:  presence.Connect{User: "u", At: t0.Add(59 * time.Second)},
			then:  []domain.Event{changed(presence.Busy, presence.Busy, presence.ReasonConnected, t0.Add(59*time.Second))},
		},
		{
			name:  "a second connection changes nothing",
			given: online,
			when:  presence.Connect{User: "u", At: t0.Add(time.Second)},
		},
		{
			name:  "set status",
			given: online,
			when:  presence.SetStatus{User: "u", Status: presence.Away, At: t0},
			then:  []domain.Event{changed(presence.Away, presence.Away, presence.ReasonStatus, t0)},
		},
		{
			name:  "set the same status",
			given: busy,
			when:  presence.SetStatus{User: "u", Status: presence.Busy, At: t0},
		},
		{
			name:    "offline cannot be chosen",
			given:   online,
			when:    presence.SetStatus{User: "u", Status: presence.Offline, At: t0},
			wantErr: &domain.InvalidError{Field: "Status", Reason: "must be online, busy, away or invisible"},
		},
		{
			name:    "unknown status",
			given:   online,
			when:    presence.SetStatus{User: "u", Status: "dancing", At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:  "set status while offline comes back with a heartbeat",
			given: offlineBusy,
			when:  presence.SetStatus{User: "u", Status: presence.Invisible, At: t0.Add(5 * time.Minute)},
			then: []domain.Event{
				changed(presence.Invisible, presence.Invisible, presence.ReasonStatus, t0.Add(5*time.Minute)),
				beat(t0.Add(5 * time.Minute)),
			},
		},
		{
			name:  "heartbeat exactly one interval later is recorded",
			given: online,
			when:  presence.Heartbeat{User: "u", At: t0.Add(60 * time.Second)},
			then:  []domain.Event{beat(t0.Add(60 * time.Second))},
		},
		{
			name:  "heartbeat within the interval is coalesced",
			given: online,
			when:  presence.Heartbeat{User: "u", At: t0.Add(60*time.Second - time.Nanosecond)},
		},
		{
			name:  "heartbeat after a timeout brings the user back",
			given: append(busy[:3:3], changed(presence.Offline, presence.Busy, presence.ReasonTimeout, t0.Add(150*time.Second))),
			when:  presence.Heartbeat{User: "u", At: t0.Add(151 * time.Second)},
			then: []domain.Event{
				changed(presence.Busy, presence.Busy, presence.ReasonResumed, t0.Add(151*time.Second)),
				beat(t0.Add(151 * time.Second)),
			},
		},
		{
			name:  "disconnect",
			given: busy,
			when:  presence.Disconnect{User: "u", At: t0.Add(time.Minute)},
			then:  []domain.Event{changed(presence.Offline, presence.Busy, presence.ReasonDisconnected, t0.Add(time.Minute))},
		},
		{
			name:  "disconnect when offline",
			given: offlineBusy,
			when:  presence.Disconnect{User: "u", At: t0.Add(2 * time.Minute)},
		},
		{
			name: "disconnect a user never seen",
			when: presence.Disconnect{User: "u", At: t0},
		},
		{
			name:  "sweep exactly at the timeout",
			given: online,
			when:  presence.Sweep{User: "u", At: t0.Add(150 * time.Second)},
			then:  []domain.Event{changed(presence.Offline, presence.Online, presence.ReasonTimeout, t0.Add(150*time.Second))},
		},
		{
			name:  "sweep before the timeout",
			given: online,
			when:  presence.Sweep{User: "u", At: t0.Add(150*time.Second - time.Nanosecond)},
		},
		{
			name:  "sweep an offline user",
			given: offlineBusy,
			when:  presence.Sweep{User: "u", At: t0.Add(time.Hour)},
		},
		{
			name:    "command for another user's stream",
			given:   online,
			when:    presence.Heartbeat{User: "v", At: t0},
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "command without user",
			when:    presence.Connect{At: t0},
			wantErr: &domain.InvalidError{Field: "User", Reason: "missing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s presence.State
			for _, e := range tt.given {
				s = presence.Evolve(s, e)
			}
			got, err := presence.Decide(s, tt.when, p)
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

func TestVisibleStatus(t *testing.T) {
	t.Parallel()
	var s presence.State
	if s.Status() != presence.Offline || s.Chosen() != presence.Online || s.VisibleStatus() != presence.Offline {
		t.Fatalf("zero state: %v %v %v", s.Status(), s.Chosen(), s.VisibleStatus())
	}
	s = presence.Evolve(s, changed(presence.Invisible, presence.Invisible, presence.ReasonStatus, t0))
	if s.Status() != presence.Invisible || s.VisibleStatus() != presence.Offline {
		t.Fatalf("invisible: %v shown as %v", s.Status(), s.VisibleStatus())
	}
	s = presence.Evolve(s, changed(presence.Busy, presence.Busy, presence.ReasonStatus, t0))
	if s.VisibleStatus() != presence.Busy {
		t.Fatalf("busy shown as %v", s.VisibleStatus())
	}
	if presence.Stream("u") != "presence-u" {
		t.Fatal("Stream")
	}
}
