package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
)

// hashes returns a stable hash of each projection's state: the SHA-256 of
// its snapshot encoding.
func hashes(tb testing.TB, ps []Projection) map[string]string {
	tb.Helper()
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		b, err := p.MarshalSnapshot()
		if err != nil {
			tb.Fatalf("%s: %v", p.Name(), err)
		}
		sum := sha256.Sum256(b)
		out[p.Name()] = hex.EncodeToString(sum[:])
	}
	return out
}

// rebuilt replays store up to head into fresh projections.
func rebuilt(tb testing.TB, store eventstore.Store, head uint64) *Set {
	tb.Helper()
	set := NewSet(store)
	entries, err := newEntries(set.All())
	if err != nil {
		tb.Fatal(err)
	}
	if err := replay(context.Background(), store, entries, head, tb.Logf); err != nil {
		tb.Fatal(err)
	}
	return set
}

// sameState fails the test at the first projection whose state differs,
// showing the first difference.
func sameState(tb testing.TB, want, got *Set, wantName, gotName string) {
	tb.Helper()
	hw, hg := hashes(tb, want.All()), hashes(tb, got.All())
	for i, p := range want.All() {
		if hw[p.Name()] != hg[p.Name()] {
			tb.Errorf("%s: state differs:\n%s", p.Name(), FirstDifference(p, got.All()[i], wantName, gotName))
		}
	}
}

// TestRebuildDeterminism: 100,000 random events applied live, while they
// are appended and with listeners attached, give the same state, byte for
// byte, as a rebuild from zero; and two rebuilds agree.
func TestRebuildDeterminism(t *testing.T) {
	t.Parallel()
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	ctx := context.Background()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	live := NewSet(store)
	r, err := NewRunner(store, Options{Logf: t.Logf}, live.All()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	// Listeners that read, and one that never does: the runner must get
	// past both.
	var wg sync.WaitGroup
	for _, topics := range [][]Topic{{PresenceTopic()}, {DirectoryTopic(), UserTopic("user_1")}} {
		l := r.Hub().Listen(64, topics...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range l.C() {
			}
		}()
		t.Cleanup(l.Close)
	}
	stuck := r.Hub().Listen(1, PresenceTopic())
	w := newWorld(1)
	var head uint64
	for head < uint64(n) {
		head = w.fill(t, store, 1000)
		l := r.Hub().Listen(16, RoomTopic(w.rooms[0]), RoomTopic(w.rooms[len(w.rooms)-1]))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range l.C() {
			}
		}()
		t.Cleanup(l.Close)
	}
	if err := r.Sync(ctx, head); err != nil {
		t.Fatal(err)
	}
	if _, open := <-stuck.C(); open {
		if _, open = <-stuck.C(); open {
			t.Error("a listener that never reads was not dropped")
		}
	}
	if err := stuck.Err(); err != ErrResync {
		t.Errorf("stuck listener: Err() = %v, want ErrResync", err)
	}

	first := rebuilt(t, store, head)
	sameState(t, first, live, "rebuild", "live")
	second := rebuilt(t, store, head)
	for i, p := range first.All() {
		a, _ := p.MarshalSnapshot()
		b, _ := second.All()[i].MarshalSnapshot()
		if string(a) != string(b) {
			t.Errorf("%s: two rebuilds encode differently", p.Name())
		}
	}

	// The log was realistic: every projection has something in it.
	var dump strings.Builder
	for _, p := range live.All() {
		before := dump.Len()
		p.(Dumper).Dump(&dump)
		if dump.Len() == before {
			t.Errorf("%s: empty after %d events", p.Name(), head)
		}
	}
	t.Logf("%d events; state hashes %v", head, hashes(t, live.All()))
}

// TestSnapshotPlusTail: restoring a snapshot taken at any position and
// applying the rest of the log equals a full replay.
func TestSnapshotPlusTail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	head := newWorld(2).fill(t, store, 20_000)
	full := rebuilt(t, store, head)

	for _, cut := range []uint64{1, 777, head / 3, head / 2, head - 1, head} {
		at := rebuilt(t, store, cut)
		restored := NewSet(store)
		entries, _ := newEntries(restored.All())
		for i, p := range at.All() {
			b, err := p.MarshalSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			if err := entries[i].p.UnmarshalSnapshot(b); err != nil {
				t.Fatalf("%s: %v", p.Name(), err)
			}
			entries[i].pos.Store(cut)
		}
		if err := replay(ctx, store, entries, head, t.Logf); err != nil {
			t.Fatal(err)
		}
		sameState(t, full, restored, "full replay", "snapshot+tail")
	}
}

// TestMixedCheckpoints: projections restored at different positions each
// replay only what they lack, in one pass, and end equal to a full replay.
func TestMixedCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	head := newWorld(3).fill(t, store, 10_000)
	full := rebuilt(t, store, head)

	mixed := NewSet(store)
	entries, _ := newEntries(mixed.All())
	for i, e := range entries {
		cut := head * uint64(i) / uint64(len(entries))
		b, _ := rebuilt(t, store, cut).All()[i].MarshalSnapshot()
		if err := e.p.UnmarshalSnapshot(b); err != nil {
			t.Fatal(err)
		}
		e.pos.Store(cut)
	}
	if err := replay(ctx, store, entries, head, t.Logf); err != nil {
		t.Fatal(err)
	}
	sameState(t, full, mixed, "full replay", "mixed checkpoints")
}
