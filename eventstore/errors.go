package eventstore

import (
	"errors"
	"fmt"
)

// Errors a Store returns. Test with errors.Is; callers may rely on the
// distinction between retryable (ErrUnavailable, ErrStorageFull) and final
// errors.
var (
	// ErrWrongExpectedVersion matches every *WrongExpectedVersionError.
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	// ErrIDConflict: a record ID was appended before with other contents,
	// to another stream, or only some of an append's IDs were.
	ErrIDConflict = errors.New("eventstore: record ID already used with other contents")
	// ErrUnavailable: the store cannot serve the request now (down,
	// unreachable, or failed and waiting for a restart). Retryable.
	ErrUnavailable = errors.New("eventstore: unavailable")
	// ErrStorageFull: the disk is full; nothing of the append was kept.
	// Retryable once space is freed.
	ErrStorageFull = errors.New("eventstore: storage full")
	// ErrClosed: the store or subscription was closed.
	ErrClosed = errors.New("eventstore: closed")

	// Bad input; nothing is written.
	ErrInvalidStream   = errors.New("eventstore: invalid stream name")
	ErrInvalidExpected = errors.New("eventstore: invalid expected revision")
	ErrInvalidRecord   = errors.New("eventstore: invalid record")
	ErrInvalidData     = errors.New("eventstore: invalid record data")
	ErrRecordTooLarge  = errors.New("eventstore: record too large")

	// ErrCorrupt: the log holds damaged data outside its tail.
	ErrCorrupt = errors.New("eventstore: log corrupt")
	// ErrLocked: another process has the data directory open for writing.
	ErrLocked = errors.New("eventstore: data directory in use")
)

// NoRevision is the Actual of a WrongExpectedVersionError for a stream that
// has no records.
const NoRevision int64 = -1

// WrongExpectedVersionError is the failed optimistic-concurrency condition
// of an Append.
type WrongExpectedVersionError struct {
	Stream   string
	Expected Expected
	// Actual is the revision of the stream's last record, or NoRevision.
	Actual int64
}

func (e *WrongExpectedVersionError) Error() string {
	actual := "no stream"
	if e.Actual >= 0 {
		actual = fmt.Sprintf("revision %d", e.Actual)
	}
	return fmt.Sprintf("eventstore: wrong expected version on %q: expected %s, stream is at %s", e.Stream, e.Expected, actual)
}

func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// CheckExpected reports whether expected holds for a stream whose last
// revision is actual (NoRevision for none), as a *WrongExpectedVersionError.
func CheckExpected(stream string, expected Expected, actual int64) error {
	ok := false
	switch {
	case expected == Any:
		ok = true
	case expected == NoStream:
		ok = actual == NoRevision
	case expected == StreamExists:
		ok = actual != NoRevision
	case expected >= 0:
		ok = int64(expected) == actual
	}
	if ok {
		return nil
	}
	return &WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: actual}
}
