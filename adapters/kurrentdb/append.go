package kurrentdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"switchboard/eventstore"
)

// Append implements eventstore.Store.
//
// Bad input is refused before any network call (eventstore.ValidateAppend,
// and types starting with "$", which KurrentDB reserves). Then the index
// decides what it can: a faithful retry returns the original result, any
// other reuse of an ID is ErrIDConflict, and a condition it already proves
// false is a *WrongExpectedVersionError, all without writing. Otherwise
// the records go to KurrentDB with the condition mapped one to one (Exact
// n → StreamRevision{n}, NoStream, StreamExists, Any), and Append returns
// once the index holds them, with their positions.
//
// Appends to one stream from this process are serialised, so concurrent
// retries of one append write it once. Across processes, KurrentDB's own
// idempotency applies, which it guarantees only for exact revisions: use
// Exact for retries that may race another process; with Any a duplicate
// is unlikely but possible (RELIABILITY.md §1.2).
//
// If ctx ends (or Timeout passes) while the server has the append, the
// outcome is unknown: retry with the same record IDs to learn it.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, records []eventstore.Proposed) (eventstore.AppendResult, error) {
	if s.isClosed() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if err := eventstore.ValidateAppend(stream, expected, records); err != nil {
		return eventstore.AppendResult{}, err
	}
	for i, r := range records {
		if strings.HasPrefix(r.Type, "$") {
			return eventstore.AppendResult{}, fmt.Errorf("%w: record %d: type %q starts with $, which KurrentDB reserves for its own events", eventstore.ErrInvalidRecord, i, r.Type)
		}
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if res, done, err := s.decide(ctx, stream, expected, records); done || err != nil {
		return res, err
	}
	unlock, err := s.lockStream(ctx, stream)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	defer unlock()
	// Again under the lock: a copy of this append may have just landed.
	if res, done, err := s.decide(ctx, stream, expected, records); done || err != nil {
		return res, err
	}

	events := make([]esdb.EventData, len(records))
	for i, r := range records {
		events[i] = esdb.EventData{
			EventID:     r.ID,
			EventType:   r.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        r.Data,
			Metadata:    encodeMetadata(r.Metadata),
		}
	}
	var rev uint64
	err = s.do(ctx, false, func(ctx context.Context, c *esdb.Client) error {
		wr, err := c.AppendToStream(ctx, s.prefix+stream, esdb.AppendToStreamOptions{ExpectedRevision: toRevision(expected)}, events...)
		if err == nil {
			rev = wr.NextExpectedVersion
			return nil
		}
		var ee *esdb.Error
		if !errors.As(err, &ee) || ee.Code() != esdb.ErrorCodeWrongExpectedVersion {
			return err
		}
		actual, ok := actualRevision(ee)
		if !ok {
			if actual, err = s.lastRevision(ctx, c, stream); err != nil {
				return err
			}
		}
		return &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: actual}
	})
	var wrong *eventstore.WrongExpectedVersionError
	if errors.As(err, &wrong) && wrong.Actual >= 0 {
		// The server knows records the index has not seen yet: give the
		// follower a moment, so that a reload after this refusal reads
		// what it reported.
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, _ = s.idx.positionOf(wctx, stream, uint64(wrong.Actual))
		cancel()
	}
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	// The index learns of the records from $all; it wakes on close too.
	res, err := s.idx.appended(ctx, stream, rev, records[len(records)-1].ID)
	if err != nil {
		if s.isClosed() {
			return eventstore.AppendResult{}, eventstore.ErrClosed
		}
		return eventstore.AppendResult{}, fmt.Errorf("kurrentdb: appended to %q; waiting for it in $all: %w", stream, err)
	}
	return res, nil
}

func toRevision(e eventstore.Expected) esdb.ExpectedRevision {
	switch {
	case e == eventstore.NoStream:
		return esdb.NoStream{}
	case e == eventstore.StreamExists:
		return esdb.StreamExists{}
	case e >= 0:
		return esdb.StreamRevision{Value: uint64(e)}
	}
	return esdb.Any{}
}

// actualRevision reads the stream's revision out of the client's wrong
// expected version error, whose only trace of it (v4.2.0) is the message
// "… expecting '<exp>' but got '<current>'".
func actualRevision(ee *esdb.Error) (int64, bool) {
	if ee.Err() == nil {
		return 0, false
	}
	msg := ee.Err().Error()
	i := strings.LastIndex(msg, "but got '")
	if i < 0 {
		return 0, false
	}
	got, _, ok := strings.Cut(msg[i+len("but got '"):], "'")
	if !ok {
		return 0, false
	}
	if got == "no_stream" {
		return eventstore.NoRevision, true
	}
	n, err := strconv.ParseInt(got, 10, 64)
	return n, err == nil && n >= 0
}

// lastRevision reads the revision of stream's last event from the server.
func (s *Store) lastRevision(ctx context.Context, c *esdb.Client, stream string) (int64, error) {
	rs, err := c.ReadStream(ctx, s.prefix+stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	ev, err := rs.Recv()
	switch {
	case err == nil:
		return int64(ev.Event.EventNumber), nil
	case errors.Is(err, io.EOF), isNotFound(err):
		return eventstore.NoRevision, nil
	}
	return 0, err
}

// decide answers an append from the index when it can (done true): a
// retry, an ID conflict, or a condition the index proves false (the
// stream only grows, so a revision past the expected one is final, even
// if this process has not seen the latest records). IDs are checked
// before the condition, as the port requires.
//
// The index takes in another process's append one record at a time, so
// it may hold the first records of a batch and not yet the rest: IDs
// known as the last records of this stream so far are checked against
// the server before they count as a conflict.
func (s *Store) decide(ctx context.Context, stream string, expected eventstore.Expected, records []eventstore.Proposed) (eventstore.AppendResult, bool, error) {
	ids := make([]uuid.UUID, len(records))
	for i, r := range records {
		ids[i] = r.ID
	}
	hits, known, last, err := s.idx.lookup(stream, ids)
	if err != nil {
		return eventstore.AppendResult{}, true, s.closedOr(err)
	}
	conflict := func(format string, args ...any) (eventstore.AppendResult, bool, error) {
		return eventstore.AppendResult{}, true, fmt.Errorf("%w: %s", eventstore.ErrIDConflict, fmt.Sprintf(format, args...))
	}
	if known == 0 {
		if (expected == eventstore.NoStream && last >= 0) || (expected >= 0 && last > int64(expected)) {
			return eventstore.AppendResult{}, true, &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: last}
		}
		return eventstore.AppendResult{}, false, nil
	}
	partial := func() (eventstore.AppendResult, bool, error) {
		return conflict("%d of the %d record IDs were appended before", known, len(records))
	}
	for i, h := range hits[:known] {
		switch {
		case h.pos == 0:
			return partial()
		case h.stream != stream:
			return conflict("record %s belongs to stream %q", records[i].ID, h.stream)
		case i > 0 && h.rev != hits[i-1].rev+1:
			return conflict("the records were not appended together")
		}
	}
	if known < len(records) && int64(hits[known-1].rev) != last {
		return partial()
	}
	// The same IDs in the same places (or the start of them, at the end of
	// the stream): a retry if the server has them all, with these
	// contents.
	first, n := hits[0].rev, uint64(len(records))
	var got []*esdb.RecordedEvent
	err = s.do(ctx, false, func(ctx context.Context, c *esdb.Client) error {
		got = got[:0]
		rs, err := c.ReadStream(ctx, s.prefix+stream, esdb.ReadStreamOptions{From: esdb.Revision(first)}, n)
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			got = append(got, ev.Event)
		}
	})
	if err != nil {
		return eventstore.AppendResult{}, true, err
	}
	for i, r := range records {
		switch {
		case i >= len(got) || got[i].EventID != r.ID:
			return partial()
		case got[i].EventType != r.Type || !bytes.Equal(got[i].Data, r.Data):
			return conflict("record %s was appended with other contents", r.ID)
		}
	}
	res := eventstore.AppendResult{Revision: first + n - 1, Position: hits[len(hits)-1].pos}
	if res.Position == 0 {
		if res.Position, err = s.idx.positionOf(ctx, stream, res.Revision); err != nil {
			return eventstore.AppendResult{}, true, s.closedOr(err)
		}
	}
	return res, true, nil
}

// lockStream takes the append lock of stream's stripe.
func (s *Store) lockStream(ctx context.Context, stream string) (func(), error) {
	h := fnv.New32a()
	h.Write([]byte(stream))
	l := s.locks[h.Sum32()%appendLocks]
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closing:
		return nil, eventstore.ErrClosed
	}
}

func isNotFound(err error) bool {
	var ee *esdb.Error
	return errors.As(err, &ee) && ee.Code() == esdb.ErrorCodeResourceNotFound
}
