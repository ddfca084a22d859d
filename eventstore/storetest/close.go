package storetest

import (
	"errors"
	"testing"

	"switchboard/eventstore"
)

var closeTests = []test{
	{name: "CallsFail", run: testClosedStore},
	{name: "UnblocksNext", run: testCloseUnblocksNext},
}

// testClosedStore checks that every call after Close fails with ErrClosed,
// idempotent retries included (a closed store cannot vouch for what it
// holds), and that a subscription that had started reading stops too.
func testClosedStore(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	old := events(3, "T", "before")
	mustAppend(t, ctx, s, "closed-1", eventstore.NoStream, old)
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	take(t, ctx, sub, 1) // a store that reads ahead now holds the others
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	check := func(call string, err error) {
		t.Helper()
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", call, err)
		}
	}
	_, err = s.Append(ctx, "closed-1", eventstore.Any, events(1, "T", "after"))
	check("Append", err)
	_, err = s.Append(ctx, "closed-1", eventstore.Any, old)
	check("Append (idempotent retry)", err)
	_, err = s.ReadStream(ctx, "closed-1", eventstore.Forwards, 0, 10)
	check("ReadStream", err)
	_, err = s.ReadStream(ctx, "closed-1", eventstore.Backwards, eventstore.End, 10)
	check("ReadStream backwards", err)
	_, err = s.ReadAll(ctx, 0, 10)
	check("ReadAll", err)
	_, err = s.Head(ctx)
	check("Head", err)
	_, err = s.Subscribe(ctx, 0)
	check("Subscribe", err)
	_, err = sub.Next(ctx)
	check("Subscription.Next", err)

	if err := s.Close(); err != nil && !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("second Close: %v, want nil or ErrClosed", err)
	}
	_ = sub.Close() // must not panic on a closed store
}

// testCloseUnblocksNext checks that closing the store wakes a subscriber
// blocked in Next with ErrClosed: a shutdown must not wait for a record
// that will never come.
func testCloseUnblocksNext(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	mustAppend(t, ctx, s, "shut-1", eventstore.NoStream, events(1, "T", "x"))
	subs := subscribeN(t, ctx, s, 1, 4)
	errc := blockedNexts(ctx, subs)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantErrs(t, ctx, errc, len(subs), eventstore.ErrClosed, "closing the store")
}
