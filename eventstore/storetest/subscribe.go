package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"switchboard/eventstore"
)

var subscribeTests = []test{
	{name: "FromStart", run: subscribeFrom(func(head uint64) uint64 { return 0 })},
	{name: "FromMiddle", run: subscribeFrom(func(head uint64) uint64 { return head / 2 })},
	{name: "FromHead", run: subscribeFrom(func(head uint64) uint64 { return head })},
	{name: "ManySubscribers", run: testManySubscribers},
	{name: "SlowSubscriber", run: testSlowSubscriber},
	{name: "CloseUnblocksNext", run: testSubscriptionClose},
	{name: "ContextEndsNext", run: testNextContext},
}

// take reads n records from sub and fails the test on any error.
func take(t *testing.T, ctx context.Context, sub eventstore.Subscription, n int) []eventstore.Record {
	t.Helper()
	out := make([]eventstore.Record, 0, n)
	for len(out) < n {
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, r)
	}
	return out
}

// noMore fails the test if sub delivers anything within a short wait.
// It is a negative check, not a synchronisation: a correct store has
// nothing to deliver, so any record it returns is a duplicate or an
// invention, whenever it comes.
func noMore(t *testing.T, ctx context.Context, sub eventstore.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if r, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next past the last record: got position %d, %v; want context.DeadlineExceeded", r.Position, err)
	}
}

// blockedNexts calls Next on each of subs from its own goroutine (the port
// does not promise that one subscription's Next is safe for concurrent
// calls) and returns the channel their errors arrive on. It returns once
// every goroutine is about to call Next, so that what the caller does
// next (close, cancel) most likely finds them blocked inside it. Nothing
// can prove a goroutine is blocked without a hook into the store, so this
// is a best effort; several waiters make it very likely that one is caught
// blocked, and the checks hold either way.
func blockedNexts(ctx context.Context, subs []eventstore.Subscription) <-chan error {
	errc := make(chan error, len(subs))
	var started sync.WaitGroup
	for _, sub := range subs {
		started.Add(1)
		go func() {
			started.Done()
			_, err := sub.Next(ctx)
			errc <- err
		}()
	}
	started.Wait()
	runtime.Gosched()
	return errc
}

// subscribeN opens n subscriptions after position after, closed when the
// test ends.
func subscribeN(t *testing.T, ctx context.Context, s eventstore.Store, after uint64, n int) []eventstore.Subscription {
	t.Helper()
	subs := make([]eventstore.Subscription, n)
	for i := range subs {
		sub, err := s.Subscribe(ctx, after)
		if err != nil {
			t.Fatalf("Subscribe(%d): %v", after, err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		subs[i] = sub
	}
	return subs
}

// wantErrs waits for n errors on errc, each matching want, failing the
// test if ctx ends first: then whatever should have woken them did not.
func wantErrs(t *testing.T, ctx context.Context, errc <-chan error, n int, want error, what string) {
	t.Helper()
	for i := range n {
		select {
		case err := <-errc:
			if !errors.Is(err, want) {
				t.Fatalf("%s: a blocked Next returned %v, want %v", what, err, want)
			}
		case <-ctx.Done():
			t.Fatalf("%s: %d of %d blocked Next calls never returned", what, n-i, n)
		}
	}
}

// appendInBackground appends count batches of size records to stream
// from a goroutine, returning a channel closed when it is done; failures
// go to errs.
func appendInBackground(ctx context.Context, s eventstore.Store, stream string, count, size int, failures errs) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range count {
			if _, err := s.Append(ctx, stream, eventstore.Any, events(size, "Live", fmt.Sprintf("%s/%d", stream, i))); err != nil {
				failures.add("appending to %s: %v", stream, err)
				return
			}
		}
	}()
	return done
}

// subscribeFrom returns a test that subscribes after the position start
// picks, while records are appended: the subscriber must see every record
// after that position exactly once, in commit order, first the ones
// committed before it subscribed and then the live ones, with no seam at
// the hand-over (RELIABILITY.md §1.5).
func subscribeFrom(start func(head uint64) uint64) func(*testing.T, Harness) {
	return func(t *testing.T, h Harness) {
		s, _ := open(t, h)
		ctx := testContext(t)

		for i := range 10 {
			mustAppend(t, ctx, s, fmt.Sprintf("sub-%d", i%3), eventstore.Any, events(3, "Old", i))
		}
		head0 := head(t, ctx, s)
		after := start(head0)
		sub, err := s.Subscribe(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()

		const batches, size = 10, 3
		failures := newErrs()
		done := appendInBackground(ctx, s, "live-1", batches, size, failures)
		got := take(t, ctx, sub, int(head0-after)+batches*size)
		wait(t, ctx, done, "the appender")
		failures.report(t)

		checkLog(t, "subscription", after+1, got)
		sameRecords(t, "subscription vs ReadAll", readAll(t, ctx, s, after+1), got)
		noMore(t, ctx, sub)
	}
}

// testManySubscribers runs subscribers from different positions, one of
// them started mid-stream, against several concurrent writers: each must
// see its own suffix of the one global order.
func testManySubscribers(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	mustAppend(t, ctx, s, "seed-1", eventstore.NoStream, events(20, "Seed", "seed"))
	const writers, batches, size = 4, 10, 2
	const total = 20 + writers*batches*size

	type result struct {
		after uint64
		recs  []eventstore.Record
		err   error
	}
	results := make(chan result, 8)
	var readers sync.WaitGroup
	read := func(after uint64) {
		sub, err := s.Subscribe(ctx, after)
		if err != nil {
			results <- result{after: after, err: err}
			return
		}
		readers.Go(func() {
			defer sub.Close()
			res := result{after: after}
			for uint64(len(res.recs)) < total-after {
				r, err := sub.Next(ctx)
				if err != nil {
					res.err = fmt.Errorf("subscription after %d, Next after %d records: %w", after, len(res.recs), err)
					break
				}
				res.recs = append(res.recs, r)
			}
			results <- res
		})
	}
	for _, after := range []uint64{0, 7, 13, 20} {
		read(after)
	}
	failures := newErrs()
	var writing []<-chan struct{}
	for w := range writers {
		writing = append(writing, appendInBackground(ctx, s, fmt.Sprintf("w-%d", w), batches, size, failures))
	}
	read(head(t, ctx, s)) // somewhere in the middle of the writes
	for _, done := range writing {
		wait(t, ctx, done, "the writers")
	}
	failures.report(t)
	finished := make(chan struct{})
	go func() { readers.Wait(); close(finished) }()
	wait(t, ctx, finished, "the subscribers")
	close(results)

	all := readAll(t, ctx, s, 0)
	if len(all) != total {
		t.Fatalf("log has %d records, want %d", len(all), total)
	}
	n := 0
	for res := range results {
		n++
		if res.err != nil {
			t.Errorf("%v", res.err)
			continue
		}
		checkLog(t, fmt.Sprintf("subscription after %d", res.after), res.after+1, res.recs)
		sameRecords(t, fmt.Sprintf("subscription after %d vs ReadAll", res.after), all[res.after:], res.recs)
	}
	if n != 5 {
		t.Fatalf("%d subscribers reported, want 5", n)
	}
}

// testSlowSubscriber checks that a subscriber that does not read never
// holds up writers, and loses nothing by falling behind: once it reads, it
// gets every record in order. The port promises this for any lag
// (RELIABILITY.md §1.5 allows dropping slow subscribers, but this port
// does not: it has no error to report a drop with).
func testSlowSubscriber(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	idle, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// Also a subscriber that has caught up and is waiting, so a store that
	// pushes to waiting subscribers is exercised too.
	parked, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer parked.Close()

	// 10,000 records in batches of 100 from 4 writers: enough to overflow
	// any reasonable per-subscriber buffer, in few enough commits for a
	// durable store.
	const writers, batches, size = 4, 25, 100
	const total = writers * batches * size
	failures := newErrs()
	var writing []<-chan struct{}
	for w := range writers {
		writing = append(writing, appendInBackground(ctx, s, fmt.Sprintf("bulk-%d", w), batches, size, failures))
	}
	for _, done := range writing {
		wait(t, ctx, done, "the writers, while two subscribers do not read")
	}
	failures.report(t)

	all := readAll(t, ctx, s, 0)
	if len(all) != total {
		t.Fatalf("log has %d records, want %d", len(all), total)
	}
	for name, sub := range map[string]eventstore.Subscription{"idle": idle, "parked": parked} {
		got := take(t, ctx, sub, total)
		checkLog(t, name+" subscriber", 1, got)
		sameRecords(t, name+" subscriber vs ReadAll", all, got)
	}

	// Caught up, both go on live.
	res := mustAppend(t, ctx, s, "bulk-0", eventstore.Any, events(1, "After", "after"))
	for name, sub := range map[string]eventstore.Subscription{"idle": idle, "parked": parked} {
		r, err := sub.Next(ctx)
		if err != nil || r.Position != res.Position {
			t.Fatalf("%s subscriber, live record: position %d, %v; want %d", name, r.Position, err, res.Position)
		}
	}
}

// testSubscriptionClose checks that Close ends a subscription: a blocked
// Next returns ErrClosed, as does every later Next even with records
// waiting or already read ahead, and other subscriptions and the store
// are unaffected.
func testSubscriptionClose(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	mustAppend(t, ctx, s, "close-1", eventstore.NoStream, events(2, "T", "close"))
	waiting := subscribeN(t, ctx, s, 2, 4)
	other, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	errc := blockedNexts(ctx, waiting)
	for _, sub := range waiting {
		if err := sub.Close(); err != nil {
			t.Fatalf("Subscription.Close: %v", err)
		}
	}
	wantErrs(t, ctx, errc, len(waiting), eventstore.ErrClosed, "Subscription.Close")
	mustAppend(t, ctx, s, "close-1", eventstore.Any, events(1, "T", "after"))
	if _, err := waiting[0].Next(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after Close with a record waiting: %v, want ErrClosed", err)
	}
	_ = waiting[0].Close() // a second Close must not panic; its result is the implementation's

	got := take(t, ctx, other, 1)
	checkLog(t, "the other subscription", 1, got)
	// other has read one record of three, so a store that reads ahead
	// holds the other two in hand: Close must still end delivery, or a
	// consumer that closed its subscription would process records after
	// it said it stopped.
	if err := other.Close(); err != nil {
		t.Fatalf("Subscription.Close: %v", err)
	}
	if r, err := other.Next(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after Close, mid-read: got position %d, %v; want ErrClosed", r.Position, err)
	}
	if _, err := s.Subscribe(ctx, 0); err != nil {
		t.Fatalf("Subscribe after closing a subscription: %v", err)
	}
}

// testNextContext checks that the context of Next bounds that call only:
// cancelling it or letting it expire ends a blocked Next with the
// context's error, and the subscription then goes on where it was, losing
// nothing. (The context of Subscribe bounds the Subscribe call.)
func testNextContext(t *testing.T, h Harness) {
	s, _ := open(t, h)
	ctx := testContext(t)

	mustAppend(t, ctx, s, "ctx-1", eventstore.NoStream, events(1, "T", "ctx"))
	subCtx, cancelSub := context.WithCancel(ctx)
	subs := subscribeN(t, subCtx, s, 1, 4)
	cancelSub()

	callCtx, cancel := context.WithCancel(ctx)
	errc := blockedNexts(callCtx, subs)
	cancel()
	wantErrs(t, ctx, errc, len(subs), context.Canceled, "cancelling the context of Next")

	short, cancelShort := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancelShort()
	if _, err := subs[0].Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with an expiring context: %v, want context.DeadlineExceeded", err)
	}

	res := mustAppend(t, ctx, s, "ctx-1", eventstore.Any, events(2, "T", "later"))
	for i, sub := range subs {
		got := take(t, ctx, sub, 2)
		checkLog(t, fmt.Sprintf("subscription %d after ended Next calls", i), 2, got)
		if got[1].Position != res.Position {
			t.Fatalf("subscription %d: got position %d, want %d", i, got[1].Position, res.Position)
		}
	}
}
