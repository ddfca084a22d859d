package commands

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The IDs derived from names are the same as uuid.NewSHA1's: they are
// stored in the log, and a retry after an upgrade must find its original.
func TestNameUUIDIsNewSHA1(t *testing.T) {
	trigger := uuid.MustParse("6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b")
	long := strings.Repeat("long name ", 40) // beyond the stack buffer
	for _, tc := range []struct {
		got  uuid.UUID
		want uuid.UUID
	}{
		{ClientCommandID("alice", "c-1"), uuid.NewSHA1(nsClient, []byte("alice\x00c-1"))},
		{ClientCommandID("", ""), uuid.NewSHA1(nsClient, []byte("\x00"))},
		{ClientCommandID("bob", long), uuid.NewSHA1(nsClient, []byte("bob\x00"+long))},
		{ReactionID(trigger, "reply"), uuid.NewSHA1(nsReaction, append(trigger[:], "reply"...))},
		{SystemCommandID("sweep 12"), uuid.NewSHA1(nsSystem, []byte("sweep 12"))},
		{eventID(trigger, "room-lobby", 0), uuid.NewSHA1(trigger, []byte("room-lobby\x000"))},
		{eventID(trigger, "room-lobby", 1234), uuid.NewSHA1(trigger, []byte("room-lobby\x001234"))},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	for i := range 200 {
		name := fmt.Sprint("u", i)
		if got, want := eventID(nsSystem, name, i), uuid.NewSHA1(nsSystem, []byte(name+"\x00"+strconv.Itoa(i))); got != want {
			t.Fatalf("eventID(%q, %d) = %s, want %s", name, i, got, want)
		}
	}
}

func TestNameUUIDDoesNotAllocate(t *testing.T) {
	trigger := uuid.New()
	if n := testing.AllocsPerRun(100, func() {
		eventID(trigger, "room-general", 3)
		ClientCommandID("alice", "c-123")
		ReactionID(trigger, "reply")
	}); n != 0 {
		t.Fatalf("%.0f allocations per three IDs", n)
	}
}
