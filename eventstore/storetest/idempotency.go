package storetest

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

var idempotencyTests = []test{
	{name: "RetryReturnsOriginal", run: testRetryReturnsOriginal},
	{name: "RetryOfPart", run: testRetryOfPart},
	{name: "RetryAcrossAppends", run: testRetryAcrossAppends},
	{name: "Conflicts", run: testIDConflicts},
	{name: "ConcurrentRetries", run: testConcurrentRetries},
}

// testRetryReturnsOriginal checks the retry rule (RELIABILITY.md §1.2,
// §1.9): resending an append with the same IDs returns the original result
// and writes nothing, whatever the condition says and however far the
// stream has moved since. This is what lets a client retry an append
// whose outcome it never learnt. Metadata is not compared, because a
// retry may be re-stamped.
func testRetryReturnsOriginal(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	mustAppend(t, ctx, s, "other-1", eventstore.NoStream, events(2, "T", "before"))
	batch := events(3, "Paid", "batch")
	batch[0].Metadata.User = "alice"
	orig := mustAppend(t, ctx, s, "pay-1", eventstore.NoStream, batch)
	if orig != (eventstore.AppendResult{Revision: 2, Position: 5}) {
		t.Fatalf("Append = %+v, want {2 5}", orig)
	}

	retries := func(when string) {
		t.Helper()
		head0 := head(t, ctx, s)
		len0 := len(readStream(t, ctx, s, "pay-1"))
		restamped := append([]eventstore.Proposed(nil), batch...)
		restamped[0].Metadata = eventstore.Metadata{User: "someone else", CorrelationID: uuid.New()}
		for _, exp := range []eventstore.Expected{
			eventstore.NoStream, eventstore.Any, eventstore.StreamExists,
			eventstore.Exact(2), eventstore.Exact(0), eventstore.Exact(99),
		} {
			for name, recs := range map[string][]eventstore.Proposed{"same records": batch, "other metadata": restamped} {
				res, err := s.Append(ctx, "pay-1", exp, recs)
				if err != nil || res != orig {
					t.Errorf("%s, retry of %s with %v: got %+v, %v; want the original %+v, nil", when, name, exp, res, err, orig)
				}
			}
		}
		wantUnchanged(t, ctx, s, head0, when+", retries")
		if got := len(readStream(t, ctx, s, "pay-1")); got != len0 {
			t.Errorf("%s: pay-1 has %d records after retries, want %d", when, got, len0)
		}
	}
	retries("right after the append")

	mustAppend(t, ctx, s, "pay-1", eventstore.Exact(2), events(2, "T", "after"))
	mustAppend(t, ctx, s, "other-1", eventstore.Any, events(2, "T", "after"))
	retries("after the stream moved on")

	// The stored records are the first ones, metadata included.
	recs := readStream(t, ctx, s, "pay-1")
	for i, p := range batch {
		checkProposed(t, "pay-1", p, "pay-1", uint64(i), uint64(3+i), recs[i])
	}
}

// testRetryOfPart checks that resending a consecutive run of an append's
// records returns the revision and position of the last of them: the
// caller gets the place of what it sent.
func testRetryOfPart(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	b := events(4, "T", "part")
	mustAppend(t, ctx, s, "part-1", eventstore.NoStream, b)
	head0 := head(t, ctx, s)
	cases := []struct {
		recs []eventstore.Proposed
		last uint64 // revision, and position - 1, of the last record sent
	}{
		{b[:1], 0}, {b[:2], 1}, {b[1:3], 2}, {b[2:], 3}, {b[3:], 3},
	}
	for _, c := range cases {
		want := eventstore.AppendResult{Revision: c.last, Position: c.last + 1}
		res, err := s.Append(ctx, "part-1", eventstore.Any, c.recs)
		if err != nil || res != want {
			t.Errorf("retry of %d records ending at revision %d: got %+v, %v; want %+v", len(c.recs), c.last, res, err, want)
		}
	}
	wantUnchanged(t, ctx, s, head0, "retries of parts")
}

// testRetryAcrossAppends checks that records appended one by one, with
// other streams' records between them in the log, are retried as one
// batch: what counts is that they follow each other in their stream.
func testRetryAcrossAppends(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	x, y := event("X"), event("Y")
	mustAppend(t, ctx, s, "split-1", eventstore.NoStream, []eventstore.Proposed{x})
	mustAppend(t, ctx, s, "noise-1", eventstore.NoStream, events(3, "T", "noise"))
	last := mustAppend(t, ctx, s, "split-1", eventstore.Exact(0), []eventstore.Proposed{y})
	if last != (eventstore.AppendResult{Revision: 1, Position: 5}) {
		t.Fatalf("second append = %+v, want {1 5}", last)
	}
	head0 := head(t, ctx, s)
	res, err := s.Append(ctx, "split-1", eventstore.NoStream, []eventstore.Proposed{x, y})
	if err != nil || res != last {
		t.Fatalf("retry of both: got %+v, %v; want %+v, nil", res, err, last)
	}
	wantUnchanged(t, ctx, s, head0, "retry of both")
}

// testIDConflicts checks that reusing an ID for anything but a faithful
// retry is refused with ErrIDConflict and writes nothing: neither writing
// a second copy nor acknowledging the first would be honest. The conflict
// is reported whatever the condition, even one that also fails: IDs are
// checked before the condition (that is what lets a retry succeed
// whatever it says), and a caller told "wrong expected version" would
// reload and resend the same IDs only to be refused again.
func testIDConflicts(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	b := events(3, "T", "orig")
	mustAppend(t, ctx, s, "conf-1", eventstore.NoStream, b)
	mustAppend(t, ctx, s, "conf-2", eventstore.NoStream, events(1, "T", "two"))
	head0 := head(t, ctx, s)

	edited := func(i int, edit func(*eventstore.Proposed)) []eventstore.Proposed {
		out := append([]eventstore.Proposed(nil), b...)
		edit(&out[i])
		return out
	}
	fresh := event("Fresh")
	cases := []struct {
		name   string
		stream string
		recs   []eventstore.Proposed
	}{
		{"other data", "conf-1", edited(1, func(p *eventstore.Proposed) { p.Data = json.RawMessage(`{"other":true}`) })},
		{"other type", "conf-1", edited(2, func(p *eventstore.Proposed) { p.Type = "Other" })},
		{"known then new", "conf-1", []eventstore.Proposed{b[0], b[1], b[2], fresh}},
		{"new then known", "conf-1", []eventstore.Proposed{fresh, b[0]}},
		{"not consecutive", "conf-1", []eventstore.Proposed{b[0], b[2]}},
		{"out of order", "conf-1", []eventstore.Proposed{b[1], b[0]}},
		{"another stream", "conf-2", b},
		{"a new stream", "conf-3", b[:1]},
	}
	for _, c := range cases {
		for _, exp := range []eventstore.Expected{eventstore.Any, eventstore.NoStream, eventstore.StreamExists} {
			_, err := s.Append(ctx, c.stream, exp, c.recs)
			if !errors.Is(err, eventstore.ErrIDConflict) {
				t.Errorf("%s, %v: err = %v, want ErrIDConflict", c.name, exp, err)
			}
		}
		wantUnchanged(t, ctx, s, head0, c.name)
	}
	recs := readStream(t, ctx, s, "conf-1")
	for i, p := range b {
		checkProposed(t, "conf-1 after conflicts", p, "conf-1", uint64(i), uint64(i+1), recs[i])
	}
	if len(recs) != len(b) {
		t.Errorf("conf-1 has %d records, want %d", len(recs), len(b))
	}
}

// testConcurrentRetries races copies of the same append against each
// other. Exactly one copy may be written and every caller must get its
// result, including callers that arrive while the first copy is still
// being committed (for a durable store: before its fsync; a duplicate
// acknowledged before the original is durable is the Event Store 5.0.1
// bug of RELIABILITY.md §1.2).
func testConcurrentRetries(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	const rounds, copies = 20, 8
	prev := eventstore.NoStream
	for round := range rounds {
		batch := events(1+round%3, "T", round)
		results := make([]eventstore.AppendResult, copies)
		failed := make([]error, copies)
		var wg sync.WaitGroup
		for i := range copies {
			// Half the copies use the condition the first attempt had,
			// half Any: the retry rule ignores the condition.
			exp := prev
			if i%2 == 1 {
				exp = eventstore.Any
			}
			wg.Go(func() { results[i], failed[i] = s.Append(ctx, "race-1", exp, batch) })
		}
		wg.Wait()
		for i := range copies {
			if failed[i] != nil {
				t.Fatalf("round %d, copy %d: %v", round, i, failed[i])
			}
			if results[i] != results[0] {
				t.Fatalf("round %d: copy %d got %+v, copy 0 got %+v", round, i, results[i], results[0])
			}
		}
		prev = eventstore.Exact(results[0].Revision)
	}

	recs := readStream(t, ctx, s, "race-1")
	want := 0
	for round := range rounds {
		want += 1 + round%3
	}
	if len(recs) != want {
		t.Fatalf("race-1 has %d records, want %d (a retry was written twice)", len(recs), want)
	}
	seen := make(map[uuid.UUID]bool)
	for _, r := range recs {
		if seen[r.ID] {
			t.Fatalf("ID %s appears twice", r.ID)
		}
		seen[r.ID] = true
	}
	checkLog(t, "race-1", 1, recs)
}
