package memstore

import (
	"context"
	"sync"

	"switchboard/eventstore"
)

// Subscribe implements eventstore.Store. The subscription is pull-based: it
// holds only the position of the next record to deliver and reads the log
// on every Next, so catch-up and live delivery are the same code path (no
// hand-over where a record could be lost or repeated) and nothing is ever
// buffered for a subscriber that does not read. ctx bounds the call only.
func (s *Store) Subscribe(ctx context.Context, after uint64) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	return &subscription{store: s, next: after + 1, done: make(chan struct{})}, nil
}

// subscription delivers the records of store from position next onwards.
// Next and Close are safe for concurrent use: next only changes under
// store.mu, so concurrent Next calls each claim a different record.
type subscription struct {
	store *Store
	next  uint64 // guarded by store.mu

	closeOnce sync.Once
	done      chan struct{} // closed by Close
}

// Next implements eventstore.Subscription. A finished ctx, a closed
// subscription and a closed store win over a record that is ready, so a
// caller that stopped listening never consumes one more record. A Next
// ended by ctx loses nothing: the following Next returns the record it
// would have.
func (sub *subscription) Next(ctx context.Context) (eventstore.Record, error) {
	s := sub.store
	for {
		if err := ctx.Err(); err != nil {
			return eventstore.Record{}, err
		}
		select {
		case <-sub.done:
			return eventstore.Record{}, eventstore.ErrClosed
		default:
		}

		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return eventstore.Record{}, eventstore.ErrClosed
		}
		if sub.next <= uint64(len(s.log)) {
			r := s.copyAt(sub.next)
			sub.next++
			s.mu.Unlock()
			return r, nil
		}
		changed := s.changed
		s.mu.Unlock()

		select {
		case <-changed:
		case <-sub.done:
		case <-ctx.Done():
		}
	}
}

// Close implements eventstore.Subscription. It may be called from any
// goroutine, any number of times.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() { close(sub.done) })
	return nil
}
