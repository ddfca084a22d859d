package projections

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/room"
	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
)

// roomWriter posts to one room through the room decider, as the command
// side does.
type roomWriter struct {
	tb    testing.TB
	store eventstore.Store
	id    string
	st    room.State
	at    time.Time
	n     int
	last  uint64 // position of the last append
	w     *world
}

func newRoomWriter(tb testing.TB, store eventstore.Store, id string) *roomWriter {
	rw := &roomWriter{tb: tb, store: store, id: id, st: room.New(domain.Policy{DedupMaxPerRoom: 100}), at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), w: newWorld(9)}
	rw.do(room.Create{Room: id, Name: "Room", Visibility: room.Public, By: "alice", ClientID: "create"})
	return rw
}

func (rw *roomWriter) do(c room.Command) {
	rw.tb.Helper()
	rw.n++
	rw.at = rw.at.Add(time.Second)
	switch c := c.(type) {
	case room.Create:
		c.At = rw.at
		rw.apply(c)
	case room.Join:
		c.At, c.ClientID = rw.at, fmt.Sprint("c", rw.n)
		rw.apply(c)
	case room.Leave:
		c.At, c.ClientID = rw.at, fmt.Sprint("c", rw.n)
		rw.apply(c)
	case room.PostChat:
		c.At, c.ClientID = rw.at, fmt.Sprint("c", rw.n)
		rw.apply(c)
	case room.MoveReadMarker:
		c.At = rw.at
		rw.apply(c)
	default:
		rw.apply(c)
	}
}

func (rw *roomWriter) apply(c room.Command) {
	rw.tb.Helper()
	evs, err := room.Decide(rw.st, c, domain.Policy{DedupMaxPerRoom: 100})
	if err != nil {
		rw.tb.Fatalf("%T: %v", c, err)
	}
	if len(evs) == 0 {
		return
	}
	res, err := rw.store.Append(context.Background(), room.Stream(rw.id), eventstore.Any, rw.w.proposed(op{room.Stream(rw.id), evs}))
	if err != nil {
		rw.tb.Fatal(err)
	}
	for _, e := range evs {
		rw.st = room.Evolve(rw.st, e)
	}
	rw.last = res.Position
}

func (rw *roomWriter) post(by, text string) {
	rw.tb.Helper()
	rw.do(room.PostChat{Room: rw.id, By: by, Text: text})
}

// startRunner runs fresh projections over store until the test ends.
func startRunner(tb testing.TB, store eventstore.Store, opts Options) (*Runner, *Set) {
	tb.Helper()
	set := NewSet(store)
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	r, err := NewRunner(store, opts, set.All()...)
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r, set
}

func seqs(msgs []Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

func seqRange(lo, hi uint64) []uint64 {
	out := []uint64{}
	for s := lo; s <= hi; s++ {
		out = append(out, s)
	}
	return out
}

// TestLatestKeepsNewest100: after 112 posts the buffer holds exactly the
// newest 100, oldest first, and says older ones exist.
func TestLatestKeepsNewest100(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	r, set := startRunner(t, store, Options{})
	rw := newRoomWriter(t, store, "general")
	rw.do(room.Join{Room: "general", By: "bob"})
	for i := 1; i <= 112; i++ {
		rw.post(pick(rw.w, []string{"alice", "bob"}), fmt.Sprintf("message %d", i))
		if i == 100 {
			if err := r.Sync(ctx, rw.last); err != nil {
				t.Fatal(err)
			}
			msgs, complete := set.History.Latest("general")
			if len(msgs) != 100 || !complete {
				t.Fatalf("after 100 posts: %d messages, complete %t; want 100, true", len(msgs), complete)
			}
		}
	}
	if err := r.Sync(ctx, rw.last); err != nil {
		t.Fatal(err)
	}
	msgs, complete := set.History.Latest("general")
	if got, want := seqs(msgs), seqRange(13, 112); !slices.Equal(got, want) {
		t.Fatalf("latest seqs = %v\nwant %v", got, want)
	}
	if complete {
		t.Error("complete = true with 12 older messages")
	}
	for _, m := range msgs {
		if want := fmt.Sprintf("message %d", m.Seq); m.Text != want || m.Kind != room.KindChat || m.ID == "" || m.At.IsZero() {
			t.Errorf("message %d = %+v", m.Seq, m)
		}
	}
	if got := set.History.LastSeq("general"); got != 112 {
		t.Errorf("LastSeq = %d, want 112", got)
	}
	if msgs, complete := set.History.Latest("nowhere"); msgs != nil || !complete {
		t.Errorf("unknown room: %v, %t", msgs, complete)
	}
}

// TestSinceAndPage: resuming after any seq returns exactly the messages
// after it, gap-free, whether they are in the buffer or only in the
// stream (which holds membership events between messages); pages going
// back return exactly the requested window, newest first.
func TestSinceAndPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	r, set := startRunner(t, store, Options{})
	rw := newRoomWriter(t, store, "general")
	const total = 350
	for i := 1; i <= total; i++ {
		switch {
		case i%7 == 0:
			rw.do(room.Join{Room: "general", By: "bob"})
		case i%11 == 0:
			rw.do(room.Leave{Room: "general", By: "bob"})
		case i%5 == 0:
			rw.do(room.MoveReadMarker{Room: "general", By: "alice", Seq: uint64(i / 2)})
		}
		rw.post("alice", fmt.Sprintf("m%d", i))
	}
	if err := r.Sync(ctx, rw.last); err != nil {
		t.Fatal(err)
	}

	// The messages as the stream has them, for the IDs.
	recs, err := store.ReadStream(ctx, room.Stream("general"), eventstore.Forwards, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var all []Message
	for _, rec := range recs {
		if rec.Type == "MessagePosted" {
			ev, _ := codec.Decode(rec.Type, rec.Data)
			all = append(all, messageOf(rec, ev.(room.MessagePosted)))
		}
	}
	if len(all) != total {
		t.Fatalf("stream has %d messages", len(all))
	}

	for after := uint64(0); after <= total+2; after++ {
		got, err := set.History.Since(ctx, "general", after)
		if err != nil {
			t.Fatalf("Since(%d): %v", after, err)
		}
		want := all[min(after, total):]
		if !slices.Equal(got, want) {
			t.Fatalf("Since(%d) = seqs %v\nwant %v", after, seqs(got), seqs(want))
		}
	}
	for _, c := range []struct {
		before uint64
		limit  int
		lo, hi uint64
	}{
		{0, 0, 251, 350},
		{0, 10, 341, 350},
		{251, 100, 151, 250},
		{300, 100, 200, 299},
		{200, 64, 136, 199},
		{65, 64, 1, 64},
		{64, 200, 1, 63},
		{2, 100, 1, 1},
		{1000, 5, 346, 350},
	} {
		got, err := set.History.Page(ctx, "general", c.before, c.limit)
		if err != nil {
			t.Fatalf("Page(%d, %d): %v", c.before, c.limit, err)
		}
		want := slices.Clone(all[c.lo-1 : c.hi])
		slices.Reverse(want)
		if !slices.Equal(got, want) {
			t.Errorf("Page(%d, %d) = seqs %v\nwant %v", c.before, c.limit, seqs(got), seqs(want))
		}
	}
	if got, _ := set.History.Page(ctx, "general", 1, 10); len(got) != 0 {
		t.Errorf("Page(before 1) = %v", seqs(got))
	}

	// Without a store, old messages cannot be read: an error, not a gap.
	restored := NewHistory(nil)
	b, _ := set.History.MarshalSnapshot()
	if err := restored.UnmarshalSnapshot(b); err != nil {
		t.Fatal(err)
	}
	if _, err := restored.Since(ctx, "general", 10); err == nil {
		t.Error("Since without a store reading old messages: no error")
	}
	if got, err := restored.Since(ctx, "general", 300); err != nil || len(got) != 50 {
		t.Errorf("Since(300) from the buffer alone: %d messages, %v", len(got), err)
	}
}

// TestCapture: a capture encodes the state as it was when taken, while
// Apply goes on changing the rooms (copy on write), and the live state is
// unaffected.
func TestCapture(t *testing.T) {
	t.Parallel()
	h := NewHistory(nil)
	seq := map[string]uint64{}
	post := func(roomID string, n int) {
		for range n {
			seq[roomID]++
			h.Apply(eventstore.Record{ID: uuid.New(), Revision: seq[roomID]}, room.MessagePosted{Room: roomID, Seq: seq[roomID], Sender: "bob", Kind: room.KindChat, Text: fmt.Sprint("m", seq[roomID]), At: t0})
		}
	}
	post("a", 150)
	post("b", 50)
	want, _ := h.MarshalSnapshot()
	encode := h.Capture()
	done := make(chan []byte)
	go func() {
		b, _ := encode()
		done <- b
	}()
	post("a", 150)
	post("b", 80)
	post("c", 10)
	if got := <-done; string(got) != string(want) {
		t.Fatal("the capture changed while Apply went on")
	}
	if got, _ := h.Latest("a"); got[0].Seq != 201 || got[99].Seq != 300 {
		t.Errorf("live state after the capture: seqs %d…%d", got[0].Seq, got[99].Seq)
	}
	again, _ := h.Capture()()
	fresh := NewHistory(nil)
	if err := fresh.UnmarshalSnapshot(again); err != nil {
		t.Fatal(err)
	}
	if got, _ := fresh.Latest("b"); len(got) != 100 || got[99].Seq != 130 {
		t.Errorf("restored b: %d messages", len(got))
	}
}
