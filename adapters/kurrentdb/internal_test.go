package kurrentdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"switchboard/eventstore"
)

// TestActualRevision checks the reading of the client's wrong expected
// version message (v4.2.0 carries the revision in the text only).
func TestActualRevision(t *testing.T) {
	for msg, want := range map[string]int64{
		"wrong expected version: expecting '3' but got '7'":           7,
		"wrong expected version: expecting 'any' but got 'no_stream'": eventstore.NoRevision,
		"wrong expected version: expecting 'no_stream' but got '0'":   0,
	} {
		got, ok := actualRevision(wrongVersion(msg))
		if !ok || got != want {
			t.Errorf("%q: %d, %v; want %d", msg, got, ok, want)
		}
	}
	for _, msg := range []string{"", "something else", "but got 'x'", "but got '-1'", "but got '12"} {
		if got, ok := actualRevision(wrongVersion(msg)); ok {
			t.Errorf("%q: read %d", msg, got)
		}
	}
}

// wrongVersion builds the client's error the way the client does: the
// fields are unexported, so through FromError on a wrapped error.
func wrongVersion(msg string) *esdb.Error {
	ee, _ := esdb.FromError(errors.New(msg))
	return ee
}

func TestBackoff(t *testing.T) {
	for n := 1; n < 100; n++ {
		d := backoff(n, 2*time.Second)
		if d <= 0 || d > 2*time.Second {
			t.Fatalf("backoff(%d) = %v", n, d)
		}
		if n == 1 && d > minBackoff {
			t.Fatalf("first backoff %v", d)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := Options{StreamPrefix: "$x\n", Timeout: -1, MaxBackoff: -1}.Validate()
	for _, want := range []string{"starts with $", "printable", "Timeout", "MaxBackoff"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to mention %q", err, want)
		}
	}
}

func TestMetadataCodec(t *testing.T) {
	m := eventstore.Metadata{CorrelationID: uuid.New(), User: "bob", Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))}
	b := encodeMetadata(m)
	if got := decodeMetadata(b); got.CorrelationID != m.CorrelationID || got.User != m.User || !got.Time.Equal(m.Time) || got.CausationID != uuid.Nil {
		t.Fatalf("round trip of %s: %+v", b, got)
	}
	if string(encodeMetadata(eventstore.Metadata{})) != "{}" {
		t.Fatalf("empty metadata encodes as %s", encodeMetadata(eventstore.Metadata{}))
	}
	for _, b := range []string{"", "{}", "not json", `{"user":3}`, `[1]`} {
		if got := decodeMetadata([]byte(b)); got != (eventstore.Metadata{}) {
			t.Errorf("decode %q: %+v", b, got)
		}
	}
}

// TestIndex checks the position map on its own: numbering, replays,
// revision gaps, streams whose start is gone, and the cache.
func TestIndex(t *testing.T) {
	x := newIndex(4)
	at := func(c uint64) esdb.Position { return esdb.Position{Commit: c, Prepare: c} }
	rec := func(stream string, rev uint64, data string) eventstore.Record {
		return eventstore.Record{ID: uuid.New(), Stream: stream, Type: "T", Revision: rev, Data: json.RawMessage(data)}
	}
	// b-1 starts at revision 5: its older records were scavenged.
	for i, r := range []eventstore.Record{rec("a-1", 0, `1`), rec("b-1", 5, `2`), rec("a-1", 1, `3`), rec("b-1", 6, `4`), rec("a-1", 2, `5`)} {
		if err := x.add(r, at(uint64(100*(i+1)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.add(rec("a-1", 9, `x`), at(150)); err != nil { // a replay: ignored
		t.Fatalf("replayed record: %v", err)
	}
	if h, _ := x.head(); h != 5 {
		t.Fatalf("head %d", h)
	}
	check := func(stream string, backwards bool, from uint64, limit int, want string, wantOK bool) {
		t.Helper()
		recs, ok := x.cachedStream(stream, backwards, from, limit)
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d@%d", r.Revision, r.Position))
		}
		if ok != wantOK || strings.Join(got, " ") != want {
			t.Errorf("cachedStream(%s, %v, %d, %d) = %v, %v; want %q, %v", stream, backwards, from, limit, got, ok, want, wantOK)
		}
	}
	check("a-1", false, 1, 10, "1@3 2@5", true)
	check("a-1", false, 3, 10, "", true)  // past what the map knows
	check("a-1", false, 0, 10, "", false) // record 1 left the 4-record cache
	check("a-1", true, eventstore.End, 2, "2@5 1@3", true)
	check("b-1", true, 100, 5, "", false)     // would reach below revision 5
	check("b-1", true, 6, 2, "6@4 5@2", true) // exactly what is there
	check("c-1", false, 0, 10, "", false)     // unknown: ask the server
	if p, err := x.positionOf(t.Context(), "b-1", 3); err != nil || p != 0 {
		t.Errorf("positionOf a scavenged revision: %d, %v", p, err)
	}
	if err := x.add(rec("a-1", 7, `y`), at(900)); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("a revision gap: %v, want ErrCorrupt", err)
	}
	if _, err := x.head(); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("head after a gap: %v", err)
	}
}
