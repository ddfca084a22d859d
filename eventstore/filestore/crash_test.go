package filestore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

// crashChildEnv makes the test binary act as the appending child process;
// crashSegmentEnv sets its segment size.
const (
	crashChildEnv   = "SWITCHBOARD_CRASH_CHILD_DIR"
	crashSegmentEnv = "SWITCHBOARD_CRASH_SEGMENT_SIZE"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild is the child side of TestKillDuringAppends: it appends under
// load until killed and prints one line per acknowledged record.
func crashChild(dir string) {
	segSize, _ := strconv.ParseInt(os.Getenv(crashSegmentEnv), 10, 64)
	s, err := Open(dir, Options{SegmentSize: segSize})
	if err != nil {
		fmt.Println("open-error", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("crash-%d", g)
			recs, _ := s.ReadStream(ctx, stream, eventstore.Backwards, eventstore.End, 1)
			expected := eventstore.NoStream
			if len(recs) == 1 {
				expected = eventstore.Exact(recs[0].Revision)
			}
			for {
				n := 1 + rand.IntN(3)
				batch := make([]eventstore.Proposed, n)
				for i := range batch {
					batch[i] = eventstore.Proposed{ID: uuid.New(), Type: "Crash", Data: json.RawMessage(`{"pad":"` + strings.Repeat("x", rand.IntN(300)) + `"}`)}
				}
				res, err := s.Append(ctx, stream, expected, batch)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(4)
				}
				expected = eventstore.Exact(res.Revision)
				mu.Lock()
				for i, r := range batch {
					fmt.Fprintf(out, "ack %s %s %d %d\n", stream, r.ID, res.Revision-uint64(n-1-i), res.Position-uint64(n-1-i))
				}
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestKillDuringAppends kills a child appending under load with SIGKILL 20
// times. After each kill, every acknowledged record is in the log at the
// position and revision it was acknowledged with, nothing is duplicated,
// and positions and revisions are contiguous.
func TestKillDuringAppends(t *testing.T) {
	killDuringAppends(t, 20, 0)
}

// TestKillDuringAppendsAcrossSegments does the same with 64 KiB segments,
// so that kills also land while a segment is sealed and its index file
// written; after each, every record is found by its ID.
func TestKillDuringAppendsAcrossSegments(t *testing.T) {
	killDuringAppends(t, 10, 64<<10)
}

func killDuringAppends(t *testing.T, cycles int, segmentSize int64) {
	dir := t.TempDir()
	type ack struct {
		stream   string
		rev, pos uint64
	}
	acked := map[uuid.UUID]ack{}
	for cycle := range cycles {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s=%d", crashSegmentEnv, segmentSize))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Once it acknowledges, let it append for a while, then kill it
		// mid-stream.
		var deadline <-chan time.Time
		stuck := time.After(60 * time.Second)
		n := 0
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(line)
				if len(f) != 5 || f[0] != "ack" {
					t.Fatalf("cycle %d: child said %q", cycle, line)
				}
				rev, _ := strconv.ParseUint(f[3], 10, 64)
				pos, _ := strconv.ParseUint(f[4], 10, 64)
				acked[uuid.MustParse(f[2])] = ack{f[1], rev, pos}
				if n++; n == 1 {
					deadline = time.After(time.Duration(50+rand.IntN(250)) * time.Millisecond)
				}
			case <-deadline:
				cmd.Process.Signal(syscall.SIGKILL)
				deadline = nil
			case <-stuck:
				cmd.Process.Signal(syscall.SIGKILL)
				t.Fatalf("cycle %d: the child acknowledged %d appends in 60 s", cycle, n)
			}
		}
		cmd.Wait()
		if n == 0 {
			t.Fatalf("cycle %d: the child acknowledged nothing", cycle)
		}

		s, err := Open(dir, Options{SegmentSize: segmentSize})
		if err != nil {
			t.Fatalf("cycle %d: reopen: %v", cycle, err)
		}
		loaded := s.fromIndex
		all := readAll(t, s)
		seen := map[uuid.UUID]bool{}
		revs := map[string]uint64{}
		for i, r := range all {
			if r.Position != uint64(i+1) {
				t.Fatalf("cycle %d: record %d has position %d", cycle, i, r.Position)
			}
			if seen[r.ID] {
				t.Fatalf("cycle %d: %v is in the log twice", cycle, r.ID)
			}
			seen[r.ID] = true
			if r.Revision != revs[r.Stream] {
				t.Fatalf("cycle %d: %s revision %d, want %d", cycle, r.Stream, r.Revision, revs[r.Stream])
			}
			revs[r.Stream]++
			if a, ok := acked[r.ID]; ok && (a.stream != r.Stream || a.rev != r.Revision || a.pos != r.Position) {
				t.Fatalf("cycle %d: %v acknowledged as %+v, found %s/%d at %d", cycle, r.ID, a, r.Stream, r.Revision, r.Position)
			}
		}
		for id, a := range acked {
			if !seen[id] {
				t.Fatalf("cycle %d: acknowledged %v (%+v) is lost", cycle, id, a)
			}
		}
		s.mu.RLock()
		for _, r := range all {
			if p, ok := s.lookupID(r.ID); !ok || p != r.Position {
				s.mu.RUnlock()
				t.Fatalf("cycle %d: %v is found at %d (%v), not at %d", cycle, r.ID, p, ok, r.Position)
			}
		}
		segments := len(s.segments)
		s.mu.RUnlock()
		s.Close()
		t.Logf("cycle %d: %d acknowledged in total, %d in the log, %d of %d segments loaded from index files", cycle, len(acked), len(all), loaded, segments)
	}
}
