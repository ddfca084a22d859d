package storetest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

var concurrencyTests = []test{
	{name: "OptimisticContention", run: testOptimisticContention},
	{name: "ManyStreams", run: testManyStreams},
}

// testOptimisticContention is the optimistic-concurrency loop of the
// command side (RELIABILITY.md §1.9.6) at full contention: writers append
// one record at a time to one stream, each at the exact revision it last
// saw, and on a conflict reload the revision and try again until it has
// won every round. Exactly one writer may win each revision; the stream
// must end contiguous, with every winning record once and nothing else.
func testOptimisticContention(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	const writers, rounds, stream = 16, 50, "counter-1"
	type win struct {
		id  uuid.UUID
		res eventstore.AppendResult
	}
	wins := make([][]win, writers)
	var conflicts, staleReads atomic.Int64
	failures := newErrs()
	start := make(chan struct{}) // released at once, so the first rounds contend too
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			<-start
			exp, reloads := eventstore.NoStream, 0
			for round := 0; round < rounds; {
				p := event("Won", w, round)
				res, err := s.Append(ctx, stream, exp, []eventstore.Proposed{p})
				var wrong *eventstore.WrongExpectedVersionError
				switch {
				case err == nil:
					want := uint64(0) // after NoStream
					if exp >= 0 {
						want = uint64(exp) + 1
					}
					if res.Revision != want {
						failures.add("writer %d won with %v but landed at revision %d", w, exp, res.Revision)
						return
					}
					wins[w] = append(wins[w], win{p.ID, res})
					exp = eventstore.Exact(res.Revision)
					round++
					// The winner alone knows the new revision; let the
					// others race it for the next one rather than win a
					// run of rounds while they wait for a CPU. This only
					// raises contention: correctness does not depend on it.
					runtime.Gosched()
				case errors.As(err, &wrong):
					// A refusal must be for a real conflict: the stream
					// only grows, so it is past what this writer saw.
					if wrong.Actual <= int64(exp) || wrong.Actual < 0 {
						failures.add("writer %d refused with %v although the stream is at %d", w, exp, wrong.Actual)
						return
					}
					// Reload: alternately from the error, as a command
					// handler does, and from a read of the stream's end.
					conflicts.Add(1)
					if reloads++; reloads%2 == 0 {
						exp = eventstore.Exact(uint64(wrong.Actual))
						continue
					}
					last, err := s.ReadStream(ctx, stream, eventstore.Backwards, eventstore.End, 1)
					if err != nil {
						failures.add("writer %d reloading: %v", w, err)
						return
					}
					// The port does not promise that a read already
					// shows the record a refusal reported (a store may
					// check conditions against a commit in flight), so
					// the reload trusts the read, as a handler would: a
					// stale read costs one more refusal, nothing else.
					if len(last) == 0 || int64(last[0].Revision) < wrong.Actual {
						staleReads.Add(1)
					}
					if len(last) == 0 {
						exp = eventstore.NoStream
					} else {
						exp = eventstore.Exact(last[0].Revision)
					}
				default:
					failures.add("writer %d, round %d: %v", w, round, err)
					return
				}
			}
		})
	}
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	wait(t, ctx, done, "the contending writers")
	failures.report(t)
	t.Logf("%d appends refused for a stale revision; %d reloads read less than the refusal reported", conflicts.Load(), staleReads.Load())

	const total = writers * rounds
	byRev := make(map[uint64]win, total)
	for w, ws := range wins {
		if len(ws) != rounds {
			t.Fatalf("writer %d won %d rounds, want %d", w, len(ws), rounds)
		}
		for i, x := range ws {
			if i > 0 && x.res.Revision <= ws[i-1].res.Revision {
				t.Fatalf("writer %d: round %d landed at revision %d, before its round %d at %d", w, i, x.res.Revision, i-1, ws[i-1].res.Revision)
			}
			if prev, dup := byRev[x.res.Revision]; dup {
				t.Fatalf("revision %d won twice: by %s and %s", x.res.Revision, prev.id, x.id)
			}
			byRev[x.res.Revision] = x
		}
	}
	recs := readStream(t, ctx, s, stream)
	if len(recs) != total {
		t.Fatalf("%s has %d records, want %d", stream, len(recs), total)
	}
	for i, r := range recs {
		x, ok := byRev[uint64(i)]
		switch {
		case !ok:
			t.Fatalf("revision %d: no writer was told it won", i)
		case r.Revision != uint64(i):
			t.Fatalf("record %d has revision %d", i, r.Revision)
		case r.ID != x.id || r.Position != x.res.Position:
			t.Fatalf("revision %d holds %s at position %d; the winner was told %s at %d", i, r.ID, r.Position, x.id, x.res.Position)
		}
	}
	checkLog(t, "ReadAll", 1, readAll(t, ctx, s, 0))
	if got := head(t, ctx, s); got != total {
		t.Fatalf("Head = %d, want %d", got, total)
	}
}

// testManyStreams runs writers against private and shared streams at once
// and then checks the global log against what each writer was told and
// against the streams: positions contiguous from 1 in commit order; each
// append's records adjacent, in order, where its result says; each stream
// contiguous from revision 0 and in revision order within the global log;
// and each stream read equal to the global log filtered by stream (the
// "stream view equals $all view" check of RELIABILITY.md §1.4, T8), and
// the subscription view equal to both.
func testManyStreams(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	const writers, appends = 8, 32
	type appended struct {
		stream string
		recs   []eventstore.Proposed
		res    eventstore.AppendResult
	}
	done := make([][]appended, writers)
	failures := newErrs()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			own, ownExp := fmt.Sprintf("acct-%d", w), eventstore.NoStream
			for i := range appends {
				stream, exp := own, ownExp
				switch i % 4 {
				case 2:
					stream, exp = "shared-1", eventstore.Any
				case 3:
					stream, exp = "shared-2", eventstore.Any
				}
				recs := events(1+(w+i)%3, "T", fmt.Sprintf("%d/%d", w, i))
				res, err := s.Append(ctx, stream, exp, recs)
				if err != nil {
					failures.add("writer %d, append %d to %s: %v", w, i, stream, err)
					return
				}
				if stream == own {
					ownExp = eventstore.Exact(res.Revision)
				}
				done[w] = append(done[w], appended{stream, recs, res})
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	wait(t, ctx, finished, "the writers")
	failures.report(t)

	total := 0
	for _, as := range done {
		for _, a := range as {
			total += len(a.recs)
		}
	}
	if got := head(t, ctx, s); got != uint64(total) {
		t.Fatalf("Head = %d, want %d", got, total)
	}
	all := readAll(t, ctx, s, 0)
	if len(all) != total {
		t.Fatalf("ReadAll: %d records, want %d", len(all), total)
	}
	checkLog(t, "ReadAll", 1, all)

	for w, as := range done {
		for i, a := range as {
			n := uint64(len(a.recs))
			if a.res.Position < n || a.res.Revision+1 < n {
				t.Fatalf("writer %d, append %d: result %+v cannot hold %d records", w, i, a.res, n)
			}
			for j, p := range a.recs {
				r := all[a.res.Position-n+uint64(j)]
				if r.ID != p.ID || r.Stream != a.stream || r.Revision != a.res.Revision-n+1+uint64(j) {
					t.Fatalf("writer %d, append %d (%+v), record %d: the log holds %s in %s at revision %d there", w, i, a.res, j, r.ID, r.Stream, r.Revision)
				}
			}
		}
	}

	byStream := make(map[string][]eventstore.Record)
	ids := make(map[uuid.UUID]bool, total)
	for _, r := range all {
		if ids[r.ID] {
			t.Fatalf("ID %s appears twice in the log", r.ID)
		}
		ids[r.ID] = true
		if want := uint64(len(byStream[r.Stream])); r.Revision != want {
			t.Fatalf("position %d: %s revision %d, want %d (the global log is out of stream order)", r.Position, r.Stream, r.Revision, want)
		}
		byStream[r.Stream] = append(byStream[r.Stream], r)
	}
	if len(byStream) != writers+2 {
		t.Errorf("the log has %d streams, want %d", len(byStream), writers+2)
	}
	for stream, want := range byStream {
		sameRecords(t, "ReadStream("+stream+") vs ReadAll", want, readStream(t, ctx, s, stream))
	}

	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sameRecords(t, "Subscribe vs ReadAll", all, take(t, ctx, sub, total))
}
