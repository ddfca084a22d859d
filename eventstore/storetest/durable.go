package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

var durable = Features{Durable: true}

var durableTests = []test{
	{name: "ReopenEmpty", needs: durable, run: testReopenEmpty},
	{name: "ReopenKeepsEverything", needs: durable, run: testReopenKeepsEverything},
	{name: "SubscribeAfterReopen", needs: durable, run: testSubscribeAfterReopen},
	{name: "ResumeFromCheckpoint", needs: durable, run: testResumeFromCheckpoint},
}

// closeStore closes s and fails the test if that fails: for a durable
// store a failed Close may have lost data, which the reopen would then
// blame on the wrong thing.
func closeStore(t *testing.T, s eventstore.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// testReopenEmpty checks that a store closed before its first append
// reopens empty and numbers from the start.
func testReopenEmpty(t *testing.T, h Harness) {
	s, dir := open(t, h)
	ctx := testContext(t)
	closeStore(t, s)

	s = openAt(t, h, dir)
	if got := head(t, ctx, s); got != 0 {
		t.Fatalf("Head after reopening an empty store = %d, want 0", got)
	}
	if res := mustAppend(t, ctx, s, "first-1", eventstore.NoStream, events(2, "T", "first")); res != (eventstore.AppendResult{Revision: 1, Position: 2}) {
		t.Fatalf("first append after reopen = %+v, want {1 2}", res)
	}
}

// testReopenKeepsEverything closes and reopens a store three times and
// checks after each reopen that the log is exactly what it was (every
// field, commit times included: a record is immutable), that the ID index
// survived (old appends are still idempotent, and old IDs still conflict),
// that the stream revisions survived (conditions are checked against old
// streams), and that new appends continue the numbering.
func testReopenKeepsEverything(t *testing.T, h Harness) {
	s, dir := open(t, h)
	ctx := testContext(t)

	type batch struct {
		stream string
		recs   []eventstore.Proposed
		res    eventstore.AppendResult
	}
	var batches []batch
	add := func(stream string, exp eventstore.Expected, recs []eventstore.Proposed) {
		t.Helper()
		batches = append(batches, batch{stream, recs, mustAppend(t, ctx, s, stream, exp, recs)})
	}

	for cycle := range 3 {
		// Records of every shape, to several streams, one of them new
		// in each cycle and one carried over from the first.
		full := event("Full", cycle)
		full.Metadata = eventstore.Metadata{
			CorrelationID: uuid.New(),
			CausationID:   uuid.New(),
			User:          "alice",
			Time:          time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.FixedZone("X", -5*60*60)),
		}
		full.Data = json.RawMessage(`{"text":"h\u00e9 \"x\" 🎉", "n": [1, 2.5e3]}`)
		add("keep-0", eventstore.Any, []eventstore.Proposed{full})
		add(fmt.Sprintf("cycle-%d", cycle), eventstore.NoStream, events(3, "T", cycle))
		for i := range 4 {
			add("keep-0", eventstore.Any, events(1+i%2, "T", fmt.Sprintf("%d/%d", cycle, i)))
		}

		before := readAll(t, ctx, s, 0)
		streams := make(map[string][]eventstore.Record)
		for _, r := range before {
			streams[r.Stream] = append(streams[r.Stream], r)
		}
		closeStore(t, s)
		s = openAt(t, h, dir)

		what := fmt.Sprintf("after reopen %d", cycle+1)
		if got := head(t, ctx, s); got != uint64(len(before)) {
			t.Fatalf("%s: Head = %d, want %d", what, got, len(before))
		}
		sameRecords(t, what+": ReadAll", before, readAll(t, ctx, s, 0))
		for name, recs := range streams {
			sameRecords(t, what+": ReadStream("+name+")", recs, readStream(t, ctx, s, name))
			last, err := s.ReadStream(ctx, name, eventstore.Backwards, eventstore.End, 1)
			if err != nil || len(last) != 1 {
				t.Fatalf("%s: ReadStream(%s, backwards, End, 1): %d records, %v", what, name, len(last), err)
			}
			sameRecords(t, what+": last of "+name, recs[len(recs)-1:], last)
		}
		if t.Failed() {
			t.FailNow()
		}

		// Every batch so far is still a retry, not a new append.
		head0 := uint64(len(before))
		for i, b := range batches {
			res, err := s.Append(ctx, b.stream, eventstore.Any, b.recs)
			if err != nil || res != b.res {
				t.Errorf("%s: retry of batch %d: got %+v, %v; want %+v, nil", what, i, res, err, b.res)
			}
		}
		old := batches[1]
		res, err := s.Append(ctx, old.stream, eventstore.NoStream, old.recs)
		if err != nil || res != old.res {
			t.Errorf("%s: retry of batch 1 with NoStream: got %+v, %v; want %+v, nil", what, res, err, old.res)
		}
		wantUnchanged(t, ctx, s, head0, what+", retries")

		// And old IDs still conflict.
		changed := append([]eventstore.Proposed(nil), old.recs...)
		changed[0].Data = json.RawMessage(`"changed"`)
		for _, c := range []struct {
			name   string
			stream string
			recs   []eventstore.Proposed
		}{
			{"other data", old.stream, changed},
			{"another stream", "elsewhere-1", old.recs[:1]},
			{"partial overlap", old.stream, append(old.recs[:1:1], event("New"))},
		} {
			if _, err := s.Append(ctx, c.stream, eventstore.Any, c.recs); !errors.Is(err, eventstore.ErrIDConflict) {
				t.Errorf("%s: old ID, %s: err = %v, want ErrIDConflict", what, c.name, err)
			}
		}
		wantUnchanged(t, ctx, s, head0, what+", conflicts")

		// Conditions see the old streams at their old revisions.
		keep := streams["keep-0"]
		lastRev := keep[len(keep)-1].Revision
		_, err = s.Append(ctx, "keep-0", eventstore.NoStream, events(1, "T", "x"))
		wrongExpected(t, err, "keep-0", eventstore.NoStream, int64(lastRev))
		_, err = s.Append(ctx, "keep-0", eventstore.Exact(lastRev-1), events(1, "T", "x"))
		wrongExpected(t, err, "keep-0", eventstore.Exact(lastRev-1), int64(lastRev))
		wantUnchanged(t, ctx, s, head0, what+", wrong expected versions")

		next := event("Next", cycle)
		add("keep-0", eventstore.Exact(lastRev), []eventstore.Proposed{next})
		if got, want := batches[len(batches)-1].res, (eventstore.AppendResult{Revision: lastRev + 1, Position: head0 + 1}); got != want {
			t.Fatalf("%s: append at the old stream's revision = %+v, want %+v", what, got, want)
		}
	}
}

// testSubscribeAfterReopen checks that subscriptions on a reopened store,
// from the start, the middle and the head, deliver the old records and
// then the new ones appended after the reopen, with no gap or repeat at
// either seam.
func testSubscribeAfterReopen(t *testing.T, h Harness) {
	s, dir := open(t, h)
	ctx := testContext(t)

	for i := range 10 {
		mustAppend(t, ctx, s, fmt.Sprintf("old-%d", i%3), eventstore.Any, events(4, "Old", i))
	}
	const old = 40
	closeStore(t, s)
	s = openAt(t, h, dir)

	starts := []uint64{0, 1, old / 2, old - 1, old}
	subs := make([]eventstore.Subscription, len(starts))
	for i, after := range starts {
		sub, err := s.Subscribe(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs[i] = sub
	}
	const batches, size = 10, 2
	failures := newErrs()
	done := appendInBackground(ctx, s, "new-1", batches, size, failures)
	got := make([][]eventstore.Record, len(subs))
	for i, sub := range subs {
		got[i] = take(t, ctx, sub, old+batches*size-int(starts[i]))
	}
	wait(t, ctx, done, "the appender")
	failures.report(t)

	all := readAll(t, ctx, s, 0)
	for i, after := range starts {
		what := fmt.Sprintf("subscription after %d", after)
		checkLog(t, what, after+1, got[i])
		sameRecords(t, what+" vs ReadAll", all[after:], got[i])
	}
}

// testResumeFromCheckpoint is a projection's life across a restart: it
// reads part of the log, the store closes under it, and after the reopen
// it resubscribes from the last position it processed (its checkpoint,
// exclusive) while writers go on. Old and new subscription together must
// deliver every record once.
func testResumeFromCheckpoint(t *testing.T, h Harness) {
	s, dir := open(t, h)
	ctx := testContext(t)

	mustAppend(t, ctx, s, "proj-1", eventstore.NoStream, events(30, "T", "before"))
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := take(t, ctx, sub, 12)
	checkpoint := first[len(first)-1].Position
	closeStore(t, s)
	if _, err := sub.Next(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after the store closed: %v, want ErrClosed", err)
	}
	_ = sub.Close()

	s = openAt(t, h, dir)
	sub, err = s.Subscribe(ctx, checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	failures := newErrs()
	done := appendInBackground(ctx, s, "proj-1", 10, 3, failures)
	rest := take(t, ctx, sub, 30+30-len(first))
	wait(t, ctx, done, "the appender")
	failures.report(t)

	got := append(first, rest...)
	checkLog(t, "old and new subscription", 1, got)
	sameRecords(t, "old and new subscription vs ReadAll", readAll(t, ctx, s, 0), got)
	noMore(t, ctx, sub)
}
