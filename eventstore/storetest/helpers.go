package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

// page is the limit the helpers read with. It is small enough that reads
// of a few thousand records exercise paging, and large enough to stay fast.
const page = 500

// event returns a valid record with a fresh ID whose data names its
// origin, so a misplaced record is easy to spot in a failure message.
func event(typ string, fields ...any) eventstore.Proposed {
	var b strings.Builder
	b.WriteString(`{"at":[`)
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		v, _ := json.Marshal(f)
		b.Write(v)
	}
	b.WriteString(`]}`)
	return eventstore.Proposed{ID: uuid.New(), Type: typ, Data: json.RawMessage(b.String())}
}

// events returns n records of type typ tagged with tag and their index.
func events(n int, typ string, tag any) []eventstore.Proposed {
	out := make([]eventstore.Proposed, n)
	for i := range out {
		out[i] = event(typ, tag, i)
	}
	return out
}

// mustAppend appends and fails the test on error.
func mustAppend(t *testing.T, ctx context.Context, s eventstore.Store, stream string, exp eventstore.Expected, recs []eventstore.Proposed) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctx, stream, exp, recs)
	if err != nil {
		t.Fatalf("Append(%q, %v, %d records): %v", stream, exp, len(recs), err)
	}
	return res
}

// head returns the store's head and fails the test on error.
func head(t *testing.T, ctx context.Context, s eventstore.Store) uint64 {
	t.Helper()
	h, err := s.Head(ctx)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return h
}

// readStream reads the whole stream forwards, page by page.
func readStream(t *testing.T, ctx context.Context, s eventstore.Store, stream string) []eventstore.Record {
	t.Helper()
	var out []eventstore.Record
	for {
		recs, err := s.ReadStream(ctx, stream, eventstore.Forwards, uint64(len(out)), page)
		if err != nil {
			t.Fatalf("ReadStream(%q, forwards, %d, %d): %v", stream, len(out), page, err)
		}
		out = append(out, recs...)
		if len(recs) < page {
			return out
		}
	}
}

// readAll reads the global log from position from (inclusive) to its end,
// page by page.
func readAll(t *testing.T, ctx context.Context, s eventstore.Store, from uint64) []eventstore.Record {
	t.Helper()
	from = max(from, 1)
	var out []eventstore.Record
	for {
		recs, err := s.ReadAll(ctx, from, page)
		if err != nil {
			t.Fatalf("ReadAll(%d, %d): %v", from, page, err)
		}
		out = append(out, recs...)
		if len(recs) < page {
			return out
		}
		from = recs[len(recs)-1].Position + 1
	}
}

// diffRecord describes how got differs from want, field by field, or
// returns "" if they are the same record. Times are compared with Equal:
// a store may keep another location or drop the monotonic reading.
func diffRecord(want, got eventstore.Record) string {
	var d []string
	add := func(field string, w, g any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", want.ID, got.ID)
	}
	if got.Stream != want.Stream {
		add("Stream", want.Stream, got.Stream)
	}
	if got.Type != want.Type {
		add("Type", want.Type, got.Type)
	}
	if !bytes.Equal(got.Data, want.Data) {
		add("Data", string(want.Data), string(got.Data))
	}
	if m := diffMetadata(want.Metadata, got.Metadata); m != "" {
		d = append(d, m)
	}
	if got.Revision != want.Revision {
		add("Revision", want.Revision, got.Revision)
	}
	if got.Position != want.Position {
		add("Position", want.Position, got.Position)
	}
	if !got.Committed.Equal(want.Committed) {
		add("Committed", want.Committed, got.Committed)
	}
	return strings.Join(d, "; ")
}

func diffMetadata(want, got eventstore.Metadata) string {
	var d []string
	if got.CorrelationID != want.CorrelationID {
		d = append(d, fmt.Sprintf("Metadata.CorrelationID: got %v, want %v", got.CorrelationID, want.CorrelationID))
	}
	if got.CausationID != want.CausationID {
		d = append(d, fmt.Sprintf("Metadata.CausationID: got %v, want %v", got.CausationID, want.CausationID))
	}
	if got.User != want.User {
		d = append(d, fmt.Sprintf("Metadata.User: got %q, want %q", got.User, want.User))
	}
	if !got.Time.Equal(want.Time) {
		d = append(d, fmt.Sprintf("Metadata.Time: got %v, want %v", got.Time, want.Time))
	}
	return strings.Join(d, "; ")
}

// sameRecords fails the test if got and want differ, naming the first few
// differences.
func sameRecords(t *testing.T, what string, want, got []eventstore.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d records, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		if d := diffRecord(want[i], got[i]); d != "" {
			t.Errorf("%s: record %d: %s", what, i, d)
			if bad++; bad == 5 {
				t.Errorf("%s: stopping after %d differences", what, bad)
				return
			}
		}
	}
}

// checkProposed fails the test unless got is the committed form of p in
// stream at revision rev and position pos: every field the caller chose
// must come back exactly, and the store must have stamped a plausible
// commit time.
func checkProposed(t *testing.T, what string, p eventstore.Proposed, stream string, rev, pos uint64, got eventstore.Record) {
	t.Helper()
	want := eventstore.Record{
		ID: p.ID, Stream: stream, Type: p.Type, Data: p.Data, Metadata: p.Metadata,
		Revision: rev, Position: pos, Committed: got.Committed,
	}
	if d := diffRecord(want, got); d != "" {
		t.Errorf("%s: %s", what, d)
	}
	// A loose window: it catches a zero or badly encoded commit time
	// (seconds read as nanoseconds, say) without depending on the
	// clocks of a remote store agreeing with ours.
	if got.Committed.IsZero() || time.Since(got.Committed).Abs() > time.Hour {
		t.Errorf("%s: Committed = %v, want about now", what, got.Committed)
	}
}

// checkLog fails the test unless recs are the records of positions
// from..from+len(recs)-1, in order, with no gap and no repeat.
func checkLog(t *testing.T, what string, from uint64, recs []eventstore.Record) {
	t.Helper()
	for i, r := range recs {
		if want := from + uint64(i); r.Position != want {
			t.Fatalf("%s: record %d has position %d, want %d (gap or duplicate)", what, i, r.Position, want)
		}
	}
}

// wantUnchanged fails the test if the log moved past head: a refused
// append must write nothing.
func wantUnchanged(t *testing.T, ctx context.Context, s eventstore.Store, head0 uint64, what string) {
	t.Helper()
	if h := head(t, ctx, s); h != head0 {
		t.Errorf("%s: Head = %d after a refused append, want %d (something was written)", what, h, head0)
	}
}

// wrongExpected fails the test unless err is a *WrongExpectedVersionError
// for stream and exp that reports the stream at actual.
func wrongExpected(t *testing.T, err error, stream string, exp eventstore.Expected, actual int64) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Errorf("Append(%q, %v): err = %v, want ErrWrongExpectedVersion", stream, exp, err)
		return
	}
	var w *eventstore.WrongExpectedVersionError
	if !errors.As(err, &w) {
		t.Errorf("Append(%q, %v): err = %v (%T) matches ErrWrongExpectedVersion but is not a *WrongExpectedVersionError", stream, exp, err, err)
		return
	}
	if w.Stream != stream || w.Expected != exp || w.Actual != actual {
		t.Errorf("Append(%q, %v): got %+v, want Stream %q, Expected %v, Actual %d", stream, exp, *w, stream, exp, actual)
	}
}

// errs collects failures from goroutines, which must not call t.Fatal.
type errs chan error

func newErrs() errs { return make(errs, 1024) }

// add records a failure. It never blocks: failures beyond the buffer are
// dropped, as the first ones are what a reader needs.
func (e errs) add(format string, args ...any) {
	select {
	case e <- fmt.Errorf(format, args...):
	default:
	}
}

// report fails t with every collected failure. Call it after the
// goroutines have finished.
func (e errs) report(t *testing.T) {
	t.Helper()
	close(e)
	n := 0
	for err := range e {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 10 {
		t.Errorf("... and %d more failures", n-10)
	}
	if n > 0 {
		t.FailNow()
	}
}

// wait waits for done to be closed, failing the test with what if ctx ends
// first: the suite's way of saying "this must finish" without a sleep.
func wait(t *testing.T, ctx context.Context, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s: %v", what, ctx.Err())
	}
}
