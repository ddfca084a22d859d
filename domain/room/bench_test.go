package room_test

import (
	"strconv"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/room"
)

// benchRoom is a public room with 100 members who each posted 20 chats.
func benchRoom(p domain.Policy) room.State {
	s := room.New(p)
	for _, e := range created("general", room.Public) {
		s = room.Evolve(s, e)
	}
	seq := uint64(0)
	for u := range 100 {
		user := "user_" + strconv.Itoa(u)
		s = room.Evolve(s, room.MemberJoined{Room: "general", User: user, ClientID: "j", At: t0})
		for i := range 20 {
			seq++
			s = room.Evolve(s, room.MessagePosted{Room: "general", Seq: seq, Sender: user, Kind: room.KindChat, Text: "hello", ClientID: "m" + strconv.Itoa(i), At: t0.Add(-time.Hour)})
		}
	}
	return s
}

// BenchmarkDecidePostChat is the hot path: a chat on a cached room.
func BenchmarkDecidePostChat(b *testing.B) {
	p := domain.DefaultPolicy()
	s := benchRoom(p)
	var c room.Command = room.PostChat{Room: "general", By: "user_42", ClientID: "new-command-id", Text: "  Hello, world! How is everyone doing today? 🎵  ", At: t0}
	b.ReportAllocs()
	for b.Loop() {
		evs, err := room.Decide(s, c, p)
		if err != nil || len(evs) != 1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideEvolvePostChat is the whole decider cycle per chat: decide,
// then fold the event into the cached state, with distinct command ids and
// advancing time, as a busy room sees it.
func BenchmarkDecideEvolvePostChat(b *testing.B) {
	p := domain.DefaultPolicy()
	s := benchRoom(p)
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = "cmd-" + strconv.Itoa(i)
	}
	users := make([]string, 100)
	for i := range users {
		users[i] = "user_" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := room.PostChat{Room: "general", By: users[i%len(users)], ClientID: ids[i%len(ids)], Text: "Hello, world!", At: t0.Add(time.Duration(i) * 20 * time.Millisecond)}
		evs, err := room.Decide(s, c, p)
		if err != nil {
			b.Fatal(err)
		}
		s = room.Evolve(s, evs[0])
		i++
	}
}
