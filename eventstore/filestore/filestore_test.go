package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

func mustOpen(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rec(typ string, data string) eventstore.Proposed {
	return eventstore.Proposed{ID: uuid.New(), Type: typ, Data: json.RawMessage(data)}
}

func appendN(t *testing.T, s eventstore.Store, stream string, n int) []eventstore.Proposed {
	t.Helper()
	recs := make([]eventstore.Proposed, n)
	for i := range recs {
		recs[i] = rec("Counted", fmt.Sprintf(`{"i":%d}`, i))
	}
	if _, err := s.Append(context.Background(), stream, eventstore.Any, recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

func readAll(t *testing.T, s eventstore.Store) []eventstore.Record {
	t.Helper()
	var out []eventstore.Record
	for from := uint64(1); ; {
		recs, err := s.ReadAll(context.Background(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].Position + 1
	}
}

func segmentFile(t *testing.T, dir string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(matches) != 1 {
		t.Fatalf("want one segment, have %v", matches)
	}
	return matches[0]
}

// TestTornTail cuts the log at every byte offset inside its last three
// appends: every cut opens, keeps exactly the appends that are whole, and
// accepts new appends after the cut.
func TestTornTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	for i := range 10 {
		appendN(t, s, fmt.Sprintf("room-%d", i%3), 1+i%3)
	}
	var ends []int64 // file size after each of the last three appends
	var heads []uint64
	for i := range 3 {
		appendN(t, s, "room-tail", 1+i)
		ends = append(ends, s.segments[0].size)
		heads = append(heads, s.head)
	}
	s.Close()
	path := segmentFile(t, dir)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before := ends[0] - (ends[1] - ends[0]) // a little before the first of the three
	if before < 0 {
		before = 0
	}
	cuts := 0
	for cut := before; cut <= int64(len(full)); cut++ {
		wantHead, wantSize := heads[0]-1, int64(-1)
		for i := range ends {
			if cut >= ends[i] {
				wantHead, wantSize = heads[i], ends[i]
			}
		}
		d := filepath.Join(t.TempDir(), "cut")
		os.MkdirAll(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, filepath.Base(path)), full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Open(d, Options{})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		head, _ := c.Head(context.Background())
		if wantSize >= 0 && head != wantHead {
			t.Fatalf("cut at %d: head %d, want %d", cut, head, wantHead)
		}
		if wantSize < 0 && head > wantHead {
			t.Fatalf("cut at %d: head %d, want at most %d", cut, head, wantHead)
		}
		got := readAll(t, c)
		if uint64(len(got)) != head {
			t.Fatalf("cut at %d: read %d records, head %d", cut, len(got), head)
		}
		if fi, _ := os.Stat(filepath.Join(d, filepath.Base(path))); wantSize >= 0 && fi.Size() != wantSize {
			t.Fatalf("cut at %d: file is %d bytes after open, want %d", cut, fi.Size(), wantSize)
		}
		res, err := c.Append(context.Background(), "room-after", eventstore.NoStream, []eventstore.Proposed{rec("After", `{}`)})
		if err != nil || res.Position != head+1 {
			t.Fatalf("cut at %d: append after cut: %v %+v", cut, err, res)
		}
		c.Close()
		cuts++
	}
	if cuts < 100 {
		t.Fatalf("only %d cuts tried", cuts)
	}
}

// TestCorruptionRefusesToOpen flips one byte of a record in the middle of
// the log: Open fails naming the file and offset; Repair cuts there.
func TestCorruptionRefusesToOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	for i := range 20 {
		appendN(t, s, fmt.Sprintf("room-%d", i%4), 1)
	}
	victim := s.segments[0].offsets[9]
	s.Close()
	path := segmentFile(t, dir)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, victim+40)
	b[0] ^= 0x5a
	f.WriteAt(b, victim+40)
	f.Close()

	_, err = Open(dir, Options{})
	if !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != path || ce.Offset != victim {
		t.Fatalf("error %v does not name %s at %d", err, path, victim)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprint(victim)) {
		t.Fatalf("message %q lacks file or offset", err)
	}

	r, err := Open(dir, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h, _ := r.Head(context.Background()); h != 9 {
		t.Fatalf("after repair head %d, want 9", h)
	}
}

// TestSecondWriterIsRefused: a second open of the same directory for
// writing gets ErrLocked; a read-only open works beside the writer.
func TestSecondWriterIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	appendN(t, s, "room-a", 3)
	_, err := Open(dir, Options{})
	if !errors.Is(err, eventstore.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second open: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	ro := mustOpen(t, dir, Options{ReadOnly: true, PollInterval: 5 * time.Millisecond})
	if got := readAll(t, ro); len(got) != 3 {
		t.Fatalf("read-only sees %d records", len(got))
	}
	if _, err := ro.Append(context.Background(), "room-a", eventstore.Any, []eventstore.Proposed{rec("X", `{}`)}); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append to read-only: %v", err)
	}
	// A read-only subscription follows what the writer adds.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := ro.Subscribe(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	want := appendN(t, s, "room-b", 2)
	for i := range want {
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.ID != want[i].ID || r.Position != uint64(4+i) {
			t.Fatalf("followed %v at %d, want %v at %d", r.ID, r.Position, want[i].ID, 4+i)
		}
	}
	s.Close()
	if s2, err := Open(dir, Options{}); err != nil {
		t.Fatalf("reopen after the writer closed: %v", err)
	} else {
		s2.Close()
	}
}

// faultFile injects a full disk (writes past a byte budget fail with
// ENOSPC after writing part of the data, like a real full disk) and a
// failing sync.
type faultFile struct {
	File
	mu       *sync.Mutex
	budget   *int64 // bytes that may still be written; <0 unlimited
	syncFail *error
}

func (f faultFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *f.budget >= 0 && int64(len(p)) > *f.budget {
		n, _ := f.File.WriteAt(p[:*f.budget], off)
		*f.budget = 0
		return n, &os.PathError{Op: "write", Path: "segment", Err: syscall.ENOSPC}
	}
	if *f.budget >= 0 {
		*f.budget -= int64(len(p))
	}
	return f.File.WriteAt(p, off)
}

func (f faultFile) Sync() error {
	f.mu.Lock()
	err := *f.syncFail
	*f.syncFail = nil
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Sync()
}

func (f faultFile) Stat() (os.FileInfo, error) {
	return f.File.(osFile).Stat()
}

// TestDiskFull: appends fail with ErrStorageFull, nothing partial stays on
// disk, and appends work again once space is freed, without a restart.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	budget := int64(-1)
	var syncFail error
	s := mustOpen(t, dir, Options{WrapFile: func(f File) File {
		return faultFile{File: f, mu: &mu, budget: &budget, syncFail: &syncFail}
	}})
	acked := appendN(t, s, "room-a", 5)
	mu.Lock()
	budget = 700 // room for about two more records
	mu.Unlock()
	ctx := context.Background()
	var full error
	for i := 0; i < 10 && full == nil; i++ {
		r := rec("Counted", `{"more":true}`)
		if _, err := s.Append(ctx, "room-a", eventstore.Any, []eventstore.Proposed{r}); err != nil {
			full = err
		} else {
			acked = append(acked, r)
		}
	}
	if !errors.Is(full, eventstore.ErrStorageFull) {
		t.Fatalf("append on a full disk: %v, want ErrStorageFull", full)
	}
	fi, _ := os.Stat(segmentFile(t, dir))
	if fi.Size() != s.segments[0].size {
		t.Fatalf("file is %d bytes, committed %d: a partial write was left", fi.Size(), s.segments[0].size)
	}
	mu.Lock()
	budget = -1 // space freed
	mu.Unlock()
	r := rec("Counted", `{"after":true}`)
	if _, err := s.Append(ctx, "room-a", eventstore.Any, []eventstore.Proposed{r}); err != nil {
		t.Fatalf("append after space was freed: %v", err)
	}
	acked = append(acked, r)
	s.Close()
	s2 := mustOpen(t, dir, Options{})
	got := readAll(t, s2)
	if len(got) != len(acked) {
		t.Fatalf("%d records after reopen, %d acknowledged", len(got), len(acked))
	}
	for i := range got {
		if got[i].ID != acked[i].ID {
			t.Fatalf("record %d is %v, want %v", i, got[i].ID, acked[i].ID)
		}
	}
}

// TestSyncFailureIsNotAcknowledged: a failed fdatasync acknowledges
// nothing; the batch is cut away (and the cut synced) rather than the sync
// retried, since the kernel may have dropped the dirty pages.
func TestSyncFailureIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	budget := int64(-1)
	var syncFail error
	s := mustOpen(t, dir, Options{WrapFile: func(f File) File {
		return faultFile{File: f, mu: &mu, budget: &budget, syncFail: &syncFail}
	}})
	appendN(t, s, "room-a", 2)
	mu.Lock()
	syncFail = &os.PathError{Op: "fdatasync", Path: "segment", Err: syscall.EIO}
	mu.Unlock()
	ctx := context.Background()
	_, err := s.Append(ctx, "room-a", eventstore.Any, []eventstore.Proposed{rec("Lost", `{}`)})
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append with failing sync: %v", err)
	}
	if _, err := s.Append(ctx, "room-a", eventstore.Any, []eventstore.Proposed{rec("After", `{}`)}); err != nil {
		// The cut was synced, so the log is consistent and the writer goes on.
		t.Fatalf("append after a failed sync whose cut succeeded: %v", err)
	}
	s.Close()
	s2 := mustOpen(t, dir, Options{})
	got := readAll(t, s2)
	if len(got) != 3 || got[2].Type != "After" {
		t.Fatalf("after reopen: %d records (%v)", len(got), got)
	}
}

// TestSegmentsRoll: a small segment size spreads the log over several
// files; reads, reopen and subscriptions cross the boundaries.
func TestSegmentsRoll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentSize: 4096, CacheRecords: 8})
	var ids []uuid.UUID
	for i := range 60 {
		for _, r := range appendN(t, s, fmt.Sprintf("room-%d", i%5), 1+i%4) {
			ids = append(ids, r.ID)
		}
	}
	if len(s.segments) < 5 {
		t.Fatalf("only %d segments", len(s.segments))
	}
	check := func(s *Store) {
		got := readAll(t, s)
		if len(got) != len(ids) {
			t.Fatalf("%d records, want %d", len(got), len(ids))
		}
		for i := range got {
			if got[i].ID != ids[i] || got[i].Position != uint64(i+1) {
				t.Fatalf("record %d: %v at %d", i, got[i].ID, got[i].Position)
			}
		}
		back, err := s.ReadStream(context.Background(), "room-0", eventstore.Backwards, eventstore.End, 1000)
		if err != nil || len(back) == 0 {
			t.Fatal(err)
		}
		for i := 1; i < len(back); i++ {
			if back[i].Revision != back[i-1].Revision-1 {
				t.Fatalf("backwards read out of order")
			}
		}
	}
	check(s)
	s.Close()
	check(mustOpen(t, dir, Options{SegmentSize: 4096, CacheRecords: 8}))
}

// TestReadOnlyOfMissingLog gives a clear error.
func TestReadOnlyOfMissingLog(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nothing"), Options{ReadOnly: true})
	if err == nil || !strings.Contains(err.Error(), "no log") {
		t.Fatalf("open of a missing log: %v", err)
	}
}

var _ io.ReaderAt = faultFile{}
