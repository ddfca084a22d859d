package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"switchboard/eventstore"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// The writer reserves space ahead of its writes in the newest segment;
// a crash leaves it as zeros, which the next open cuts off like a torn
// tail; a clean close, and the sealing of a segment, trim it.
func TestPreallocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	for i := range 50 {
		appendN(t, s, fmt.Sprintf("room-%d", i%4), 1+i%3)
	}
	seg := s.segments[len(s.segments)-1]
	path := segmentFile(t, dir)
	data := seg.size
	if runtime.GOOS == "linux" {
		if got := fileSize(t, path); got <= data {
			t.Fatalf("segment file of %d bytes for %d bytes of records: nothing preallocated", got, data)
		}
	}
	head, _ := s.Head(ctx)

	// A read-only view while the writer runs stops at the zeros.
	ro := mustOpen(t, dir, Options{ReadOnly: true})
	if got := readAll(t, ro); uint64(len(got)) != head {
		t.Fatalf("read-only view: %d records, head %d", len(got), head)
	}
	appendN(t, s, "room-late", 2)
	if h, _ := ro.Head(ctx); h != head+2 {
		t.Fatalf("read-only view: head %d after two more, want %d", h, head+2)
	}
	head += 2
	data = seg.size

	// "Crash": the files as they are now (the store stays open).
	crashed := copyDir(t, dir)
	c := mustOpen(t, crashed, Options{})
	if h, _ := c.Head(ctx); h != head {
		t.Fatalf("after a crash: head %d, want %d", h, head)
	}
	if got := fileSize(t, segmentFile(t, crashed)); got != data {
		t.Fatalf("after a crash: segment of %d bytes after open, want %d (zeros cut)", got, data)
	}
	if res, err := c.Append(ctx, "room-after", eventstore.NoStream, []eventstore.Proposed{rec("After", `{}`)}); err != nil || res.Position != head+1 {
		t.Fatalf("append after a crash: %v %+v", err, res)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path); got != data {
		t.Fatalf("after Close: segment of %d bytes, want %d", got, data)
	}
}

// A torn append followed by preallocated zeros is a torn tail, not
// damage: the open keeps the appends before it.
func TestTornTailBeforeZeros(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	appendN(t, s, "room-a", 3)
	keep := s.segments[0].size
	appendN(t, s, "room-b", 2)
	end := s.segments[0].size
	s.Close()
	full, err := os.ReadFile(segmentFile(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int64{keep + 1, keep + frameHeader + 3, (keep + end) / 2, end - 1} {
		d := t.TempDir()
		b := append(append([]byte(nil), full[:cut]...), make([]byte, 256<<10)...)
		if err := os.WriteFile(filepath.Join(d, segmentName(1)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Open(d, Options{})
		if err != nil {
			t.Fatalf("cut at %d, then zeros: %v", cut, err)
		}
		if h, _ := c.Head(context.Background()); h != 3 {
			t.Errorf("cut at %d, then zeros: head %d, want 3", cut, h)
		}
		c.Close()
		if got := fileSize(t, filepath.Join(d, segmentName(1))); got != keep {
			t.Errorf("cut at %d, then zeros: %d bytes after open, want %d", cut, got, keep)
		}
	}

	// Damage with records after it is not a tail, zeros or not.
	d := t.TempDir()
	b := append([]byte(nil), full...)
	b[keep+frameHeader] ^= 0xff // the first record of the second append
	b = append(b, make([]byte, 64<<10)...)
	if err := os.WriteFile(filepath.Join(d, segmentName(1)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := Open(d, Options{}); err == nil {
		c.Close()
		t.Fatal("a damaged record followed by a whole one opened as a torn tail")
	}
}

// Sealed segments end with their last record (no preallocated space),
// so their index files agree with them and the next open uses them.
func TestSealedSegmentsAreTrimmed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := Options{SegmentSize: 8 << 10}
	s := mustOpen(t, dir, opts)
	for i := range 200 {
		appendN(t, s, fmt.Sprintf("room-%d", i%5), 1+i%3)
	}
	if len(s.segments) < 4 {
		t.Fatalf("only %d segments", len(s.segments))
	}
	for _, seg := range s.segments[:len(s.segments)-1] {
		if got := fileSize(t, seg.path); got != seg.size {
			t.Errorf("sealed %s: %d bytes on disk, %d of records", filepath.Base(seg.path), got, seg.size)
		}
	}
	head, _ := s.Head(context.Background())
	s.Close()
	r := mustOpen(t, dir, opts)
	if h, _ := r.Head(context.Background()); h != head {
		t.Fatalf("reopened at %d, want %d", h, head)
	}
	if r.fromIndex != len(r.segments)-1 {
		t.Errorf("%d of %d sealed segments loaded from their index files", r.fromIndex, len(r.segments)-1)
	}
}
