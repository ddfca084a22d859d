package projections

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"switchboard/eventstore"
)

// ErrMismatch is wrapped by Verify's error when a stored snapshot plus the
// log after it does not give the state a full replay gives.
var ErrMismatch = errors.New("projections: snapshot differs from a full replay")

// RebuildReport says what Rebuild did.
type RebuildReport struct {
	Names    []string      // the projections rebuilt
	Position uint64        // the log position the new snapshots are at
	Took     time.Duration // replay and snapshot writing
}

// Rebuild replays the log from position zero up to its current head into
// fresh projections (those named, or all) and atomically replaces their
// snapshots in dir. It works on a log opened read-only beside a running
// server; that server keeps its own state in memory and may overwrite the
// rebuilt snapshots with its next periodic or final snapshot (equal, if it
// runs the same code: projections are deterministic). A server started
// afterwards loads the rebuilt snapshots.
func Rebuild(ctx context.Context, store eventstore.Store, dir string, names ...string) (RebuildReport, error) {
	start := time.Now()
	ps, err := NewSet(nil).Select(names...)
	if err != nil {
		return RebuildReport{}, err
	}
	entries, err := newEntries(ps)
	if err != nil {
		return RebuildReport{}, err
	}
	head, err := store.Head(ctx)
	if err != nil {
		return RebuildReport{}, err
	}
	if err := replay(ctx, store, entries, head, discard); err != nil {
		return RebuildReport{}, err
	}
	rep := RebuildReport{Position: head}
	for _, e := range entries {
		payload, err := e.p.MarshalSnapshot()
		if err != nil {
			return rep, fmt.Errorf("projections: %s: %w", e.p.Name(), err)
		}
		if err := WriteSnapshot(dir, SnapshotHeader{Name: e.p.Name(), Position: head, LastID: e.lastID}, payload); err != nil {
			return rep, fmt.Errorf("projections: %s: %w", e.p.Name(), err)
		}
		rep.Names = append(rep.Names, e.p.Name())
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// Verify checks every projection's stored snapshot in dir: it replays the
// log from zero into fresh projections and, in the same pass, the records
// after each snapshot into the projection restored from it, up to the
// log's head, and compares the two states' canonical encodings. It writes
// one line per projection to w, with the first difference of each that
// differs, and returns an error wrapping ErrMismatch if any does (a damaged
// or unusable snapshot counts as a difference; a missing one does not).
// Like Rebuild, it works beside a running server.
func Verify(ctx context.Context, store eventstore.Store, dir string, w io.Writer) error {
	full, err := newEntries(NewSet(nil).All())
	if err != nil {
		return err
	}
	stored, err := newEntries(NewSet(nil).All())
	if err != nil {
		return err
	}
	var files []snapFile
	problems := make(map[string]string)
	for _, e := range stored {
		f := loadSnapshots(dir, []*entry{e}, func(format string, args ...any) {
			problems[e.p.Name()] = fmt.Sprintf(format, args...)
		})
		files = append(files, f...)
	}
	has := make(map[string]uint64)
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := useSnapshot(ctx, store, head, f); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			problems[f.e.p.Name()] = fmt.Sprintf("unusable snapshot: %v", err)
			continue
		}
		has[f.e.p.Name()] = f.h.Position
	}
	if err := replay(ctx, store, append(full, stored...), head, discard); err != nil {
		return err
	}
	bad := 0
	for i, e := range full {
		name := e.p.Name()
		if p, ok := problems[name]; ok {
			bad++
			fmt.Fprintf(w, "%s: FAILED: %s\n", name, p)
			continue
		}
		snap, ok := has[name]
		if !ok {
			fmt.Fprintf(w, "%s: no snapshot (full replay of %d records; nothing to compare)\n", name, head)
			continue
		}
		a, err := e.p.MarshalSnapshot()
		if err != nil {
			return err
		}
		b, err := stored[i].p.MarshalSnapshot()
		if err != nil {
			return err
		}
		if bytes.Equal(a, b) {
			fmt.Fprintf(w, "%s: ok (snapshot at %d + %d records = full replay of %d records)\n", name, snap, head-snap, head)
			continue
		}
		bad++
		fmt.Fprintf(w, "%s: MISMATCH at position %d (snapshot at %d + %d records vs full replay):\n%s", name, head, snap, head-snap, FirstDifference(e.p, stored[i].p, "full replay", "snapshot+tail"))
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d projections", ErrMismatch, bad, len(full))
	}
	return nil
}

// FirstDifference describes where the states of two projections of the
// same kind first differ: the first differing line of their dumps when
// they are Dumpers, else the first differing byte of their snapshots. It
// returns "" when they are equal.
func FirstDifference(a, b Projection, nameA, nameB string) string {
	da, okA := a.(Dumper)
	db, okB := b.(Dumper)
	if okA && okB {
		var ba, bb bytes.Buffer
		if da.Dump(&ba) == nil && db.Dump(&bb) == nil {
			la, lb := lines(ba.String()), lines(bb.String())
			for i := 0; i < max(len(la), len(lb)); i++ {
				x, y := at(la, i), at(lb, i)
				if x != y {
					w := max(len(nameA), len(nameB)) + 1
					return fmt.Sprintf("  first difference at line %d of the dump:\n  %-*s %s\n  %-*s %s\n", i+1, w, nameA+":", x, w, nameB+":", y)
				}
			}
		}
	}
	sa, errA := a.MarshalSnapshot()
	sb, errB := b.MarshalSnapshot()
	if errA != nil || errB != nil {
		return fmt.Sprintf("  cannot encode: %v %v\n", errA, errB)
	}
	i := 0
	for i < len(sa) && i < len(sb) && sa[i] == sb[i] {
		i++
	}
	if i == len(sa) && i == len(sb) {
		return ""
	}
	ctx := func(s []byte) string {
		lo, hi := max(i-16, 0), min(i+16, len(s))
		return fmt.Sprintf("% x", s[lo:hi])
	}
	return fmt.Sprintf("  first difference at byte %d of the snapshot payload (%d vs %d bytes):\n  %s: %s\n  %s: %s\n", i, len(sa), len(sb), nameA, ctx(sa), nameB, ctx(sb))
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func at(ls []string, i int) string {
	if i < len(ls) {
		return ls[i]
	}
	return "(end)"
}
