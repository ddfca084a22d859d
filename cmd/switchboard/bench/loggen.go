package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/room"
	"switchboard/domain/user"
	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
)

// buildLog writes a log of at least n events to a new store in dir, fast:
// the events come from the domain's deciders (so the projections see what
// the real system writes: users, rooms, joins, then chat messages from
// members), grouped per stream in appends of up to 1024 records, many
// streams at once so that appends share fsyncs. It returns the head.
func buildLog(ctx context.Context, dir string, n int) (uint64, error) {
	s, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	p := domain.DefaultPolicy()
	p.ChatLimit = 0
	at := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	const users, rooms, members = 1000, 100, 20

	type op struct {
		stream string
		user   string
		events []domain.Event
	}
	var pending []op
	written := 0
	var head uint64

	flush := func() error {
		groups := map[string][]eventstore.Proposed{}
		var order []string
		for _, o := range pending {
			if _, ok := groups[o.stream]; !ok {
				order = append(order, o.stream)
			}
			for _, e := range o.events {
				typ, data, err := codec.Encode(e)
				if err != nil {
					return err
				}
				groups[o.stream] = append(groups[o.stream], eventstore.Proposed{
					ID: uuid.New(), Type: typ, Data: data, Metadata: eventstore.Metadata{User: o.user, Time: at},
				})
			}
		}
		pending = pending[:0]
		var mu sync.Mutex
		return parallel(ctx, len(order), 64, func(i int) error {
			for chunk := range slices.Chunk(groups[order[i]], eventstore.MaxAppendRecords) {
				res, err := s.Append(ctx, order[i], eventstore.Any, chunk)
				if err != nil {
					return fmt.Errorf("append to %s: %w", order[i], err)
				}
				mu.Lock()
				head = max(head, res.Position)
				mu.Unlock()
			}
			return nil
		})
	}
	add := func(stream, by string, evs []domain.Event) error {
		pending = append(pending, op{stream, by, evs})
		written += len(evs)
		if len(pending) >= 64<<10 {
			return flush()
		}
		return nil
	}

	handles := make([]string, users)
	for i := range handles {
		handles[i] = fmt.Sprintf("load_%05d", i)
		evs, err := user.Decide(user.State{}, user.Register{Handle: handles[i], DisplayName: "Load " + strconv.Itoa(i), Demo: true, At: at}, p)
		if err != nil {
			return 0, err
		}
		if err := add(user.Stream(handles[i]), handles[i], evs); err != nil {
			return 0, err
		}
	}
	states := make([]room.State, rooms)
	ids := make([]string, rooms)
	decide := func(k int, by string, c room.Command) error {
		evs, err := room.Decide(states[k], c, p)
		if err != nil {
			return err
		}
		for _, e := range evs {
			states[k] = room.Evolve(states[k], e)
		}
		return add(room.Stream(ids[k]), by, evs)
	}
	cid := 0
	nextID := func() string { cid++; return "g" + strconv.Itoa(cid) }
	for k := range rooms {
		ids[k] = fmt.Sprintf("load-room-%03d", k)
		states[k] = room.New(p)
		by := handles[(k*members)%users]
		if err := decide(k, by, room.Create{Room: ids[k], Name: "Load room " + strconv.Itoa(k), Visibility: room.Public, By: by, ClientID: nextID(), At: at}); err != nil {
			return 0, err
		}
		for j := 1; j < members; j++ {
			u := handles[(k*members+j)%users]
			if err := decide(k, u, room.Join{Room: ids[k], By: u, ClientID: nextID(), At: at}); err != nil {
				return 0, err
			}
		}
	}
	for i := 0; written < n; i++ {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		at = at.Add(time.Millisecond)
		k := i % rooms
		by := handles[(k*members+(i/rooms)%members)%users]
		text := "message " + strconv.Itoa(i) + " of the cold-start log, about as long as a chat line is"
		if err := decide(k, by, room.PostChat{Room: ids[k], By: by, ClientID: nextID(), Text: text, At: at}); err != nil {
			return 0, err
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return head, nil
}
