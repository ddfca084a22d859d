package filestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

// The tests of segment index files: they are used when they match the log,
// and ignored (and rewritten) when they do not, whatever is wrong with
// them; the index is then exactly the one a full scan builds.

// smallSegments makes a few dozen records span several segments.
var smallSegments = Options{SegmentSize: 4096}

type batch struct {
	stream string
	recs   []eventstore.Proposed
	res    eventstore.AppendResult
}

// appendBatches appends n batches of one to four records over five
// streams.
func appendBatches(t *testing.T, s *Store, n int) []batch {
	t.Helper()
	var out []batch
	for i := range n {
		b := batch{stream: fmt.Sprintf("room-%d", i%5)}
		for j := range 1 + i%4 {
			b.recs = append(b.recs, rec("Counted", fmt.Sprintf(`{"batch":%d,"i":%d,"pad":"%s"}`, i, j, strings.Repeat("x", i%7*10))))
		}
		res, err := s.Append(context.Background(), b.stream, eventstore.Any, b.recs)
		if err != nil {
			t.Fatal(err)
		}
		b.res = res
		out = append(out, b)
	}
	return out
}

func indexFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
	return m
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return m
}

// indexedLog writes a log of several segments whose sealed segments have
// index files, and returns what was appended.
func indexedLog(t *testing.T, dir string) []batch {
	t.Helper()
	s := mustOpen(t, dir, smallSegments)
	batches := appendBatches(t, s, 80)
	s.Close()
	segs := segmentFiles(t, dir)
	if len(segs) < 4 {
		t.Fatalf("only %d segments", len(segs))
	}
	if got := len(indexFiles(t, dir)); got != len(segs)-1 {
		t.Fatalf("%d index files for %d segments", got, len(segs))
	}
	return batches
}

// copyDir copies the files of a data directory (not its subdirectories).
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// scanned opens a copy of dir the way the log was opened before index
// files: Repair scans every segment and ignores them. It is the reference
// the index must equal.
func scanned(t *testing.T, dir string) *Store {
	t.Helper()
	ref := mustOpen(t, copyDir(t, dir), Options{Repair: true, SegmentSize: smallSegments.SegmentSize})
	if ref.fromIndex != 0 {
		t.Fatalf("repair used %d index files", ref.fromIndex)
	}
	return ref
}

// sameIndex checks that s's index equals ref's: segments, offsets,
// streams, and every record found by its ID at its position.
func sameIndex(t *testing.T, s, ref *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	ref.mu.RLock()
	defer ref.mu.RUnlock()
	if s.head != ref.head || len(s.segments) != len(ref.segments) {
		t.Fatalf("head %d in %d segments, want %d in %d", s.head, len(s.segments), ref.head, len(ref.segments))
	}
	for i, seg := range s.segments {
		r := ref.segments[i]
		if seg.first != r.first || seg.size != r.size || !slices.Equal(seg.offsets, r.offsets) {
			t.Fatalf("segment %d: first %d size %d, %d offsets; want %d %d %d", i, seg.first, seg.size, len(seg.offsets), r.first, r.size, len(r.offsets))
		}
	}
	if len(s.streams) != len(ref.streams) {
		t.Fatalf("%d streams, want %d", len(s.streams), len(ref.streams))
	}
	for name, st := range ref.streams {
		if got := s.streams[name]; got == nil || !slices.Equal(got.positions, st.positions) {
			t.Fatalf("stream %s differs", name)
		}
	}
	n := 0
	for _, seg := range ref.segments {
		for i := range seg.tab.len() {
			id, rel := seg.tab.entry(i)
			if p, ok := s.lookupID(id); !ok || p != seg.first+uint64(rel) {
				t.Fatalf("%v found at %d (%v), want %d", id, p, ok, seg.first+uint64(rel))
			}
			n++
		}
		for id, pos := range seg.ids {
			if p, ok := s.lookupID(id); !ok || p != pos {
				t.Fatalf("%v found at %d (%v), want %d", id, p, ok, pos)
			}
			n++
		}
	}
	if uint64(n) != ref.head {
		t.Fatalf("the reference has %d IDs for %d records", n, ref.head)
	}
	for range 100 {
		if p, ok := s.lookupID(uuid.New()); ok {
			t.Fatalf("a new ID is found at %d", p)
		}
	}
}

// checkIdempotent retries every batch (the original result, nothing
// written) and reuses IDs elsewhere (ErrIDConflict), over the whole log.
func checkIdempotent(t *testing.T, s *Store, batches []batch) {
	t.Helper()
	ctx := context.Background()
	head, _ := s.Head(ctx)
	for i, b := range batches {
		res, err := s.Append(ctx, b.stream, eventstore.NoStream, b.recs)
		if err != nil || res != b.res {
			t.Fatalf("retry of batch %d: %+v %v, want %+v", i, res, err, b.res)
		}
		if i%5 != 0 {
			continue
		}
		if _, err := s.Append(ctx, "other-x", eventstore.Any, b.recs[:1]); !errors.Is(err, eventstore.ErrIDConflict) {
			t.Fatalf("batch %d's ID in another stream: %v, want ErrIDConflict", i, err)
		}
		mixed := []eventstore.Proposed{b.recs[0], rec("New", `{}`)}
		if _, err := s.Append(ctx, b.stream, eventstore.Any, mixed); !errors.Is(err, eventstore.ErrIDConflict) {
			t.Fatalf("batch %d's ID with a new one: %v, want ErrIDConflict", i, err)
		}
	}
	if h, _ := s.Head(ctx); h != head {
		t.Fatalf("retries wrote: head %d, was %d", h, head)
	}
}

// TestIndexFilesOfSealedSegments: every sealed segment gets an index file;
// the next open loads them instead of scanning, and the index is the one a
// full scan builds, idempotency included.
func TestIndexFilesOfSealedSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	batches := indexedLog(t, dir)
	ref := scanned(t, dir)
	s := mustOpen(t, dir, smallSegments)
	if want := len(segmentFiles(t, dir)) - 1; s.fromIndex != want {
		t.Fatalf("%d segments loaded from index files, want %d", s.fromIndex, want)
	}
	sameIndex(t, s, ref)
	if got, want := readAll(t, s), readAll(t, ref); len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	checkIdempotent(t, s, batches)
	// Appends go on across more segments, and their IDs are found too.
	more := appendBatches(t, s, 40)
	checkIdempotent(t, s, append(batches, more...))
}

// TestIndexWhileRunning: a segment sealed while the store runs is indexed
// in the background; its IDs move from the map to a table without a
// moment in which a retry is not recognised.
func TestIndexWhileRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, smallSegments)
	var batches []batch
	deadline := time.Now().Add(10 * time.Second)
	for {
		batches = append(batches, appendBatches(t, s, 10)...)
		checkIdempotent(t, s, batches)
		s.mu.RLock()
		n := len(s.segments)
		tabled := 0
		for _, seg := range s.segments[:n-1] {
			if seg.ids == nil && seg.tab.len() == len(seg.offsets) {
				tabled++
			}
		}
		hasFilter := s.filter != nil
		s.mu.RUnlock()
		files := len(indexFiles(t, dir))
		if n >= 4 && tabled == n-1 && hasFilter && files >= n-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sealed segments indexed in memory, %d index files", tabled, n-1, files)
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkIdempotent(t, s, batches)
	sameIndex(t, s, scanned(t, dir))
}

// rewriteIndex reads an index file, lets change alter it, and writes it
// back with a valid checksum: damage the checksum cannot catch.
func rewriteIndex(t *testing.T, path string, change func(ix *segIndex)) {
	t.Helper()
	ix, err := readIndexFile(path)
	if err != nil {
		t.Fatal(err)
	}
	change(ix)
	if err := ix.writeFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestBadIndexIsIgnored damages one index file in every way a cache can be
// wrong: missing, empty, torn, flipped bits, another segment's, and wrong
// but with a valid checksum. The open ignores it and scans that segment,
// the index is exact, and the file is rewritten.
func TestBadIndexIsIgnored(t *testing.T) {
	t.Parallel()
	orig := t.TempDir()
	batches := indexedLog(t, orig)
	ref := scanned(t, orig)
	idx := indexFiles(t, orig)
	victim := filepath.Base(idx[1])
	cases := map[string]func(t *testing.T, path string){
		"missing": func(t *testing.T, path string) { os.Remove(path) },
		"empty":   func(t *testing.T, path string) { os.Truncate(path, 0) },
		"torn": func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
		},
		"bit flip": func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[len(b)-30] ^= 0x10 // in the ID table
			os.WriteFile(path, b, 0o644)
		},
		"bit flip only the checksum sees": func(t *testing.T, path string) {
			// The low bit of a record's offset in the middle: offsets
			// still increase, so only the checksum tells.
			ix, err := readIndexFile(path)
			if err != nil {
				t.Fatal(err)
			}
			at := indexHeader + ix.count/2*indexRecord
			for _, st := range ix.streams {
				at += 14 + len(st.name)
			}
			b, _ := os.ReadFile(path)
			b[at] ^= 1
			os.WriteFile(path, b, 0o644)
		},
		"other version": func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			b[7]++
			os.WriteFile(path, b, 0o644)
		},
		"another segment's": func(t *testing.T, path string) {
			b, _ := os.ReadFile(filepath.Join(filepath.Dir(path), filepath.Base(idx[2])))
			os.WriteFile(path, b, 0o644)
		},
		"renamed to another segment": func(t *testing.T, path string) {
			rewriteIndex(t, path, func(ix *segIndex) { ix.first-- })
		},
		"wrong size": func(t *testing.T, path string) {
			rewriteIndex(t, path, func(ix *segIndex) { ix.size++ })
		},
		"wrong revision": func(t *testing.T, path string) {
			// Of a stream that is neither the first record's nor the
			// last's: the segments before disagree with it.
			rewriteIndex(t, path, func(ix *segIndex) {
				_, first := ix.rec(0)
				_, last := ix.rec(ix.count - 1)
				for k := range ix.streams {
					if k != first && k != last {
						ix.streams[k].firstRev++
						return
					}
				}
				t.Fatal("too few streams")
			})
		},
		"wrong stream": func(t *testing.T, path string) {
			rewriteIndex(t, path, func(ix *segIndex) {
				// Two records trade streams; the counts still add up.
				_, s0 := ix.rec(0)
				for i := 1; i < ix.count; i++ {
					if _, si := ix.rec(i); si != s0 {
						binary.LittleEndian.PutUint32(ix.recs[4:], uint32(si))
						binary.LittleEndian.PutUint32(ix.recs[i*indexRecord+4:], uint32(s0))
						return
					}
				}
				t.Fatal("one stream only")
			})
		},
		"wrong offset": func(t *testing.T, path string) {
			rewriteIndex(t, path, func(ix *segIndex) {
				off, _ := ix.rec(ix.count - 1)
				binary.LittleEndian.PutUint32(ix.recs[(ix.count-1)*indexRecord:], uint32(off+1))
			})
		},
		"unsorted IDs": func(t *testing.T, path string) {
			rewriteIndex(t, path, func(ix *segIndex) {
				e := ix.ids.ents
				a, b := slices.Clone(e[:idEntrySize]), slices.Clone(e[idEntrySize:2*idEntrySize])
				copy(e, b)
				copy(e[idEntrySize:], a)
			})
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := copyDir(t, orig)
			path := filepath.Join(dir, victim)
			damage(t, path)
			s := mustOpen(t, dir, smallSegments)
			if want := len(idx) - 1; s.fromIndex != want {
				t.Fatalf("%d segments loaded from index files, want %d", s.fromIndex, want)
			}
			sameIndex(t, s, ref)
			checkIdempotent(t, s, batches)
			s.Close()
			s = mustOpen(t, dir, smallSegments)
			if s.fromIndex != len(idx) {
				t.Fatalf("after a rewrite, %d of %d segments loaded from index files", s.fromIndex, len(idx))
			}
			sameIndex(t, s, ref)
		})
	}
}

// TestStaleIndexAfterMoreAppends: an index file written when a segment was
// shorter (here: put back after the segment grew) is not used for the
// records after it, nor for the newest segment, which is always scanned.
func TestStaleIndexAfterMoreAppends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, smallSegments)
	appendBatches(t, s, 30)
	s.Close()
	segs, idx := segmentFiles(t, dir), indexFiles(t, dir)
	if len(segs) < 3 {
		t.Fatalf("only %d segments", len(segs))
	}
	// Go back to when the second segment was the newest, with its index
	// file left from a later sealing (a segment's index while it is open).
	last := segs[len(segs)-1]
	os.Remove(last)
	stale, err := os.ReadFile(idx[len(idx)-1])
	if err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, Options{SegmentSize: 3 * smallSegments.SegmentSize})
	if s.fromIndex != len(idx)-1 {
		t.Fatalf("the newest segment was loaded from its index file")
	}
	head, _ := s.Head(context.Background())
	more := appendBatches(t, s, 40) // the segment grows, then is sealed
	s.Close()
	// The index file of the sealed segment is put back as it was before it
	// grew.
	if err := os.WriteFile(idx[len(idx)-1], stale, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := scanned(t, dir)
	s = mustOpen(t, dir, smallSegments)
	if s.fromIndex != len(indexFiles(t, dir))-1 {
		t.Fatalf("%d segments loaded from index files; the stale one was used", s.fromIndex)
	}
	sameIndex(t, s, ref)
	checkIdempotent(t, s, more)
	if h := more[0].res.Position - uint64(len(more[0].recs)); h != head {
		t.Fatalf("appends after reopening started after %d, head was %d", h, head)
	}
}

// TestIndexOfCutSegment: a segment with an index file whose tail is cut
// back as torn (here: made the newest again, then torn) gets a consistent
// index, and its index file goes; a sealed segment shorter than its index
// file says is damage, reported as such, never read through the index.
func TestIndexOfCutSegment(t *testing.T) {
	t.Parallel()
	orig := t.TempDir()
	batches := indexedLog(t, orig)

	t.Run("torn tail", func(t *testing.T) {
		t.Parallel()
		dir := copyDir(t, orig)
		segs := segmentFiles(t, dir)
		os.Remove(segs[len(segs)-1])
		victim := segs[len(segs)-2]
		fi, _ := os.Stat(victim)
		os.Truncate(victim, fi.Size()-5)
		// Read-only leaves all of it alone.
		before := dirState(t, dir)
		ro := mustOpen(t, dir, Options{ReadOnly: true})
		readAll(t, ro)
		ro.Close()
		if after := dirState(t, dir); !maps(before, after) {
			t.Fatalf("a read-only open changed the directory:\n%v\n%v", before, after)
		}
		ref := scanned(t, dir)
		s := mustOpen(t, dir, smallSegments)
		sameIndex(t, s, ref)
		if _, err := os.Stat(strings.TrimSuffix(victim, ".seg") + ".idx"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the index file of the cut segment is still there: %v", err)
		}
		head, _ := s.Head(context.Background())
		var kept []batch
		for _, b := range batches {
			if b.res.Position <= head {
				kept = append(kept, b)
			}
		}
		more := appendBatches(t, s, 30)
		checkIdempotent(t, s, append(kept, more...))
		s.Close()
		s = mustOpen(t, dir, smallSegments)
		if s.fromIndex != len(segmentFiles(t, dir))-1 {
			t.Fatalf("%d segments loaded from index files after the cut segment was sealed again", s.fromIndex)
		}
		checkIdempotent(t, s, append(kept, more...))
	})

	t.Run("sealed segment shorter than its index", func(t *testing.T) {
		t.Parallel()
		dir := copyDir(t, orig)
		victim := segmentFiles(t, dir)[1]
		fi, _ := os.Stat(victim)
		os.Truncate(victim, fi.Size()-5)
		_, err := Open(dir, smallSegments)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.File != victim {
			t.Fatalf("open: %v, want ErrCorrupt naming %s", err, victim)
		}
	})
}

// TestRepairIgnoresIndexes: Repair scans and checks every segment, index
// files or not, and the index files are rewritten after it. A damaged
// record inside a sealed segment with a valid index file stops the open
// (the segment's bytes differ from its index's checksum), naming its file
// and offset.
func TestRepairIgnoresIndexes(t *testing.T) {
	t.Parallel()
	orig := t.TempDir()
	indexedLog(t, orig)

	t.Run("damage in the newest segment", func(t *testing.T) {
		t.Parallel()
		dir := copyDir(t, orig)
		segs := segmentFiles(t, dir)
		last := segs[len(segs)-1]
		if ro := mustOpen(t, dir, Options{ReadOnly: true}); len(ro.segments[len(ro.segments)-1].offsets) < 2 {
			t.Fatal("the newest segment has fewer than two records: damage to its first would be a torn tail")
		}
		flipByte(t, last, 40) // the first record of the newest segment
		if _, err := Open(dir, smallSegments); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Fatalf("open: %v, want ErrCorrupt", err)
		}
		r, err := Open(dir, Options{Repair: true, SegmentSize: smallSegments.SegmentSize})
		if err != nil {
			t.Fatal(err)
		}
		if r.fromIndex != 0 {
			t.Fatalf("repair used %d index files", r.fromIndex)
		}
		r.Close()
		s := mustOpen(t, dir, smallSegments)
		if s.fromIndex != len(segs)-1 {
			t.Fatalf("after repair %d of %d segments loaded from index files", s.fromIndex, len(segs)-1)
		}
		sameIndex(t, s, scanned(t, dir))
	})

	t.Run("damage in a sealed segment", func(t *testing.T) {
		t.Parallel()
		dir := copyDir(t, orig)
		victim := segmentFiles(t, dir)[1]
		ix, err := readIndexFile(strings.TrimSuffix(victim, ".seg") + ".idx")
		if err != nil {
			t.Fatal(err)
		}
		off, _ := ix.rec(ix.count / 2)
		flipByte(t, victim, off+40)
		for _, opts := range []Options{smallSegments, {ReadOnly: true, SegmentSize: smallSegments.SegmentSize}} {
			_, err = Open(dir, opts)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != victim || ce.Offset != off {
				t.Fatalf("open (%+v) with the segment's index file: %v, want ErrCorrupt naming %s at %d", opts, err, victim, off)
			}
		}
		if _, err := Open(dir, Options{Repair: true, SegmentSize: smallSegments.SegmentSize}); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Fatalf("repair: %v, want ErrCorrupt", err)
		}
	})

	t.Run("damage in a sealed segment without an index file", func(t *testing.T) {
		t.Parallel()
		dir := copyDir(t, orig)
		victim := segmentFiles(t, dir)[1]
		ix, err := readIndexFile(strings.TrimSuffix(victim, ".seg") + ".idx")
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(strings.TrimSuffix(victim, ".seg") + ".idx")
		off, _ := ix.rec(ix.count / 2)
		flipByte(t, victim, off+40)
		_, err = Open(dir, smallSegments)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.File != victim || ce.Offset != off {
			t.Fatalf("open: %v, want ErrCorrupt naming %s at %d", err, victim, off)
		}
	})
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// dirState describes every file of dir: name, size, time and contents.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, _ := e.Info()
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out[e.Name()] = fmt.Sprintf("%d %s %x", fi.Size(), fi.ModTime().Format(time.RFC3339Nano), sha256.Sum256(b))
	}
	return out
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestReadOnlyWritesNoIndex: a read-only open uses the index files that
// are valid and scans the segments whose files are missing or bad, but
// writes, rewrites and removes nothing.
func TestReadOnlyWritesNoIndex(t *testing.T) {
	t.Parallel()
	orig := t.TempDir()
	indexedLog(t, orig)
	dir := copyDir(t, orig)
	idx := indexFiles(t, dir)
	os.Remove(idx[0])
	os.WriteFile(idx[1], []byte("not an index"), 0o644)
	os.WriteFile(idx[2]+".tmp", []byte("left by a crash"), 0o644)
	ref := scanned(t, dir)
	before := dirState(t, dir)
	s := mustOpen(t, dir, Options{ReadOnly: true, PollInterval: time.Millisecond})
	if s.fromIndex != len(idx)-2 {
		t.Fatalf("%d segments loaded from index files, want %d", s.fromIndex, len(idx)-2)
	}
	sameIndex(t, s, ref)
	readAll(t, s)
	s.Head(context.Background())
	s.Close()
	if after := dirState(t, dir); !maps(before, after) {
		t.Fatalf("a read-only open changed the directory:\n%v\n%v", before, after)
	}
	// A writer repairs what the reader left alone.
	w := mustOpen(t, dir, smallSegments)
	w.Close()
	if _, err := os.Stat(idx[2] + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a stray temporary file is still there: %v", err)
	}
	w = mustOpen(t, dir, smallSegments)
	if w.fromIndex != len(idx) {
		t.Fatalf("%d of %d segments loaded from index files after a writer's open", w.fromIndex, len(idx))
	}
	sameIndex(t, w, ref)
}

// TestIndexFileFormat: what is written reads back the same.
func TestIndexFileFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	indexedLog(t, dir)
	for _, path := range indexFiles(t, dir) {
		ix, err := readIndexFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		seg := strings.TrimSuffix(path, ".idx") + ".seg"
		f, err := os.Open(seg)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		built, err := buildSegIndex(osFile{f}, seg, ix.first, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.check(osFile{f}, ix.first, fi.Size()); err != nil {
			t.Fatalf("%s does not match its segment: %v", path, err)
		}
		f.Close()
		if ix.first != built.first || ix.size != built.size || ix.count != built.count || ix.firstCRC != built.firstCRC || ix.lastCRC != built.lastCRC ||
			!slices.Equal(ix.streams, built.streams) || !bytes.Equal(ix.recs, built.recs) || !bytes.Equal(ix.ids.ents, built.ids.ents) {
			t.Fatalf("%s does not read back as built", path)
		}
	}
}

// TestIndexWriteFails: an index file that cannot be written (here its
// temporary file's name is taken by a directory; a full disk does the
// same) costs the next open a scan of the segment, nothing else.
func TestIndexWriteFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	batches := indexedLog(t, dir)
	idx := indexFiles(t, dir)
	os.Remove(idx[1])
	if err := os.MkdirAll(filepath.Join(idx[1]+".tmp", "taken"), 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s := mustOpen(t, dir, smallSegments)
		if s.fromIndex != len(idx)-1 {
			t.Fatalf("%d segments loaded from index files, want %d", s.fromIndex, len(idx)-1)
		}
		sameIndex(t, s, scanned(t, dir))
		checkIdempotent(t, s, batches)
		s.Close()
		if _, err := os.Stat(idx[1]); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("index file written: %v", err)
		}
	}
}
