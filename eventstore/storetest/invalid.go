package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

var invalidInputTests = []test{
	{name: "Refused", run: testInvalidInput},
	{name: "BeforeCondition", run: testInvalidBeforeCondition},
}

// testInvalidInput checks that bad input is refused with the typed error
// eventstore.ValidateAppend gives, and that nothing is written: not the
// bad record, and not the good records beside it.
func testInvalidInput(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	// A stream that exists, so that "nothing written" also covers
	// appending to a live stream, and Any, so that the condition cannot
	// be the reason for a refusal.
	mustAppend(t, ctx, s, "valid-1", eventstore.NoStream, events(2, "Setup", "valid"))
	head0 := head(t, ctx, s)

	good := func() eventstore.Proposed { return event("Good") }
	with := func(edit func(*eventstore.Proposed)) []eventstore.Proposed {
		bad := good()
		edit(&bad)
		return []eventstore.Proposed{good(), bad, good()}
	}
	repeated := good()
	tooBig := good()
	tooBig.Data = bigJSON(eventstore.MaxRecordSize - len(tooBig.Type) + 1)

	cases := []struct {
		name    string
		stream  string
		exp     eventstore.Expected
		records []eventstore.Proposed
		want    error
	}{
		{"empty stream name", "", eventstore.Any, with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidStream},
		{"no dash", "valid1", eventstore.Any, with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidStream},
		{"no category", "-1", eventstore.Any, with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidStream},
		{"no id", "valid-", eventstore.Any, with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidStream},
		{"reserved $ name", "$all-1", eventstore.Any, with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidStream},
		{"control character", "valid-\n1", eventstore.Any, with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidStream},
		{"invalid UTF-8 name", "valid-\xff", eventstore.Any, with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidStream},
		{"name too long", "valid-" + strings.Repeat("x", eventstore.MaxStreamNameLength), eventstore.Any, with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidStream},
		{"expected -7", "valid-1", eventstore.Expected(-7), with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidExpected},
		{"expected -4", "valid-1", eventstore.Expected(-4), with(func(*eventstore.Proposed) {}), eventstore.ErrInvalidExpected},
		{"no records", "valid-1", eventstore.Any, nil, eventstore.ErrInvalidRecord},
		{"too many records", "valid-1", eventstore.Any, events(eventstore.MaxAppendRecords+1, "T", "many"), eventstore.ErrInvalidRecord},
		{"zero ID", "valid-1", eventstore.Any, with(func(p *eventstore.Proposed) { p.ID = uuid.Nil }), eventstore.ErrInvalidRecord},
		{"repeated ID", "valid-1", eventstore.Any, []eventstore.Proposed{repeated, good(), repeated}, eventstore.ErrInvalidRecord},
		{"empty type", "valid-1", eventstore.Any, with(func(p *eventstore.Proposed) { p.Type = "" }), eventstore.ErrInvalidRecord},
		{"type too long", "valid-1", eventstore.Any, with(func(p *eventstore.Proposed) { p.Type = strings.Repeat("T", eventstore.MaxTypeLength+1) }), eventstore.ErrInvalidRecord},
		{"invalid UTF-8 type", "valid-1", eventstore.Any, with(func(p *eventstore.Proposed) { p.Type = "T\xff" }), eventstore.ErrInvalidRecord},
		{"user too long", "valid-1", eventstore.Any, with(func(p *eventstore.Proposed) { p.Metadata.User = strings.Repeat("u", eventstore.MaxStreamNameLength+1) }), eventstore.ErrInvalidRecord},
		{"no data", "valid-1", eventstore.Any, with(func(p *eventstore.Proposed) { p.Data = nil }), eventstore.ErrInvalidData},
		{"invalid JSON", "valid-1", eventstore.Any, with(func(p *eventstore.Proposed) { p.Data = json.RawMessage(`{"a":`) }), eventstore.ErrInvalidData},
		{"trailing data", "valid-1", eventstore.Any, with(func(p *eventstore.Proposed) { p.Data = json.RawMessage(`{} {}`) }), eventstore.ErrInvalidData},
		{"record too large", "valid-1", eventstore.Any, []eventstore.Proposed{good(), tooBig}, eventstore.ErrRecordTooLarge},
	}
	for _, c := range cases {
		_, err := s.Append(ctx, c.stream, c.exp, c.records)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		wantUnchanged(t, ctx, s, head0, c.name)
	}
	if got := len(readStream(t, ctx, s, "valid-1")); got != 2 {
		t.Errorf("valid-1 has %d records after refused appends, want 2", got)
	}
}

// testInvalidBeforeCondition checks that input is validated before the log
// is consulted: bad input gets its own error even when the condition would
// also fail or the IDs would conflict, so every store reports the same
// error for the same call.
func testInvalidBeforeCondition(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	used := event("Used")
	mustAppend(t, ctx, s, "pre-1", eventstore.NoStream, []eventstore.Proposed{used})
	head0 := head(t, ctx, s)

	bad := event("Bad")
	bad.Data = json.RawMessage(`not json`)
	_, err := s.Append(ctx, "pre-1", eventstore.Exact(7), []eventstore.Proposed{bad})
	if !errors.Is(err, eventstore.ErrInvalidData) {
		t.Errorf("bad data with a failing condition: err = %v, want ErrInvalidData", err)
	}
	_, err = s.Append(ctx, "pre-1", eventstore.Any, []eventstore.Proposed{used, bad})
	if !errors.Is(err, eventstore.ErrInvalidData) {
		t.Errorf("bad data beside a used ID: err = %v, want ErrInvalidData", err)
	}
	_, err = s.Append(ctx, "pre", eventstore.Any, []eventstore.Proposed{used})
	if !errors.Is(err, eventstore.ErrInvalidStream) {
		t.Errorf("bad stream name with a used ID: err = %v, want ErrInvalidStream", err)
	}
	wantUnchanged(t, ctx, s, head0, "invalid input")
}
