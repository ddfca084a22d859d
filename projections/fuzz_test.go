package projections

import (
	"context"
	"testing"

	"switchboard/eventstore/memstore"
)

// FuzzUnmarshalSnapshot: no payload makes a projection panic, on restore
// or on the queries after it; one that restores re-encodes to a payload
// that restores to the same state.
func FuzzUnmarshalSnapshot(f *testing.F) {
	store := memstore.New()
	head := newWorld(11).fill(f, store, 2_000)
	set := rebuilt(f, store, head)
	for i, p := range set.All() {
		b, err := p.MarshalSnapshot()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		fresh := NewSet(store)
		p := fresh.All()[int(which)%len(fresh.All())]
		if err := p.UnmarshalSnapshot(data); err != nil {
			return
		}
		b, err := p.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		again := NewSet(store).All()[int(which)%len(fresh.All())]
		if err := again.UnmarshalSnapshot(b); err != nil {
			t.Fatalf("re-encoded snapshot does not restore: %v", err)
		}
		if b2, _ := again.MarshalSnapshot(); string(b2) != string(b) {
			t.Fatal("re-encoding is not stable")
		}
		ctx := context.Background()
		for _, r := range fresh.Directory.Rooms() {
			fresh.Directory.Members(r.ID)
			fresh.Directory.ReadMarkers(r.ID)
		}
		for id := range fresh.History.rooms {
			fresh.History.Latest(id)
			fresh.History.Since(ctx, id, 0)
			fresh.History.Page(ctx, id, 0, 10)
		}
		fresh.Presence.List("x")
		fresh.Quota.Outstanding()
		fresh.Sessions.Live()
		for _, p := range fresh.All() {
			p.(Dumper).Dump(discardWriter{})
		}
	})
}

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
