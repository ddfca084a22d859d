package room_test

import (
	"errors"
	"fmt"
	"time"

	"switchboard/domain"
	"switchboard/domain/room"
)

// A command handler's loop: decide on the cached state, append the events
// (not shown), then fold them into the cache. A resend of an applied
// command is answered from the DuplicateError, with nothing appended.
func Example() {
	p := domain.DefaultPolicy()
	s := room.New(p)
	at := time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC)

	apply := func(c room.Command) {
		evs, err := room.Decide(s, c, p)
		var dup *domain.DuplicateError
		switch {
		case errors.As(err, &dup):
			fmt.Printf("resend: ack seq %d again\n", dup.Seq)
			return
		case err != nil:
			fmt.Println("rejected:", err)
			return
		}
		// store.Append(ctx, room.Stream(...), revision, evs...) goes here.
		for _, e := range evs {
			s = room.Evolve(s, e)
			if m, ok := e.(room.MessagePosted); ok {
				fmt.Printf("ack seq %d: %q\n", m.Seq, m.Text)
			}
		}
	}

	apply(room.Create{Room: "general", Name: "General Chat", Visibility: room.Public, By: "user_1", ClientID: "1", At: at})
	apply(room.PostChat{Room: "general", By: "user_1", ClientID: "2", Text: " hello ", At: at})
	apply(room.PostChat{Room: "general", By: "user_1", ClientID: "2", Text: " hello ", At: at.Add(time.Second)})
	apply(room.PostChat{Room: "general", By: "user_2", ClientID: "1", Text: "hi", At: at})
	fmt.Println("members:", s.Members(), "last seq:", s.LastSeq())

	// Output:
	// ack seq 1: "hello"
	// resend: ack seq 1 again
	// rejected: domain: not a member
	// members: [user_1] last seq: 1
}
