package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

var appendTests = []test{
	{name: "RoundTrip", run: testRoundTrip},
	{name: "MultiRecordIsContiguous", run: testMultiRecordContiguous},
	{name: "AllOrNothing", run: testAllOrNothing},
	{name: "MaxAppendRecords", run: testMaxAppendRecords},
	{name: "MaxRecordSize", run: testMaxRecordSize},
	{name: "NoAliasing", run: testNoAliasing},
	{name: "SimilarStreamNames", run: testSimilarStreamNames},
}

// testRoundTrip checks that every field a caller gives comes back exactly,
// through every read path, and that the store fills in Stream, Revision,
// Position and Committed.
func testRoundTrip(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	if got := head(t, ctx, s); got != 0 {
		t.Fatalf("Head of a new store = %d, want 0", got)
	}
	zone := time.FixedZone("UTC+2", 2*60*60)
	full := eventstore.Proposed{
		ID:   uuid.New(),
		Type: "MessagePosted",
		Data: json.RawMessage(`{"room":"r1", "body":"h\u00e9llo \"quoted\" 🎉","n":[1,2.5,null,true]}`),
		Metadata: eventstore.Metadata{
			CorrelationID: uuid.New(),
			CausationID:   uuid.New(),
			User:          "alice",
			Time:          time.Date(2025, 3, 4, 5, 6, 7, 891011121, zone),
		},
	}
	bare := eventstore.Proposed{ID: uuid.New(), Type: "Bare", Data: json.RawMessage(`null`)}
	scalar := eventstore.Proposed{ID: uuid.New(), Type: "Scalar", Data: json.RawMessage(` 42 `),
		Metadata: eventstore.Metadata{User: "bob"}}
	in := []eventstore.Proposed{full, bare, scalar}

	res := mustAppend(t, ctx, s, "chat-1", eventstore.NoStream, in)
	if want := (eventstore.AppendResult{Revision: 2, Position: 3}); res != want {
		t.Fatalf("Append = %+v, want %+v", res, want)
	}
	if got := head(t, ctx, s); got != 3 {
		t.Fatalf("Head = %d, want 3", got)
	}

	check := func(what string, recs []eventstore.Record, order []int) {
		t.Helper()
		if len(recs) != len(order) {
			t.Fatalf("%s: got %d records, want %d", what, len(recs), len(order))
		}
		for i, j := range order {
			checkProposed(t, what, in[j], "chat-1", uint64(j), uint64(j+1), recs[i])
		}
	}
	fwd, err := s.ReadStream(ctx, "chat-1", eventstore.Forwards, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	check("ReadStream forwards", fwd, []int{0, 1, 2})
	back, err := s.ReadStream(ctx, "chat-1", eventstore.Backwards, eventstore.End, 10)
	if err != nil {
		t.Fatal(err)
	}
	check("ReadStream backwards", back, []int{2, 1, 0})
	all, err := s.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	check("ReadAll", all, []int{0, 1, 2})

	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var subbed []eventstore.Record
	for range 3 {
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		subbed = append(subbed, r)
	}
	check("Subscribe", subbed, []int{0, 1, 2})

	// The same record read twice is the same record: reads do not
	// re-stamp the commit time.
	sameRecords(t, "ReadAll vs ReadStream", all, fwd)
	sameRecords(t, "ReadAll vs Subscribe", all, subbed)
	for _, r := range all[1:] {
		if r.Committed.Before(all[0].Committed) {
			t.Errorf("record %d committed at %v, before record 1 of the same append at %v", r.Position, r.Committed, all[0].Committed)
		}
	}
}

// testMultiRecordContiguous checks that the records of one append get
// contiguous revisions and positions, and that the next append, to the
// same or another stream, continues right after them.
func testMultiRecordContiguous(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	a := events(5, "A", "first")
	if res := mustAppend(t, ctx, s, "acct-1", eventstore.NoStream, a); res != (eventstore.AppendResult{Revision: 4, Position: 5}) {
		t.Fatalf("first append = %+v, want {4 5}", res)
	}
	b := events(3, "B", "other")
	if res := mustAppend(t, ctx, s, "acct-2", eventstore.NoStream, b); res != (eventstore.AppendResult{Revision: 2, Position: 8}) {
		t.Fatalf("append to another stream = %+v, want {2 8}", res)
	}
	c := events(4, "C", "more")
	if res := mustAppend(t, ctx, s, "acct-1", eventstore.Exact(4), c); res != (eventstore.AppendResult{Revision: 8, Position: 12}) {
		t.Fatalf("second append = %+v, want {8 12}", res)
	}

	all := readAll(t, ctx, s, 0)
	checkLog(t, "ReadAll", 1, all)
	type placed struct {
		p      eventstore.Proposed
		stream string
		rev    uint64
	}
	var want []placed
	for i, p := range a {
		want = append(want, placed{p, "acct-1", uint64(i)})
	}
	for i, p := range b {
		want = append(want, placed{p, "acct-2", uint64(i)})
	}
	for i, p := range c {
		want = append(want, placed{p, "acct-1", uint64(len(a) + i)})
	}
	if len(all) != len(want) {
		t.Fatalf("ReadAll: %d records, want %d", len(all), len(want))
	}
	for i, w := range want {
		checkProposed(t, "ReadAll", w.p, w.stream, w.rev, uint64(i+1), all[i])
	}
}

// testAllOrNothing checks that an append refused for a reason found only
// in the log (a failed condition, an ID conflict on a later record) writes
// none of its records, not just the offending one.
func testAllOrNothing(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	used := event("Used")
	mustAppend(t, ctx, s, "order-1", eventstore.NoStream, []eventstore.Proposed{used})
	head0 := head(t, ctx, s)

	_, err := s.Append(ctx, "order-1", eventstore.NoStream, events(5, "T", "refused"))
	wrongExpected(t, err, "order-1", eventstore.NoStream, 0)
	wantUnchanged(t, ctx, s, head0, "wrong expected version")

	// The conflicting ID comes last, after records that alone would be
	// fine: a store that writes as it checks would leave them behind.
	batch := append(events(3, "T", "fresh"), used)
	_, err = s.Append(ctx, "order-2", eventstore.Any, batch)
	if !errors.Is(err, eventstore.ErrIDConflict) {
		t.Fatalf("append whose last record reuses an ID: err = %v, want ErrIDConflict", err)
	}
	wantUnchanged(t, ctx, s, head0, "ID conflict on the last record")
	if recs := readStream(t, ctx, s, "order-2"); len(recs) != 0 {
		t.Fatalf("order-2 has %d records after a refused append, want none", len(recs))
	}

	// The refused IDs were not consumed: they can be appended now.
	res := mustAppend(t, ctx, s, "order-2", eventstore.NoStream, batch[:3])
	if res != (eventstore.AppendResult{Revision: 2, Position: head0 + 3}) {
		t.Fatalf("append of previously refused records = %+v, want {2 %d}", res, head0+3)
	}
}

// testMaxAppendRecords checks the largest append the port allows, as one
// unit.
func testMaxAppendRecords(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	in := events(eventstore.MaxAppendRecords, "Bulk", "max")
	res := mustAppend(t, ctx, s, "bulk-1", eventstore.NoStream, in)
	n := uint64(eventstore.MaxAppendRecords)
	if res != (eventstore.AppendResult{Revision: n - 1, Position: n}) {
		t.Fatalf("Append = %+v, want {%d %d}", res, n-1, n)
	}
	got := readStream(t, ctx, s, "bulk-1")
	if len(got) != len(in) {
		t.Fatalf("read %d records, want %d", len(got), len(in))
	}
	for i := range in {
		checkProposed(t, "ReadStream", in[i], "bulk-1", uint64(i), uint64(i+1), got[i])
	}
}

// testMaxRecordSize checks that a record of exactly MaxRecordSize is
// accepted and comes back whole: stores must size their frames and buffers
// for it. (One byte more is refused; see InvalidInput.)
func testMaxRecordSize(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	p := event("Big")
	p.Metadata.User = "carol"
	p.Data = bigJSON(eventstore.MaxRecordSize - len(p.Type) - len(p.Metadata.User))
	small := event("Small")
	res := mustAppend(t, ctx, s, "big-1", eventstore.NoStream, []eventstore.Proposed{p, small})
	if res != (eventstore.AppendResult{Revision: 1, Position: 2}) {
		t.Fatalf("Append = %+v, want {1 2}", res)
	}
	got := readStream(t, ctx, s, "big-1")
	if len(got) != 2 {
		t.Fatalf("read %d records, want 2", len(got))
	}
	checkProposed(t, "big record", p, "big-1", 0, 1, got[0])
	checkProposed(t, "record after the big one", small, "big-1", 1, 2, got[1])
}

// bigJSON returns a JSON string value of exactly n bytes (n >= 2).
func bigJSON(n int) json.RawMessage {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	b[0], b[n-1] = '"', '"'
	return b
}

// testNoAliasing checks that the store keeps its own copy of record data:
// a caller that reuses its buffer after Append, or edits what a read
// returned, must not change the log.
func testNoAliasing(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	p := eventstore.Proposed{ID: uuid.New(), Type: "T", Data: json.RawMessage(`{"v":"original"}`)}
	orig := append(json.RawMessage(nil), p.Data...)
	mustAppend(t, ctx, s, "alias-1", eventstore.NoStream, []eventstore.Proposed{p})
	copy(p.Data, `{"v":"CHANGED!"}`)

	r1, err := s.ReadStream(ctx, "alias-1", eventstore.Forwards, 0, 1)
	if err != nil || len(r1) != 1 {
		t.Fatalf("ReadStream: %d records, %v", len(r1), err)
	}
	if string(r1[0].Data) != string(orig) {
		t.Fatalf("after the caller edited its Data, the log holds %s, want %s", r1[0].Data, orig)
	}
	copy(r1[0].Data, `{"v":"CHANGED!"}`)

	r2, err := s.ReadAll(ctx, 1, 1)
	if err != nil || len(r2) != 1 {
		t.Fatalf("ReadAll: %d records, %v", len(r2), err)
	}
	if string(r2[0].Data) != string(orig) {
		t.Fatalf("after a reader edited the Data it was given, the log holds %s, want %s", r2[0].Data, orig)
	}
}

// testSimilarStreamNames checks that streams whose names share a prefix or
// differ only in case are distinct: an index keyed by prefix or folded
// case would merge them.
func testSimilarStreamNames(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	names := []string{"room-1", "room-10", "room-1-1", "Room-1", "room-١"}
	for i, n := range names {
		mustAppend(t, ctx, s, n, eventstore.NoStream, events(i+1, "T", n))
	}
	for i, n := range names {
		recs := readStream(t, ctx, s, n)
		if len(recs) != i+1 {
			t.Errorf("stream %q: %d records, want %d", n, len(recs), i+1)
		}
		for _, r := range recs {
			if r.Stream != n {
				t.Errorf("stream %q returned a record of %q", n, r.Stream)
			}
		}
	}
}
