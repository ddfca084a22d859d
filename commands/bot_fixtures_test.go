package commands

import (
	"context"
	"testing"

	"switchboard/domain/user"
)

// testBot is a bot as the composition root seeds it (cmd/switchboard/app
// Bots, which this package may not import): the reference's seven, in its
// order.
type testBot struct {
	Handle, DisplayName, PersonalMessage string
	Persona                              user.Persona
}

var testBots = []testBot{
	{"bot_nu_metal", "Nu-Metal Matt", "IT'S JUST ONE OF THOSE DAYS... darkness is my only friend.",
		user.Persona{Key: "nu_metal_matt", Archetype: "an angst-filled goth kid who loves Korn and Slipknot", Style: "moody, lots of '...'"}},
	{"bot_jeeves", "Ask Jeeves", "May I be of assistance?",
		user.Persona{Key: "harold", Archetype: "a polite British butler, a search engine in person", Style: "very formal, 'Very good, sir'"}},
	{"bot_zerocool", "ZeroCool", "tHe mAtRiX hAs yOu... w00t.",
		user.Persona{Key: "zerocool", Archetype: "a paranoid script kiddie obsessed with The Matrix", Style: "l33t speak"}},
	{"bot_euphoria", "DJ_Euphoria", "~~~ P L U R ~~~ take me back to ibiza... <(\")>",
		user.Persona{Key: "dj_euphoria", Archetype: "a trance raver", Style: "tildes ~~~like this~~~"}},
	{"bot_clippy", "Clippy", "It looks like you're writing a letter!",
		user.Persona{Key: "clippy", Archetype: "the eager Office paperclip", Style: "'It looks like you're trying to...'"}},
	{"bot_tom", "Tom", "Everyone is my friend!",
		user.Persona{Key: "tom", Archetype: "the wholesome Myspace founder", Style: "friendly, lowercase, :-)"}},
	{"bot_hal", "HAL 9000", "I'm sorry, Dave. I'm afraid I can't do that.",
		user.Persona{Key: "hal", Archetype: "a calm computer, secretly in control", Style: "formal, calls the user Dave"}},
}

func testBotHandles() []string {
	out := make([]string, len(testBots))
	for i, b := range testBots {
		out[i] = b.Handle
	}
	return out
}

// testDirectory is the seven bots' directory.
func testDirectory() *botDirectory {
	d := &botDirectory{byHandle: map[string]*botProfile{}}
	for _, b := range testBots {
		d = d.with(newBotProfile(b.Handle, b.DisplayName, b.PersonalMessage, b.Persona), testBotHandles())
	}
	return d
}

// registerTestBots registers the seven bots, as the seed does.
func registerTestBots(t testing.TB, h *Handlers) {
	t.Helper()
	for _, b := range testBots {
		p := b.Persona
		if _, _, err := h.RegisterUser(context.Background(), RegisterUser{Handle: b.Handle, DisplayName: b.DisplayName, Bot: &p, PersonalMessage: b.PersonalMessage}); err != nil {
			t.Fatal(err)
		}
	}
}
