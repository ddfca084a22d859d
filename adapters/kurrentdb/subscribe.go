package kurrentdb

import (
	"context"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"switchboard/eventstore"
)

// Subscribe implements eventstore.Store with a catch-up subscription to
// $all, filtered server-side like the log follower's, from the KurrentDB
// position of record `after` (exclusive). A pump reads it ahead of the
// consumer by up to subscriptionBuffer records; a consumer that reads
// slowly leaves the rest with the server, never holding up writers. When
// the subscription drops (the server restarts, or drops a slow
// subscriber), the pump resubscribes after the last event it received,
// with backoff: the consumer sees no gap and no repeat, only a pause.
//
// ctx bounds opening the subscription only.
func (s *Store) Subscribe(ctx context.Context, after uint64) (eventstore.Subscription, error) {
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	from, err := s.idx.start(after)
	if err != nil {
		return nil, s.closedOr(err)
	}
	life, cancel := context.WithCancel(s.base)
	es, err := s.subscribeAll(ctx, life, false, from)
	if err != nil {
		cancel()
		return nil, err
	}
	sub := &subscription{
		s:      s,
		life:   life,
		cancel: cancel,
		recs:   make(chan eventstore.Record, subscriptionBuffer),
		done:   make(chan struct{}),
		failed: make(chan struct{}),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		es.Close()
		cancel()
		return nil, eventstore.ErrClosed
	}
	s.subs[sub] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go sub.pump(es, from, after)
	return sub, nil
}

type subscription struct {
	s      *Store
	life   context.Context // ends when the subscription or the store closes
	cancel context.CancelFunc
	recs   chan eventstore.Record
	done   chan struct{} // closed by Close
	once   sync.Once
	failed chan struct{} // closed when err is set
	err    error
}

// Next implements eventstore.Subscription.
func (sub *subscription) Next(ctx context.Context) (eventstore.Record, error) {
	if sub.ended() {
		return eventstore.Record{}, eventstore.ErrClosed
	}
	select {
	case r := <-sub.recs:
		// A record read ahead is not delivered after Close.
		if sub.ended() {
			return eventstore.Record{}, eventstore.ErrClosed
		}
		return r, nil
	case <-sub.done:
		return eventstore.Record{}, eventstore.ErrClosed
	case <-sub.s.closing:
		return eventstore.Record{}, eventstore.ErrClosed
	case <-sub.failed:
		return eventstore.Record{}, sub.err
	case <-ctx.Done():
		return eventstore.Record{}, ctx.Err()
	}
}

func (sub *subscription) ended() bool {
	select {
	case <-sub.done:
		return true
	case <-sub.s.closing:
		return true
	default:
		return false
	}
}

// Close implements eventstore.Subscription. It is safe to call more than
// once, and after the store closed.
func (sub *subscription) Close() error {
	sub.once.Do(func() {
		close(sub.done)
		sub.cancel()
		sub.s.mu.Lock()
		delete(sub.s.subs, sub)
		sub.s.mu.Unlock()
	})
	return nil
}

// pump moves records from the server's subscription es (which started
// after from) to recs, skipping records at or before `after`, and
// resubscribes after the last event received when es drops.
func (sub *subscription) pump(es *esdbSub, from esdb.AllPosition, after uint64) {
	s := sub.s
	defer s.wg.Done()
	failures := 0
	for {
		if es != nil {
			err := sub.deliver(es, &from, &after, &failures)
			es.Close()
			es = nil
			if err != nil {
				if sub.life.Err() == nil {
					sub.err = err
					close(sub.failed)
				}
				return
			}
		}
		if sub.life.Err() != nil {
			return
		}
		failures++
		t := time.NewTimer(backoff(failures, s.opts.MaxBackoff))
		select {
		case <-t.C:
		case <-s.conn.recoveredCh():
			t.Stop()
		case <-sub.life.Done():
			t.Stop()
			return
		}
		var err error
		if es, err = s.subscribeAll(sub.life, sub.life, false, from); err != nil && failures == 1 {
			s.log.Warn("kurrentdb: cannot resubscribe to $all; retrying", "server", s.conn.where, "err", err)
		}
	}
}

// deliver passes the records of es on until it drops (nil) or the index
// fails (the error).
func (sub *subscription) deliver(es *esdbSub, from *esdb.AllPosition, after *uint64, failures *int) error {
	s := sub.s
	for {
		ev := es.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			if _, kind := s.mapError(ev.SubscriptionDropped.Error); kind == errUnreachable && sub.life.Err() == nil {
				s.conn.fail(ev.SubscriptionDropped.Error)
			}
			return nil
		case ev.CaughtUp != nil:
			*failures = 0
		case ev.EventAppeared != nil:
			e := ev.EventAppeared.Event
			if e == nil {
				continue
			}
			*from = e.Position
			*failures = 0
			if !s.ours(e) {
				continue
			}
			pos, err := s.idx.positionAt(sub.life, e.Position)
			if err != nil {
				if sub.life.Err() != nil {
					return nil
				}
				return err
			}
			if pos == 0 || pos <= *after {
				continue
			}
			*after = pos
			select {
			case sub.recs <- s.record(e, pos):
			case <-sub.life.Done():
				return nil
			}
		}
	}
}
