package projections

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
	"switchboard/eventstore/memstore"
)

func openFilestore(tb testing.TB, dir string) *filestore.Store {
	tb.Helper()
	s, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// logLines collects a runner's log for assertions.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestRestartFromSnapshots: a runner snapshots periodically and on Close;
// the next one starts from the snapshots (caught up at once, nothing
// replayed), follows new records, and matches a full replay.
func TestRestartFromSnapshots(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	snaps := SnapshotDir(data)
	store := openFilestore(t, data)
	w := newWorld(4)
	head := w.fill(t, store, 5_000)

	r1, _ := startRunner(t, store, Options{SnapshotDir: snaps, SnapshotEvery: 1000})
	if err := r1.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	head = w.fill(t, store, 500)
	if err := r1.Sync(ctx, head); err != nil {
		t.Fatal(err)
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		h, _, err := ReadSnapshot(snaps, name)
		if err != nil {
			t.Fatal(err)
		}
		if h.Position != head {
			t.Errorf("%s: final snapshot at %d, want %d", name, h.Position, head)
		}
	}

	r2, set := startRunner(t, store, Options{SnapshotDir: snaps})
	if got := r2.Applied(); got != head {
		t.Errorf("restarted runner begins at %d, want %d (the snapshots' position)", got, head)
	}
	if !r2.Ready() {
		t.Error("not ready at once with snapshots at the head")
	}
	head = w.fill(t, store, 2_000)
	if err := r2.Sync(ctx, head); err != nil {
		t.Fatal(err)
	}
	sameState(t, rebuilt(t, store, head), set, "full replay", "snapshot+live")
}

// TestDamagedSnapshot: a damaged snapshot, a stray temporary file (a crash
// mid-write) and a snapshot of another log are ignored: those projections
// replay from zero, the others start from their snapshots, and all end as
// a full replay.
func TestDamagedSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	snaps := SnapshotDir(data)
	store := openFilestore(t, data)
	head := newWorld(5).fill(t, store, 3_000)
	if _, err := Rebuild(ctx, store, snaps); err != nil {
		t.Fatal(err)
	}

	// Presence: one flipped byte.
	path := SnapshotPath(snaps, PresenceName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Quota: the snapshot of another log, labelled with our head so that
	// only the record ID gives it away.
	other := memstore.New()
	t.Cleanup(func() { other.Close() })
	newWorld(99).fill(t, other, int(head))
	otherDir := t.TempDir()
	if _, err := Rebuild(ctx, other, otherDir, QuotaName); err != nil {
		t.Fatal(err)
	}
	oh, payload, err := ReadSnapshot(otherDir, QuotaName)
	if err != nil {
		t.Fatal(err)
	}
	oh.Position = head
	if err := WriteSnapshot(snaps, oh, payload); err != nil {
		t.Fatal(err)
	}
	// History: a crash mid-write left half a temporary file.
	hb, _ := os.ReadFile(SnapshotPath(snaps, HistoryName))
	if err := os.WriteFile(filepath.Join(snaps, HistoryName+".snap.tmp-123"), hb[:len(hb)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	var log logLines
	r, set := startRunner(t, store, Options{SnapshotDir: snaps, Logf: log.logf})
	cp := r.Checkpoints()
	if cp[PresenceName] != 0 || cp[HistoryName] != head || cp[SessionsName] != head {
		t.Errorf("checkpoints after start: %v (want presence at 0, the others at %d)", cp, head)
	}
	if cp[QuotaName] != 0 {
		t.Errorf("quota restored from another log's snapshot: checkpoint %d", cp[QuotaName])
	}
	if err := r.Sync(ctx, head); err != nil {
		t.Fatal(err)
	}
	sameState(t, rebuilt(t, store, head), set, "full replay", "after damage")
	if s := log.String(); !strings.Contains(s, "presence replays from zero") || !strings.Contains(s, "checksum") {
		t.Errorf("damage not logged:\n%s", s)
	}
}

// TestSnapshotBeyondHead: a snapshot ahead of the log (the log was cut by
// repair) is refused.
func TestSnapshotBeyondHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	head := newWorld(6).fill(t, store, 500)
	snaps := t.TempDir()
	set := rebuilt(t, store, head)
	payload, _ := set.Directory.MarshalSnapshot()
	if err := WriteSnapshot(snaps, SnapshotHeader{Name: DirectoryName, Position: head + 10}, payload); err != nil {
		t.Fatal(err)
	}
	var log logLines
	r, _ := startRunner(t, store, Options{SnapshotDir: snaps, Logf: log.logf})
	if cp := r.Checkpoints()[DirectoryName]; cp != 0 {
		t.Errorf("directory restored at %d from a snapshot beyond the head", cp)
	}
	if err := r.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "beyond the log's head") {
		t.Errorf("not logged:\n%s", log.String())
	}
}

// TestSnapshotFile: every truncation and every flipped bit of a snapshot
// file is detected.
func TestSnapshotFile(t *testing.T) {
	t.Parallel()
	h := SnapshotHeader{Name: "history", Position: 42}
	h.LastID[3] = 7
	b := EncodeSnapshot(h, []byte("payload bytes"))
	got, payload, err := DecodeSnapshot(b)
	if err != nil || got != h || string(payload) != "payload bytes" {
		t.Fatalf("round trip: %+v %q %v", got, payload, err)
	}
	for n := 0; n < len(b); n++ {
		if _, _, err := DecodeSnapshot(b[:n]); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := 0; i < len(b)*8; i++ {
		c := append([]byte(nil), b...)
		c[i/8] ^= 1 << (i % 8)
		if _, _, err := DecodeSnapshot(c); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
	dir := t.TempDir()
	if err := WriteSnapshot(dir, h, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteSnapshot(dir, h, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := ReadSnapshot(dir, "history"); err != nil || string(p) != "two" {
		t.Fatalf("after replacing: %q %v", p, err)
	}
	if _, _, err := ReadSnapshot(dir, "presence"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing snapshot: %v", err)
	}
	os.Rename(SnapshotPath(dir, "history"), SnapshotPath(dir, "presence"))
	if _, _, err := ReadSnapshot(dir, "presence"); !errors.Is(err, ErrBadSnapshot) {
		t.Errorf("snapshot of another projection: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// TestSync: Sync returns once a position is applied, honours its context,
// and fails once the runner is closed.
func TestSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	r, set := startRunner(t, store, Options{})
	if err := r.Sync(ctx, 0); err != nil {
		t.Fatal(err)
	}
	w := newWorld(7)
	done := make(chan error, 1)
	go func() { done <- r.Sync(ctx, 50) }()
	head := w.fill(t, store, 60)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Applied() < 50 {
		t.Errorf("Sync(50) returned at %d", r.Applied())
	}
	if err := r.Sync(ctx, head); err != nil {
		t.Fatal(err)
	}
	if got := len(set.Directory.Users()); got == 0 {
		t.Error("no users after Sync")
	}
	if lag, err := r.Lag(ctx); err != nil || lag != 0 {
		t.Errorf("Lag = %d, %v", lag, err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := r.Sync(short, head+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Sync beyond the head with a deadline: %v", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- r.Sync(ctx, head+1000) }()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Errorf("Sync across Close: %v", err)
	}
	if err := r.Sync(ctx, head+1); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close: %v", err)
	}
}

// TestStoreClosed: a closed store stops the runner with the store's error.
func TestStoreClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	head := newWorld(8).fill(t, store, 100)
	r, _ := startRunner(t, store, Options{})
	if err := r.Sync(ctx, head); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if err := r.Sync(ctx, head+1); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Sync on a closed store: %v", err)
	}
	if !errors.Is(r.Err(), eventstore.ErrClosed) {
		t.Errorf("Err = %v", r.Err())
	}
}

// A sink on the runner's hub sees each notice as the projections stand
// right after the record that caused it: a message is the newest of its
// room, and Applied is its position.
func TestRunnerSinkSeesAppliedState(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	w := newWorld(7)
	w.fill(t, store, 300)
	set := NewSet(store)
	r, err := NewRunner(store, Options{Logf: t.Logf}, set.All()...)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		messages int
		problems []string
	)
	r.Hub().Attach(func(n Notice) {
		m, ok := n.(MessagePosted)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		messages++
		if a := r.Applied(); a != m.Position {
			problems = append(problems, fmt.Sprintf("message at %d seen with applied %d", m.Position, a))
		}
		if last := set.History.LastSeq(m.Room); last != m.Message.Seq {
			problems = append(problems, fmt.Sprintf("message %s/%d seen with the room's last seq %d", m.Room, m.Message.Seq, last))
		}
	})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	head := w.fill(t, store, 700) // live, through the subscription
	if err := r.Sync(context.Background(), head); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if messages < 50 {
		t.Fatalf("the sink saw %d messages", messages)
	}
	if len(problems) > 0 {
		t.Fatalf("%d problems, first: %s", len(problems), problems[0])
	}
}

// SyncHead waits for everything the log held when it was called.
func TestSyncHead(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	w := newWorld(9)
	r, _ := startRunner(t, store, Options{})
	for range 5 {
		head := w.fill(t, store, 200)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.SyncHead(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if a := r.Applied(); a < head {
			t.Fatalf("SyncHead returned at %d, the log's head was %d", a, head)
		}
	}
}
