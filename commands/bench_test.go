package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/room"
	"switchboard/eventstore/filestore"
)

// BenchmarkPostMessage drives PostChat through the whole write path on the
// embedded store: decode a client frame, load the cached room, decide,
// append durably (fdatasync, group commit). 256 posters over 100 rooms;
// the per-user rate limit is lifted for the run (the benchmark posts far
// faster than 20 per 30 s).
//
//	go test ./commands -run '^$' -bench PostMessage -benchmem
func BenchmarkPostMessage(b *testing.B) {
	const posters, rooms = 256, 100
	store, err := filestore.Open(b.TempDir(), filestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	p := domain.DefaultPolicy()
	p.ChatLimit = 0
	h, err := New(store, Config{Policy: p, Hasher: cheap})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	roomIDs := make([]string, rooms)
	for i := range roomIDs {
		if _, _, err := h.RegisterUser(ctx, RegisterUser{Handle: fmt.Sprintf("owner_%d", i), DisplayName: "Owner", Password: "long enough"}); err != nil {
			b.Fatal(err)
		}
		ack, err := h.CreateRoom(ctx, CreateRoom{User: fmt.Sprintf("owner_%d", i), ClientID: "c", Name: "Room", Visibility: room.Public})
		if err != nil {
			b.Fatal(err)
		}
		roomIDs[i] = ack.Room
	}
	for i := range posters {
		u := fmt.Sprintf("poster_%d", i)
		if _, _, err := h.RegisterUser(ctx, RegisterUser{Handle: u, DisplayName: u, Password: "long enough"}); err != nil {
			b.Fatal(err)
		}
		if _, err := h.JoinRoom(ctx, JoinRoom{Room: roomIDs[i%rooms], User: u, ClientID: "j"}); err != nil {
			b.Fatal(err)
		}
	}
	type frame struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Room string `json:"room"`
		Text string `json:"text"`
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := fmt.Sprintf("poster_%d", i)
			r := roomIDs[i%rooms]
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				raw := []byte(`{"type":"chat","id":"` + fmt.Sprint(n) + `","room":"` + r + `","text":"hello, this is a message of typical length"}`)
				var f frame
				if err := json.Unmarshal(raw, &f); err != nil {
					b.Error(err)
					return
				}
				if _, err := h.PostChat(ctx, PostChat{Room: f.Room, User: u, ClientID: f.ID, Text: f.Text}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commands/s")
}
