package storetest

import (
	"fmt"
	"testing"

	"switchboard/eventstore"
)

var readTests = []test{
	{name: "Stream", run: testReadStream},
	{name: "MissingStream", run: testReadMissingStream},
	{name: "All", run: testReadAll},
}

// testReadStream checks stream reads in both directions from every kind of
// start, with limits. The stream's records are interleaved with another
// stream's in the log, so a read that confuses revisions with positions,
// or leaks the other stream, shows.
//
// A read covers the records whose revision is at or after from
// (forwards) or at or before from (backwards), nearest first, at most
// limit of them. So a forwards read from past the end is empty, and a
// backwards read from past the end, End included, starts at the last
// record.
func testReadStream(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	const n = 10
	for i := range n {
		mustAppend(t, ctx, s, "rs-1", eventstore.Any, events(1, "T", i))
		mustAppend(t, ctx, s, "rs-2", eventstore.Any, events(1, "U", i))
	}
	full := readStream(t, ctx, s, "rs-1")
	if len(full) != n {
		t.Fatalf("rs-1 has %d records, want %d", len(full), n)
	}
	for i, r := range full {
		if r.Stream != "rs-1" || r.Revision != uint64(i) || r.Position != uint64(2*i+1) {
			t.Fatalf("rs-1 record %d: stream %q, revision %d, position %d; want rs-1, %d, %d", i, r.Stream, r.Revision, r.Position, i, 2*i+1)
		}
	}

	fwd, back := eventstore.Forwards, eventstore.Backwards
	span := func(from, to int) []int { // from..to inclusive, either way
		var out []int
		for i := from; ; {
			out = append(out, i)
			if i == to {
				return out
			}
			if from < to {
				i++
			} else {
				i--
			}
		}
	}
	cases := []struct {
		dir   eventstore.Direction
		from  uint64
		limit int
		want  []int
	}{
		{fwd, 0, 100, span(0, 9)},
		{fwd, 0, n, span(0, 9)},
		{fwd, 0, 1, span(0, 0)},
		{fwd, 0, 3, span(0, 2)},
		{fwd, 3, 4, span(3, 6)},
		{fwd, 9, 5, span(9, 9)},
		{fwd, 10, 5, nil},
		{fwd, 1000, 5, nil},
		{fwd, eventstore.End - 1, 5, nil},
		{fwd, eventstore.End, 5, nil},
		{back, eventstore.End, 1, span(9, 9)},
		{back, eventstore.End, 3, span(9, 7)},
		{back, eventstore.End, 100, span(9, 0)},
		{back, 9, 2, span(9, 8)},
		{back, 5, 3, span(5, 3)},
		{back, 2, 10, span(2, 0)},
		{back, 0, 1, span(0, 0)},
		{back, 0, 5, span(0, 0)},
		{back, 10, 2, span(9, 8)},
		{back, 1000, 2, span(9, 8)},
	}
	for _, c := range cases {
		what := fmt.Sprintf("ReadStream(rs-1, %v, %d, %d)", dirName(c.dir), c.from, c.limit)
		got, err := s.ReadStream(ctx, "rs-1", c.dir, c.from, c.limit)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		var want []eventstore.Record
		for _, i := range c.want {
			want = append(want, full[i])
		}
		sameRecords(t, what, want, got)
	}
}

// testReadMissingStream checks that a stream with no records reads as
// empty, not as an error, in both directions: "no records yet" is the
// normal state of every stream before its first append.
func testReadMissingStream(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	for _, populated := range []bool{false, true} {
		if populated {
			mustAppend(t, ctx, s, "here-1", eventstore.NoStream, events(3, "T", "here"))
		}
		for _, c := range []struct {
			dir  eventstore.Direction
			from uint64
		}{{eventstore.Forwards, 0}, {eventstore.Backwards, eventstore.End}, {eventstore.Backwards, 0}} {
			got, err := s.ReadStream(ctx, "missing-1", c.dir, c.from, 10)
			if err != nil || len(got) != 0 {
				t.Errorf("ReadStream(missing-1, %s, %d) in a log with records: %v: %d records, %v; want none, nil", dirName(c.dir), c.from, populated, len(got), err)
			}
		}
	}
}

// testReadAll checks global reads from every kind of start, with limits,
// and that paging with any limit rebuilds the same log.
func testReadAll(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	empty, err := s.ReadAll(ctx, 0, 10)
	if err != nil || len(empty) != 0 {
		t.Fatalf("ReadAll of an empty log: %d records, %v; want none, nil", len(empty), err)
	}
	for i := range 9 {
		mustAppend(t, ctx, s, fmt.Sprintf("ra-%d", i%3), eventstore.Any, events(1+i%4, "T", i))
	}
	const n = 1 + 2 + 3 + 4 + 1 + 2 + 3 + 4 + 1
	full, err := s.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != n {
		t.Fatalf("ReadAll(0, 100): %d records, want %d", len(full), n)
	}
	checkLog(t, "ReadAll(0, 100)", 1, full)

	cases := []struct {
		from       uint64
		limit      int
		first, cnt int // expected: full[first:first+cnt]
	}{
		{0, 100, 0, n},
		{1, 100, 0, n},
		{0, 1, 0, 1},
		{1, 5, 0, 5},
		{5, 3, 4, 3},
		{n - 1, 10, n - 2, 2},
		{n, 10, n - 1, 1},
		{n + 1, 10, 0, 0},
		{1 << 40, 10, 0, 0},
		{^uint64(0), 10, 0, 0},
	}
	for _, c := range cases {
		what := fmt.Sprintf("ReadAll(%d, %d)", c.from, c.limit)
		got, err := s.ReadAll(ctx, c.from, c.limit)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		sameRecords(t, what, full[c.first:c.first+c.cnt], got)
	}

	for _, limit := range []int{1, 2, 7} {
		var paged []eventstore.Record
		for from := uint64(1); ; {
			recs, err := s.ReadAll(ctx, from, limit)
			if err != nil {
				t.Fatalf("ReadAll(%d, %d): %v", from, limit, err)
			}
			if len(recs) > limit {
				t.Fatalf("ReadAll(%d, %d) returned %d records", from, limit, len(recs))
			}
			if len(recs) == 0 {
				break
			}
			paged = append(paged, recs...)
			from = recs[len(recs)-1].Position + 1
		}
		sameRecords(t, fmt.Sprintf("paged by %d", limit), full, paged)
	}
}

func dirName(d eventstore.Direction) string {
	switch d {
	case eventstore.Forwards:
		return "forwards"
	case eventstore.Backwards:
		return "backwards"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}
