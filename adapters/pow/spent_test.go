package pow

import (
	"errors"
	"testing"
	"time"
)

func TestSpentSetEvictsExpiredAndNeverExceedsItsCap(t *testing.T) {
	t.Parallel()
	const max = 50
	s := newSpentSet(max)
	t0 := time.Unix(1_700_000_000, 0)
	id := func(i int) (b [32]byte) { b[0], b[1] = byte(i), byte(i>>8); return b }

	// Expiries out of insertion order: t0+1s, t0+2s, ... by i mod 7.
	accepted := 0
	for i := range 2 * max {
		err := s.spend(id(i), t0.Add(time.Duration(1+i%7)*time.Second), t0)
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, ErrUnavailable):
			t.Fatalf("spend %d: %v", i, err)
		}
		if n := s.len(); n > max {
			t.Fatalf("after spend %d the set holds %d entries, cap %d", i, n, max)
		}
	}
	if accepted != max {
		t.Fatalf("accepted %d, want %d", accepted, max)
	}
	if err := s.spend(id(0), t0.Add(time.Minute), t0); !errors.Is(err, ErrFailed) {
		t.Fatalf("re-spend of a remembered id: %v, want ErrFailed", err)
	}

	// At t0+3s, entries expiring at t0+1s..t0+3s are gone.
	if err := s.spend(id(1000), t0.Add(time.Minute), t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	want := 1
	for i := range max {
		if 1+i%7 > 3 {
			want++
		}
	}
	if n := s.len(); n != want {
		t.Fatalf("after eviction the set holds %d, want %d", n, want)
	}
	for i := 1; i < len(s.queue); i++ {
		if s.queue[(i-1)/2].expiry > s.queue[i].expiry {
			t.Fatalf("heap order broken at %d", i)
		}
	}
}
