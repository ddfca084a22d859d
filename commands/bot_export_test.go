package commands

import (
	"testing"

	"switchboard/domain"
	"switchboard/domain/room"
	"switchboard/eventstore"
)

// BotTestKit lends the internal test helpers to the bot orchestrator's
// external tests (package commands_test, which may import adapters/ollama
// and its stand-in server; this package may not, adapters import it).
var BotTestKit botTestKit

type botTestKit struct{}

// Clock returns a settable clock at a fixed start.
func (botTestKit) Clock() *fakeClock { return start() }

// Handlers returns handlers over store with cheap password hashing and
// policy p (zero: the default policy).
func (botTestKit) Handlers(t testing.TB, store eventstore.Store, clock Clock, p domain.Policy) *Handlers {
	t.Helper()
	h, err := New(store, Config{Policy: p, Clock: clock, Hasher: cheap, Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Room registers users and makes a public room they all joined.
func (botTestKit) Room(t testing.TB, h *Handlers, name string, users ...string) string {
	return setup(t, h, name, users...)
}

// Messages returns the room's messages from its stream.
func (botTestKit) Messages(t testing.TB, s eventstore.Store, roomID string) []room.MessagePosted {
	return messages(t, s, roomID)
}

// RegisterBots registers the reference's seven bots, as the seed does.
func (botTestKit) RegisterBots(t testing.TB, h *Handlers) { registerTestBots(t, h) }

// BotHandles are the seven bots' handles in the reference's order.
func (botTestKit) BotHandles() []string { return testBotHandles() }
