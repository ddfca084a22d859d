package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"switchboard/tests/internal/e2e"
	"sync"
	"testing"
	"time"
)

// post is one chat message of the kill test. Its text is its id, so the
// history shows which post a message is.
type post struct {
	user     int
	id, room string
}

// TestKill9UnderLoad is T1: 20 demo users post about 200 messages/s in
// total to 40 rooms while the server is killed with SIGKILL at a random
// moment, 20 times. After every restart each room's history (paged
// through the HTTP API) has contiguous seqs, holds every acknowledged
// message at the seq its ack named, and holds no message twice. Messages
// without an ack when the server died are resent with the same id after
// the restart: the server answers with the original seq if it had stored
// them, and stores them once if it had not.
func TestKill9UnderLoad(t *testing.T) {
	requireFaults(t)
	const (
		users  = 20
		rooms  = 40 // each user posts to each room 0.25/s, under the limit of 20 per 30 s
		cycles = 20
		every  = 100 * time.Millisecond // per user: 10/s, 200/s in all
	)
	bin := e2e.Binary(t)
	data := t.TempDir()
	p, _ := e2e.Start(t, bin, data)

	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = e2e.Login(t, p.URL, fmt.Sprintf("user_%d", i+1), e2e.SrcAddr(i))
	}
	// user_1 creates the rooms (public); everyone joins every room.
	roomIDs := make([]string, rooms)
	{
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for i := range users {
			w, err := e2e.Hello(ctx, p.URL, tokens[i], e2e.SrcAddr(i))
			if err != nil {
				t.Fatalf("user %d: %v", i, err)
			}
			for k := range rooms {
				var a map[string]any
				if i == 0 {
					a, err = w.Command(ctx, fmt.Sprintf("create-%d", k), map[string]any{"type": "create_room", "name": fmt.Sprintf("kill room %d", k), "visibility": "public"})
					if err == nil && a["type"] == "ack" {
						roomIDs[k], _ = a["room"].(string)
					}
				} else {
					a, err = w.Command(ctx, fmt.Sprintf("join-%d", k), map[string]any{"type": "join", "room": roomIDs[k]})
				}
				if err != nil || a["type"] != "ack" {
					t.Fatalf("user %d, room %d: %v %v", i, k, a, err)
				}
			}
			w.C.CloseNow()
		}
		cancel()
	}

	acked := map[string]uint64{} // post id → seq
	var inDoubt []post           // sent, never acknowledged
	all := map[string]post{}
	rng := rand.New(rand.NewPCG(1, 2))
	var readyMax time.Duration
	doubted, landedAll := 0, 0
	for cycle := range cycles {
		// Each user's socket first resends what is in doubt, then posts
		// every 100 ms until the server dies.
		resend := make([][]post, users)
		for _, m := range inDoubt {
			resend[m.user] = append(resend[m.user], m)
		}
		inDoubt = nil
		var mu sync.Mutex
		sent := map[string]post{}
		ackedNow := map[string]uint64{}
		refused := map[string]int{}
		answered := map[string]bool{} // an error is an answer: nothing was stored
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		unanswered := 0
		conns := make([]*e2e.WS, users)
		for i := range users {
			w, err := e2e.Hello(ctx, p.URL, tokens[i], e2e.SrcAddr(i))
			if err != nil {
				t.Fatalf("cycle %d: user %d: %v", cycle, i, err)
			}
			conns[i] = w
		}
		for i, w := range conns {
			wg.Add(2)
			go func() { // reader: acks and errors of our posts
				defer wg.Done()
				for f := range w.Frames {
					id, _ := f["id"].(string)
					if id == "" {
						continue
					}
					mu.Lock()
					switch f["type"] {
					case "ack":
						ackedNow[id] = e2e.SeqOf(f)
					case "error":
						refused[fmt.Sprint(f["code"])]++
						answered[id] = true
					}
					mu.Unlock()
				}
			}()
			go func() { // writer
				defer wg.Done()
				send := func(m post) bool {
					mu.Lock()
					sent[m.id] = m
					mu.Unlock()
					return w.Send(ctx, map[string]any{"type": "chat", "id": m.id, "room": m.room, "text": m.id}) == nil
				}
				for _, m := range resend[i] {
					if !send(m) {
						return
					}
				}
				// Poisson arrivals (mean gap 100 ms), so that the kill
				// finds writes in flight rather than 20 sockets in step.
				r := rand.New(rand.NewPCG(uint64(cycle), uint64(i)))
				for k := 0; ; k++ {
					select {
					case <-w.Done:
						return
					case <-time.After(time.Duration(r.ExpFloat64() * float64(every))):
					}
					m := post{user: i, id: fmt.Sprintf("u%d-c%d-n%d", i, cycle, k), room: roomIDs[(i+k)%rooms]}
					if !send(m) {
						return
					}
				}
			}()
		}
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second))))
		p.Kill()
		wg.Wait()
		cancel()
		for id, m := range sent {
			all[id] = m
			if seq, ok := ackedNow[id]; ok {
				if prev, dup := acked[id]; dup && prev != seq {
					t.Errorf("cycle %d: %s acknowledged with seq %d, earlier with %d", cycle, id, seq, prev)
				}
				acked[id] = seq
			} else if _, ok := acked[id]; !ok {
				inDoubt = append(inDoubt, m) // resent next cycle, whatever the reason
				if !answered[id] {
					unanswered++
				}
			}
		}
		var ready time.Duration
		p, ready = e2e.Start(t, bin, data)
		readyMax = max(readyMax, ready)
		if ready > 2*time.Second {
			t.Errorf("cycle %d: ready %s after the restart (want ≤ 2 s)", cycle, ready)
		}
		stored := verifyHistory(t, p.URL, tokens[0], roomIDs, acked, all, false)
		landed := 0
		for _, m := range inDoubt {
			if _, ok := stored[m.id]; ok {
				landed++
			}
		}
		doubted += unanswered
		landedAll += landed
		t.Logf("cycle %d: %d sent, %d acked, %d unanswered at the kill (%d of them stored), refused %v, ready in %s",
			cycle, len(sent), len(ackedNow), unanswered, landed, refused, ready.Round(time.Millisecond))
		if t.Failed() {
			return
		}
	}

	// Settle what is still in doubt: resend until acknowledged.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for len(inDoubt) > 0 && ctx.Err() == nil {
		m := inDoubt[0]
		w, err := e2e.Hello(ctx, p.URL, tokens[m.user], e2e.SrcAddr(m.user))
		if err != nil {
			t.Fatal(err)
		}
		a, err := w.Command(ctx, m.id, map[string]any{"type": "chat", "room": m.room, "text": m.id})
		w.C.CloseNow()
		if err != nil {
			t.Fatal(err)
		}
		if a["type"] != "ack" {
			time.Sleep(time.Second) // rate limited: wait and resend
			continue
		}
		acked[m.id] = e2e.SeqOf(a)
		inDoubt = inDoubt[1:]
	}
	verifyHistory(t, p.URL, tokens[0], roomIDs, acked, all, true)
	t.Logf("%d cycles: %d messages acknowledged, all in the history once, at their acked seq; %d were unanswered at a kill (%d of those had been stored; resent with the same id, each got its original seq); slowest ready after kill -9: %s",
		cycles, len(acked), doubted, landedAll, readyMax.Round(time.Millisecond))
}

// verifyHistory checks every room's history: seqs contiguous from 1, no
// post twice, every acknowledged post at its seq. With settled, every
// post in the history must have been acknowledged. It returns the seq of
// every text in the history.
func verifyHistory(t *testing.T, base, token string, roomIDs []string, acked map[string]uint64, all map[string]post, settled bool) map[string]uint64 {
	t.Helper()
	seen := map[string]uint64{}
	bySeq := map[string]map[uint64]string{}
	total := 0
	for _, room := range roomIDs {
		msgs, err := e2e.History(base, token, room)
		if err != nil {
			t.Fatal(err)
		}
		bySeq[room] = map[uint64]string{}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) {
				t.Errorf("room %s: message %d has seq %d: not contiguous", room, i+1, m.Seq)
				return seen
			}
			if _, dup := seen[m.Text]; dup {
				t.Errorf("room %s: %q twice (seqs %d and %d)", room, m.Text, seen[m.Text], m.Seq)
			}
			seen[m.Text] = m.Seq
			bySeq[room][m.Seq] = m.Text
		}
		total += len(msgs)
	}
	var lost []string
	for id, seq := range acked {
		if bySeq[all[id].room][seq] != id {
			lost = append(lost, fmt.Sprintf("%s (seq %d in %s holds %q)", id, seq, all[id].room, bySeq[all[id].room][seq]))
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Errorf("%d acknowledged messages are not in the history where their ack put them, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if settled && total != len(acked) {
		t.Errorf("the history holds %d messages, %d were acknowledged", total, len(acked))
	}
	return seen
}
