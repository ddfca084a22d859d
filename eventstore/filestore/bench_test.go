package filestore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

// The benchmarks measure durable appends against the same disk's raw
// write+fdatasync rate, so each figure comes with its physical limit:
//
//	go test ./eventstore/filestore -run '^$' -bench . -benchtime 3s
//
// Records are 256 bytes on disk (frame included).

// benchData makes JSON data that brings a record's frame to 256 bytes.
func benchRecord(stream string) eventstore.Proposed {
	p := eventstore.Proposed{ID: uuid.New(), Type: "MessagePosted"}
	pad := 256 - frameHeader - fixedPayload - len(stream) - len(p.Type) - len(`{"t":""}`)
	p.Data = json.RawMessage(`{"t":"` + string(make([]byte, 0)) + fmt.Sprintf("%0*d", pad, 0) + `"}`)
	return p
}

func latencyMetrics(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRawFdatasync is the physical limit: write n 256-byte records
// at the end of a file, then fdatasync, in a loop.
func BenchmarkRawFdatasync(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("records-per-sync=%d", n), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			file := osFile{f}
			buf := make([]byte, 256*n)
			for i := range buf {
				buf[i] = byte(i)
			}
			lat := make([]time.Duration, 0, b.N)
			var off int64
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				off += int64(len(buf))
				if err := file.Sync(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
			latencyMetrics(b, lat)
		})
	}
}

// BenchmarkAppend measures durable single-record appends with 1, 16 and
// 256 concurrent appenders (each to its own stream, expected revision
// exact), reporting events/s and per-append latency.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			var next atomic.Int64
			lats := make([][]time.Duration, appenders)
			var wg sync.WaitGroup
			b.ResetTimer()
			for g := range appenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					stream := fmt.Sprintf("bench-%d", g)
					rec := benchRecord(stream)
					expected := eventstore.NoStream
					for next.Add(1) <= int64(b.N) {
						rec.ID = uuid.New()
						t0 := time.Now()
						res, err := s.Append(ctx, stream, expected, []eventstore.Proposed{rec})
						if err != nil {
							b.Error(err)
							return
						}
						lats[g] = append(lats[g], time.Since(t0))
						expected = eventstore.Exact(res.Revision)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			latencyMetrics(b, slices.Concat(lats...))
		})
	}
}

// fill appends n benchmark records quickly (1024 per append, 4 appenders).
func fill(tb testing.TB, s *Store, n int) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("fill-%d", g)
			for {
				k := next.Add(1024)
				if k-1024 >= int64(n) {
					return
				}
				batch := int(min(1024, int64(n)-(k-1024)))
				recs := make([]eventstore.Proposed, batch)
				for i := range recs {
					recs[i] = benchRecord(stream)
				}
				if _, err := s.Append(ctx, stream, eventstore.Any, recs); err != nil {
					tb.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkReadAll reads a 200,000-record log from the start, from disk
// (the page cache) rather than the in-memory tail cache.
func BenchmarkReadAll(b *testing.B) {
	const n = 200_000
	s := reopenedLog(b, n)
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	total := 0
	for range b.N {
		for from := uint64(1); ; {
			recs, err := s.ReadAll(ctx, from, 4096)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			total += len(recs)
			from = recs[len(recs)-1].Position + 1
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendToSubscriber measures how long after an append's
// acknowledgement a live subscriber receives the record.
func BenchmarkAppendToSubscriber(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	received := make(chan time.Time, 1)
	go func() {
		for {
			if _, err := sub.Next(ctx); err != nil {
				return
			}
			received <- time.Now()
		}
	}()
	lat := make([]time.Duration, 0, b.N)
	rec := benchRecord("bench-sub")
	b.ResetTimer()
	for range b.N {
		rec.ID = uuid.New()
		if _, err := s.Append(ctx, "bench-sub", eventstore.Any, []eventstore.Proposed{rec}); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		got := <-received
		lat = append(lat, max(0, got.Sub(acked)))
	}
	b.StopTimer()
	latencyMetrics(b, lat)
}

// BenchmarkOpen measures opening (loading, checking and indexing) a log of
// 1,000,000 records in four segments, and reports the live heap the open
// store holds (heap-MiB, after a GC with the store still open).
// index-files: the sealed segments' index files are there, as after any
// run of the writer; no-index-files: they are removed before each open, as
// on the first open of a log written before them, so every segment is
// scanned and checked.
func BenchmarkOpen(b *testing.B) {
	const n = 1_000_000
	dir := filledLog(b, n)
	for _, keep := range []bool{true, false} {
		name := "index-files"
		if !keep {
			name = "no-index-files"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var heap uint64
			for range b.N {
				b.StopTimer()
				if !keep {
					idx, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
					for _, p := range idx {
						os.Remove(p)
					}
				}
				b.StartTimer()
				s, err := Open(dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if h, _ := s.Head(context.Background()); h != n {
					b.Fatalf("head %d", h)
				}
				if keep && s.fromIndex != len(s.segments)-1 {
					b.Fatalf("%d of %d segments loaded from index files", s.fromIndex, len(s.segments))
				}
				heap = liveHeap()
				runtime.KeepAlive(s)
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n), "events")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		})
	}
}

// BenchmarkAppendLargeLog is BenchmarkAppend with 256 appenders on a log
// of 1,000,000 records (opened from its index files): each new record ID
// is looked up in every segment's ID table, or ruled out by the filter.
func BenchmarkAppendLargeLog(b *testing.B) {
	const n = 1_000_000
	s := reopenedLog(b, n)
	defer s.Close()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("bench-%d", g)
			rec := benchRecord(stream)
			for next.Add(1) <= int64(b.N) {
				rec.ID = uuid.New()
				if _, err := s.Append(ctx, stream, eventstore.Any, []eventstore.Proposed{rec}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// liveHeap returns the bytes of heap still reachable after a full GC.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// filledLog writes n records to a fresh log, closes it and returns its
// directory.
func filledLog(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, s, n)
	s.Close()
	return dir
}

// reopenedLog writes n records to a fresh log, closes it and opens it
// again: reads then come from the files, not the tail cache.
func reopenedLog(b *testing.B, n int) *Store {
	b.Helper()
	s, err := Open(filledLog(b, n), Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}
