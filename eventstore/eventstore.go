package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// MaxRecordSize bounds a record's type, data and acting user together, in
// bytes. Larger records are refused with ErrRecordTooLarge and nothing is
// written. (Stores add their own framing: the stream name, IDs, times.)
const MaxRecordSize = 1 << 20

// MaxStreamNameLength and MaxTypeLength bound the names a record carries.
const (
	MaxStreamNameLength = 256
	MaxTypeLength       = 128
)

// MaxAppendRecords is the most records one Append may carry.
const MaxAppendRecords = 1024

// Metadata is what the log keeps about why a record exists, beside the
// record itself. None of it is interpreted by a store.
type Metadata struct {
	// CorrelationID ties together every record caused, directly or not, by
	// one outside request. The zero UUID means none.
	CorrelationID uuid.UUID `json:"correlationId,omitzero"`
	// CausationID is the ID of the record or command that caused this one.
	// The zero UUID means none.
	CausationID uuid.UUID `json:"causationId,omitzero"`
	// User is the acting user's handle; empty for the system.
	User string `json:"user,omitempty"`
	// Time is when the command that produced the record was decided
	// (the command handler's clock), not when it was committed.
	Time time.Time `json:"time,omitzero"`
}

// Proposed is a record offered to Append.
type Proposed struct {
	// ID identifies the record; appends are idempotent by ID. It must not
	// be the zero UUID.
	ID uuid.UUID
	// Type names the event, for example "MessagePosted".
	Type string
	// Data is the event as a JSON value. It must be valid JSON.
	Data     json.RawMessage
	Metadata Metadata
}

// Record is a committed record as the log returns it. Each read returns the
// caller's own copy of Data.
type Record struct {
	ID       uuid.UUID
	Stream   string
	Type     string
	Data     json.RawMessage
	Metadata Metadata
	// Revision is the record's place in its stream, contiguous from 0.
	Revision uint64
	// Position is the record's place in the whole log, contiguous from 1
	// (0 means "before the first record").
	Position uint64
	// Committed is when the store made the record durable.
	Committed time.Time
}

// AppendResult says where an append landed.
type AppendResult struct {
	// Revision is the stream revision of the last record appended.
	Revision uint64
	// Position is the global position of the last record appended (the
	// commit position).
	Position uint64
}

// Expected is the optimistic-concurrency condition of an Append: one of
// Any, NoStream, StreamExists, or an exact revision (a value >= 0) that the
// stream's last record must have.
type Expected int64

const (
	// Any appends whatever the stream's state.
	Any Expected = -1
	// NoStream requires that the stream has no records yet.
	NoStream Expected = -2
	// StreamExists requires that the stream has at least one record.
	StreamExists Expected = -3
)

// Exact requires that the stream's last record has revision rev. A
// revision beyond what Expected can hold gives an invalid condition, which
// Append refuses, rather than silently meaning Any.
func Exact(rev uint64) Expected {
	if rev > math.MaxInt64 {
		return invalidExpected
	}
	return Expected(rev)
}

// invalidExpected is a condition no Append accepts.
const invalidExpected Expected = math.MinInt64

// Valid reports whether e is one of the defined conditions.
func (e Expected) Valid() bool { return e >= StreamExists }

func (e Expected) String() string {
	switch {
	case e == Any:
		return "any"
	case e == NoStream:
		return "no stream"
	case e == StreamExists:
		return "stream exists"
	case e >= 0:
		return fmt.Sprintf("revision %d", int64(e))
	default:
		return fmt.Sprintf("invalid(%d)", int64(e))
	}
}

// Direction is the order of a stream read.
type Direction int

const (
	Forwards Direction = iota
	Backwards
)

// End, as the start revision of a backwards read, means the stream's last
// record.
const End = ^uint64(0)

// Store is the event log: the only source of truth of Switchboard.
//
// Implementations are safe for concurrent use. Records of one stream have
// contiguous revisions from 0; records of the whole log have contiguous
// positions from 1, in commit order.
type Store interface {
	// Append adds records to the end of stream, all or none, if expected
	// holds. It returns once the records are durable (for stores whose
	// Features say so).
	//
	// Appends are idempotent by record ID: if every record's ID was
	// already appended to stream, consecutively and with the same type
	// and data, Append writes nothing and returns the original result,
	// whatever expected says. IDs already used otherwise fail with
	// ErrIDConflict.
	//
	// A failed condition returns a *WrongExpectedVersionError.
	Append(ctx context.Context, stream string, expected Expected, records []Proposed) (AppendResult, error)

	// ReadStream returns at most limit records of stream starting at
	// revision from (inclusive), forwards or backwards. Backwards from End
	// starts at the last record. A stream with no records reads as empty.
	ReadStream(ctx context.Context, stream string, dir Direction, from uint64, limit int) ([]Record, error)

	// ReadAll returns at most limit records with positions from `from`
	// (inclusive) upwards, in commit order.
	ReadAll(ctx context.Context, from uint64, limit int) ([]Record, error)

	// Subscribe returns every record with a position greater than after,
	// in commit order, without gaps or duplicates: first from the log,
	// then live as records are committed. A subscriber reads at its own
	// pace; it never slows writers.
	Subscribe(ctx context.Context, after uint64) (Subscription, error)

	// Head returns the position of the last committed record (0 for an
	// empty log).
	Head(ctx context.Context) (uint64, error)

	// Close releases the store. Calls after Close fail with ErrClosed.
	Close() error
}

// Subscription delivers records in commit order.
type Subscription interface {
	// Next blocks until the next record is committed, ctx ends, or the
	// subscription or store closes.
	Next(ctx context.Context) (Record, error)
	// Close ends the subscription; a blocked Next returns ErrClosed.
	Close() error
}

// ValidateStreamName checks that name has the form <category>-<id>.
func ValidateStreamName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidStream)
	}
	if len(name) > MaxStreamNameLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidStream, MaxStreamNameLength)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidStream)
	}
	cat, id, ok := strings.Cut(name, "-")
	if !ok || cat == "" || id == "" {
		return fmt.Errorf("%w: %q is not <category>-<id>", ErrInvalidStream, name)
	}
	if strings.HasPrefix(name, "$") {
		return fmt.Errorf("%w: %q: names starting with $ are reserved", ErrInvalidStream, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q has a control character", ErrInvalidStream, name)
		}
	}
	return nil
}

// Category returns the part of a stream name before the first '-'.
func Category(stream string) string {
	cat, _, _ := strings.Cut(stream, "-")
	return cat
}

// ValidateAppend checks the arguments of an Append without looking at the
// log: every store calls it first, so bad input is refused the same way
// everywhere and nothing is written.
func ValidateAppend(stream string, expected Expected, records []Proposed) error {
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	if !expected.Valid() {
		return fmt.Errorf("%w: %d", ErrInvalidExpected, int64(expected))
	}
	if len(records) == 0 {
		return fmt.Errorf("%w: no records", ErrInvalidRecord)
	}
	if len(records) > MaxAppendRecords {
		return fmt.Errorf("%w: %d records in one append (at most %d)", ErrInvalidRecord, len(records), MaxAppendRecords)
	}
	seen := make(map[uuid.UUID]struct{}, len(records))
	for i, r := range records {
		if r.ID == uuid.Nil {
			return fmt.Errorf("%w: record %d has no ID", ErrInvalidRecord, i)
		}
		if _, dup := seen[r.ID]; dup {
			return fmt.Errorf("%w: record %d repeats ID %s", ErrInvalidRecord, i, r.ID)
		}
		seen[r.ID] = struct{}{}
		if r.Type == "" || len(r.Type) > MaxTypeLength || !utf8.ValidString(r.Type) {
			return fmt.Errorf("%w: record %d: type must be 1-%d bytes of UTF-8", ErrInvalidRecord, i, MaxTypeLength)
		}
		// json.Valid accepts invalid UTF-8 inside strings, which anything
		// that re-encodes the JSON would alter: refuse it too.
		if len(r.Data) == 0 || !json.Valid(r.Data) || !utf8.Valid(r.Data) {
			return fmt.Errorf("%w: record %d (%s): data is not valid JSON", ErrInvalidData, i, r.Type)
		}
		if n := len(r.Type) + len(r.Data) + len(r.Metadata.User); n > MaxRecordSize {
			return fmt.Errorf("%w: record %d (%s) is %d bytes (at most %d)", ErrRecordTooLarge, i, r.Type, n, MaxRecordSize)
		}
		if len(r.Metadata.User) > MaxStreamNameLength || !utf8.ValidString(r.Metadata.User) {
			return fmt.Errorf("%w: record %d: metadata user must be at most %d bytes of UTF-8", ErrInvalidRecord, i, MaxStreamNameLength)
		}
	}
	return nil
}
