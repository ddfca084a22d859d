package projections

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"switchboard/domain"
	"switchboard/domain/presence"
	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
)

// Benchmarks (not run by go test without -bench):
//
//	go test ./projections -run '^$' -bench . -benchtime 3x
//
// BenchmarkRebuild reports the replay rate of all projections together,
// BenchmarkStartup the time from NewRunner to Ready over a 1,000,000-event
// log with a snapshot, BenchmarkAppendToApplied how long after an append
// is acknowledged every projection has applied it.

// fillFile writes at least n records of w's making to a file store, fast:
// the records of each window of 64k are grouped by stream (keeping each
// stream's order) and appended in chunks of up to 1024, many streams at
// once, so appends share fsyncs. Only the interleaving of streams within a
// window differs from w's order, which the projections do not depend on.
func fillFile(tb testing.TB, s eventstore.Store, w *world, n int) uint64 {
	tb.Helper()
	ctx := context.Background()
	var head uint64
	var mu sync.Mutex
	for written := 0; written < n; {
		groups := map[string][]eventstore.Proposed{}
		var order []string
		for k := 0; k < 64<<10 && written < n; {
			o := w.next()
			if _, ok := groups[o.stream]; !ok {
				order = append(order, o.stream)
			}
			groups[o.stream] = append(groups[o.stream], w.proposed(o)...)
			k += len(o.evs)
			written += len(o.evs)
		}
		work := make(chan string)
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for stream := range work {
					for ps := range slices.Chunk(groups[stream], eventstore.MaxAppendRecords) {
						res, err := s.Append(ctx, stream, eventstore.Any, ps)
						if err != nil {
							tb.Errorf("append to %s: %v", stream, err)
							return
						}
						mu.Lock()
						head = max(head, res.Position)
						mu.Unlock()
					}
				}
			}()
		}
		for _, stream := range order {
			work <- stream
		}
		close(work)
		wg.Wait()
		if tb.Failed() {
			tb.FailNow()
		}
	}
	return head
}

func benchStore(b *testing.B, n int) (string, *filestore.Store, uint64) {
	b.Helper()
	dir := b.TempDir()
	s, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	head := fillFile(b, s, newWorld(42), n)
	return dir, s, head
}

// BenchmarkRebuild: replaying the log into all five projections from zero.
// "log" reads, decodes and applies from the file store (a real rebuild);
// "apply" applies records already decoded in memory (the projections'
// own cost).
func BenchmarkRebuild(b *testing.B) {
	const n = 300_000
	_, s, head := benchStore(b, n)
	ctx := context.Background()

	b.Run("log", func(b *testing.B) {
		for b.Loop() {
			entries, _ := newEntries(NewSet(nil).All())
			if err := replay(ctx, s, entries, head, b.Logf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(head)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})

	b.Run("apply", func(b *testing.B) {
		var recs []eventstore.Record
		var evs []domain.Event
		for p := uint64(1); p <= head; p += feedBatch {
			batch, err := s.ReadAll(ctx, p, feedBatch)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range batch {
				recs = append(recs, r)
				evs = append(evs, decodeRecord(nil, r, b.Logf))
			}
		}
		b.ResetTimer()
		for b.Loop() {
			entries, _ := newEntries(NewSet(nil).All())
			for i, r := range recs {
				applyRecord(entries, r, evs[i])
			}
		}
		b.ReportMetric(float64(head)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkStartup: a 1,000,000-event log, snapshots written by rebuild;
// the time from NewRunner to Ready, with the snapshots at the head
// ("current") and 50,000 records behind it ("50k-tail"). Opening the store
// itself (its index is rebuilt by scanning the log) is not included; it is
// reported as store-open-ms.
func BenchmarkStartup(b *testing.B) {
	const n = 1_000_000
	dir, s, head := benchStore(b, n)
	ctx := context.Background()
	current := b.TempDir()
	if _, err := Rebuild(ctx, s, current); err != nil {
		b.Fatal(err)
	}
	behind := b.TempDir()
	{
		entries, _ := newEntries(NewSet(nil).All())
		if err := replay(ctx, s, entries, head-50_000, b.Logf); err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			payload, _ := e.p.MarshalSnapshot()
			if err := WriteSnapshot(behind, SnapshotHeader{Name: e.p.Name(), Position: e.pos.Load(), LastID: e.lastID}, payload); err != nil {
				b.Fatal(err)
			}
		}
	}
	s.Close()
	t0 := time.Now()
	s, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	open := time.Since(t0)
	b.Cleanup(func() { s.Close() })
	var size int64
	for _, name := range Names() {
		if fi, err := os.Stat(SnapshotPath(current, name)); err == nil {
			size += fi.Size()
		}
	}

	for _, c := range []struct{ name, dir string }{{"current", current}, {"50k-tail", behind}} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir() // a copy: the runner's final snapshot must not move them
				for _, name := range Names() {
					h, payload, err := ReadSnapshot(c.dir, name)
					if err != nil {
						b.Fatal(err)
					}
					if err := WriteSnapshot(dir, h, payload); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				start := time.Now()
				r, err := NewRunner(s, Options{SnapshotDir: dir, SnapshotEvery: -1}, NewSet(s).All()...)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Start(ctx); err != nil {
					b.Fatal(err)
				}
				if err := r.WaitReady(ctx); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				r.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ready-ms")
			b.ReportMetric(float64(head), "log-events")
			b.ReportMetric(float64(size)/1e6, "snapshot-MB")
			b.ReportMetric(float64(open.Milliseconds()), "store-open-ms")
		})
	}
}

// BenchmarkAppendToApplied: one durable append at a time to the file
// store while a runner follows it; how long after Append returns every
// projection has applied the record (0 when it was applied before the
// append returned).
func BenchmarkAppendToApplied(b *testing.B) {
	ctx := context.Background()
	s, err := filestore.Open(b.TempDir(), filestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	w := newWorld(43)
	fillFile(b, s, w, 10_000)
	r, _ := startRunner(b, s, Options{})
	if err := r.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	var after, appends []time.Duration
	at := w.now
	for b.Loop() {
		at = at.Add(time.Minute)
		ps := w.proposed(op{"presence-user_1", []domain.Event{presence.HeartbeatRecorded{User: "user_1", At: at}}})
		t0 := time.Now()
		res, err := s.Append(ctx, "presence-user_1", eventstore.Any, ps)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := r.Sync(ctx, res.Position); err != nil {
			b.Fatal(err)
		}
		after = append(after, time.Since(t1))
		appends = append(appends, t1.Sub(t0))
	}
	slices.Sort(after)
	slices.Sort(appends)
	q := func(d []time.Duration, f float64) float64 { return float64(d[int(f*float64(len(d)-1))].Microseconds()) }
	b.ReportMetric(q(after, 0.5), "applied-after-ack-p50-µs")
	b.ReportMetric(q(after, 0.99), "applied-after-ack-p99-µs")
	b.ReportMetric(q(appends, 0.5), "append-p50-µs")
}
