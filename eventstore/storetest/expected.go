package storetest

import (
	"fmt"
	"testing"

	"switchboard/eventstore"
)

var expectedTests = []test{
	{name: "Conditions", run: testExpectedConditions},
	{name: "PerStream", run: testExpectedPerStream},
	{name: "ActualFollowsTheStream", run: testExpectedActualFollows},
}

// testExpectedConditions checks every expected-revision condition against
// a missing stream and a stream at revision 1 (RELIABILITY.md §1.1): on
// success the append lands right after the stream's last record; on
// failure the error is a *WrongExpectedVersionError carrying the actual
// revision, and nothing is written.
func testExpectedConditions(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	cases := []struct {
		existing int // records in the stream before the append
		exp      eventstore.Expected
		ok       bool
	}{
		{0, eventstore.Any, true},
		{0, eventstore.NoStream, true},
		{0, eventstore.StreamExists, false},
		{0, eventstore.Exact(0), false},
		{0, eventstore.Exact(1), false},
		{2, eventstore.Any, true},
		{2, eventstore.NoStream, false},
		{2, eventstore.StreamExists, true},
		{2, eventstore.Exact(1), true},
		{2, eventstore.Exact(0), false},
		{2, eventstore.Exact(2), false},
		{2, eventstore.Exact(1 << 40), false},
	}
	for i, c := range cases {
		stream := fmt.Sprintf("cond-%d", i)
		if c.existing > 0 {
			mustAppend(t, ctx, s, stream, eventstore.NoStream, events(c.existing, "Setup", stream))
		}
		head0 := head(t, ctx, s)
		what := fmt.Sprintf("stream with %d records, expected %v", c.existing, c.exp)

		res, err := s.Append(ctx, stream, c.exp, events(2, "T", stream))
		if !c.ok {
			wrongExpected(t, err, stream, c.exp, int64(c.existing)-1)
			wantUnchanged(t, ctx, s, head0, what)
			if got := len(readStream(t, ctx, s, stream)); got != c.existing {
				t.Errorf("%s: stream has %d records after a refused append, want %d", what, got, c.existing)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		want := eventstore.AppendResult{Revision: uint64(c.existing) + 1, Position: head0 + 2}
		if res != want {
			t.Errorf("%s: Append = %+v, want %+v", what, res, want)
		}
	}
}

// testExpectedPerStream checks that conditions are about the named stream
// only: other streams, and the length of the whole log, do not count.
func testExpectedPerStream(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	mustAppend(t, ctx, s, "user-1", eventstore.NoStream, events(3, "T", "u1"))
	if res := mustAppend(t, ctx, s, "user-2", eventstore.NoStream, events(1, "T", "u2")); res != (eventstore.AppendResult{Revision: 0, Position: 4}) {
		t.Fatalf("NoStream on a new stream beside another = %+v, want {0 4}", res)
	}
	_, err := s.Append(ctx, "user-2", eventstore.Exact(2), events(1, "T", "u2"))
	wrongExpected(t, err, "user-2", eventstore.Exact(2), 0)
	_, err = s.Append(ctx, "user-3", eventstore.StreamExists, events(1, "T", "u3"))
	wrongExpected(t, err, "user-3", eventstore.StreamExists, eventstore.NoRevision)
	if res := mustAppend(t, ctx, s, "user-1", eventstore.Exact(2), events(1, "T", "u1")); res != (eventstore.AppendResult{Revision: 3, Position: 5}) {
		t.Fatalf("Exact(2) on user-1 = %+v, want {3 5}", res)
	}
}

// testExpectedActualFollows checks that the actual revision in the error
// tracks the stream as it grows, so a writer can retry with it directly,
// and that retrying with it succeeds.
func testExpectedActualFollows(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	mustAppend(t, ctx, s, "doc-1", eventstore.NoStream, events(1, "T", 0))
	for n := 1; n <= 5; n++ {
		mustAppend(t, ctx, s, "doc-1", eventstore.Any, events(n, "T", n))
		last := int64(n * (n + 1) / 2) // records so far minus one
		_, err := s.Append(ctx, "doc-1", eventstore.NoStream, events(1, "T", "x"))
		wrongExpected(t, err, "doc-1", eventstore.NoStream, last)
	}
	res := mustAppend(t, ctx, s, "doc-1", eventstore.Exact(15), events(1, "T", "last"))
	if res.Revision != 16 {
		t.Fatalf("Exact(15) = %+v, want revision 16", res)
	}
}
