package projections

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain/presence"
	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
)

// TestRebuildAndVerify: rebuild writes snapshots at the head that verify
// accepts; a snapshot whose state differs from a full replay is reported
// with its first difference.
func TestRebuildAndVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	w := newWorld(10)
	head := w.fill(t, store, 3_000)
	dir := t.TempDir()

	var out strings.Builder
	if err := Verify(ctx, store, dir, &out); err != nil {
		t.Fatalf("verify without snapshots: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "history: no snapshot") {
		t.Errorf("verify without snapshots said:\n%s", out.String())
	}

	rep, err := Rebuild(ctx, store, dir, PresenceName, SessionsName)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Position != head || len(rep.Names) != 2 {
		t.Errorf("rebuild report %+v", rep)
	}
	if _, err := Rebuild(ctx, store, dir, "nonsense"); err == nil {
		t.Error("rebuild of an unknown projection: no error")
	}
	if _, err := Rebuild(ctx, store, dir); err != nil {
		t.Fatal(err)
	}
	w.fill(t, store, 500) // the snapshots now need a tail
	out.Reset()
	if err := Verify(ctx, store, dir, &out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if got := strings.Count(out.String(), ": ok ("); got != 5 {
		t.Errorf("verify said:\n%s", out.String())
	}

	// Tamper with presence: bob's status in the snapshot is not what the
	// log says.
	h, payload, err := ReadSnapshot(dir, PresenceName)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPresence()
	if err := p.UnmarshalSnapshot(payload); err != nil {
		t.Fatal(err)
	}
	victim := p.List("")[3].User
	p.Apply(eventstore.Record{ID: uuid.New()}, presence.PresenceChanged{User: victim, Status: presence.Away, Chosen: presence.Busy, At: time.Unix(0, 0)})
	payload, _ = p.MarshalSnapshot()
	if err := WriteSnapshot(dir, h, payload); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = Verify(ctx, store, dir, &out)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("verify of a tampered snapshot: %v\n%s", err, out.String())
	}
	s := out.String()
	if !strings.Contains(s, "presence: MISMATCH") || !strings.Contains(s, "user "+victim+" ") || !strings.Contains(s, "chosen=busy") || strings.Count(s, ": ok (") != 4 {
		t.Errorf("verify output:\n%s", s)
	}
	t.Logf("verify output:\n%s", s)
}
