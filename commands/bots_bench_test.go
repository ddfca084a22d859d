package commands_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/adapters/ollama"
	"switchboard/adapters/ollama/fake"
	"switchboard/commands"
	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/room"
	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
	"switchboard/eventstore/memstore"
)

// BenchmarkHumanPostWhileModelHangs measures what the bots add to the
// path of a human message: PostChat of messages that all mention a bot,
// one after another, with the bus running, and the model stand-in hanging
// on every request (the worker is stuck, the queue full, every further
// trigger turned away). "no-bots" is the same bus without the
// orchestrator. The difference of the two ns/op is the bots' cost; on the
// embedded on-disk store each post waits for its fsync.
//
//	go test ./commands -run '^$' -bench HumanPostWhileModelHangs -benchtime 5000x -count 5
func BenchmarkHumanPostWhileModelHangs(b *testing.B) {
	for _, tc := range []struct {
		name       string
		bots, disk bool
	}{{"memstore/no-bots", false, false}, {"memstore/model-hangs", true, false}, {"filestore/no-bots", false, true}, {"filestore/model-hangs", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			p := domain.DefaultPolicy()
			p.ChatLimit = 0
			var store eventstore.Store
			if tc.disk {
				fs, err := filestore.Open(b.TempDir(), filestore.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { fs.Close() })
				store = fs
			}
			r := newRig(b, rigOptions{policy: p, store: store, noBots: !tc.bots, ollama: ollama.Config{FirstTokenTimeout: time.Hour, Timeout: time.Hour}})
			r.model.Set(fake.Behaviour{Fault: fake.Hang})
			lobby := kit.Room(b, r.h, "lobby", "alice", "bob")
			ctx := context.Background()
			if tc.bots {
				// Get the model hanging and the queue full first.
				r.chat(b, lobby, "alice", "warm", "@clippy hello?")
				if err := r.model.WaitActive(waitCtx(b), 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var last commands.Ack
			for i := range b.N {
				var err error
				last, err = r.h.PostChat(ctx, commands.PostChat{Room: lobby, User: "bob", ClientID: fmt.Sprint("b", i), Text: "@clippy are you there? this is a message of typical length"})
				if err != nil {
					b.Fatal(err)
				}
			}
			// The time includes the feed catching up: what the reactors do
			// per message counts, even when it trails the posts.
			if err := r.seen.wait(waitCtx(b), last.Position); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if tc.bots && r.model.Active() != 1 {
				b.Fatalf("%d model requests active", r.model.Active())
			}
		})
	}
}

// BenchmarkBotHandle measures the orchestrator's Handle, which runs on the
// event feed for every record: a chat that calls no bot, a message in a
// direct room (which hashes the room id with each bot), and a mention
// turned away because the queue is full.
func BenchmarkBotHandle(b *testing.B) {
	store := memstore.New()
	h := kit.Handlers(b, store, kit.Clock(), domain.Policy{})
	kit.RegisterBots(b, h)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	o, err := commands.NewBotOrchestrator(h, commands.BotConfig{LLM: nopLLM{}, Bots: kit.BotHandles(), Logger: quiet, Queue: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	recs, _ := store.ReadAll(ctx, 1, 1000)
	for _, rec := range recs {
		ev, _ := codec.Decode(rec.Type, rec.Data)
		o.Observe(ctx, &commands.Event{Record: rec, Domain: ev})
	}
	pos := recs[len(recs)-1].Position
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		m    room.MessagePosted
	}{
		{"plain-chat", room.MessagePosted{Room: "general", Sender: "user_1", Kind: room.KindChat, Text: "hello everyone, how are you all doing today?", At: at}},
		{"direct-room", room.MessagePosted{Room: room.DirectID("user_1", "user_2"), Sender: "user_1", Kind: room.KindChat, Text: "hello there", At: at}},
		{"mention-queue-full", room.MessagePosted{Room: "general", Sender: "user_1", Kind: room.KindChat, Text: "@clippy help me write a letter", At: at}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				pos++
				tc.m.Seq = pos
				e := &commands.Event{Record: eventstore.Record{ID: uuid.New(), Position: pos, Revision: pos, Type: "MessagePosted"}, Domain: tc.m}
				o.Observe(ctx, e)
				o.Handle(ctx, e)
			}
		})
	}
}

type nopLLM struct{}

func (nopLLM) Chat(context.Context, []commands.LLMMessage) (commands.LLMReply, error) {
	return commands.LLMReply{}, nil
}

// BenchmarkTriggerToTyping measures the time from a trigger's ack to the
// bot's typing indicator: the feed delivers the message, Handle queues
// it, a worker checks the kill switch, reserves the quota (one append)
// and signals typing. On the embedded on-disk store the reservation waits
// for its fsync. Reported as ms-to-typing (mean) and p50/p99.
//
//	go test ./commands -run '^$' -bench TriggerToTyping -benchtime 200x
func BenchmarkTriggerToTyping(b *testing.B) {
	for _, tc := range []struct {
		name string
		disk bool
	}{{"memstore", false}, {"filestore", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var store eventstore.Store
			if tc.disk {
				fs, err := filestore.Open(b.TempDir(), filestore.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { fs.Close() })
				store = fs
			}
			p := domain.DefaultPolicy()
			p.ChatLimit = 0
			p.BotRepliesPerUserPerDay = 0
			p.BotRepliesPerDay = 0
			p.BotTokensPerDay = 0
			r := newRig(b, rigOptions{policy: p, store: store})
			lobby := kit.Room(b, r.h, "lobby", "alice")
			ctx := waitCtx(b)
			took := make([]time.Duration, 0, b.N)
			next := 0
			for i := 0; b.Loop(); i++ {
				ack := r.chat(b, lobby, "alice", fmt.Sprint("a", i), "@clippy quick one")
				posted := time.Now()
				e, at, err := r.typing.wait(ctx, next, func(e typingEvent) bool { return e.typing && e.room == lobby })
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, e.at.Sub(posted))
				b.StopTimer()
				r.sync(b, ack.Position)
				if next = len(r.typing.all()); next <= at {
					b.Fatal("typing events lost")
				}
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(took)
			var sum time.Duration
			for _, d := range took {
				sum += d
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(sum/time.Duration(len(took))), "ms-to-typing")
			b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
			b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
		})
	}
}
