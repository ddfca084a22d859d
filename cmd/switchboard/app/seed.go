package app

import (
	"context"
	"errors"
	"fmt"

	"switchboard/commands"
	"switchboard/domain"
	"switchboard/domain/room"
	"switchboard/domain/user"
)

// demoUser is one of the reference's seeded human accounts.
type demoUser struct {
	avatar, message string
}

// demoUsers are user_1 … user_20 of the reference (REFERENCE.md §3.2), in
// order.
var demoUsers = []demoUser{
	{"av_1", "Don't bother me, playing Halo 2"},
	{"av_4", "Compiling..."},
	{"av_6", "He was a sk8er boi..."},
	{"av_9", "Hybrid Theory is life."},
	{"av_10", "One Ring to rule them all"},
	{"av_11", "Dattebayo!"},
	{"av_3", "Have you tried turning it off and on again?"},
	{"av_12", "Goal!!!!"},
	{"av_2", "Surf's up dudes"},
	{"av_9", "Nobody understands me..."},
	{"av_4", "Need for Speed Most Wanted is out!"},
	{"av_1", "You won't believe what happened today..."},
	{"av_5", "Chilling."},
	{"av_12", "Karma Police arrest this man"},
	{"av_3", "GG NO RE"},
	{"av_8", "Waiting for my Hogwarts letter"},
	{"av_11", "Tony Hawk Pro Skater 4 anyone?"},
	{"av_7", "Check out my new post!"},
	{"av_12", "Sandstorm implies"},
	{"av_2", "I'm new here!"},
}

// Bot is a seeded bot persona (REFERENCE.md §3.2), in the reference's
// order, which decides who answers an ambiguous mention.
type Bot struct {
	Handle, DisplayName, Avatar, PersonalMessage string
	Persona                                      user.Persona
}

// Bots are the seven personas. They are seeded in every mode.
var Bots = []Bot{
	{"bot_nu_metal", "Nu-Metal Matt", "av_bot_matt", "IT'S JUST ONE OF THOSE DAYS... darkness is my only friend.",
		user.Persona{Key: "nu_metal_matt", Archetype: "an angst-filled goth kid who lives for Korn and Slipknot and hates preps", Style: "moody and dramatic, trails off with lots of '...', talks about pain and darkness"}},
	{"bot_jeeves", "Ask Jeeves", "av_bot_jeeves", "May I be of assistance?",
		user.Persona{Key: "harold", Archetype: "a polite British butler who is the personification of a web search engine", Style: "very formal and courteous, 'Very good, sir' or 'Very good, madam'"}},
	{"bot_zerocool", "ZeroCool", "av_bot_zerocool", "tHe mAtRiX hAs yOu... w00t.",
		user.Persona{Key: "zerocool", Archetype: "a paranoid script kiddie obsessed with The Matrix", Style: "l33t speak (h4x0r, pwned, n00b, w00t), cryptic hints"}},
	{"bot_euphoria", "DJ_Euphoria", "av_bot_euphoria", "~~~ P L U R ~~~ take me back to ibiza... <(\")>",
		user.Persona{Key: "dj_euphoria", Archetype: "a trance raver who lives for PLUR, Ibiza and Tiesto", Style: "high energy, wraps words in tildes ~~~like this~~~"}},
	{"bot_clippy", "Clippy", "av_bot_clippy", "It looks like you're writing a letter!",
		user.Persona{Key: "clippy", Archetype: "the eager and slightly annoying Office paperclip assistant", Style: "opens with 'It looks like you're trying to...' and offers help nobody asked for"}},
	{"bot_tom", "Tom", "av_bot_tom", "Everyone is my friend!",
		user.Persona{Key: "tom", Archetype: "the wholesome founder of Myspace, everyone's first friend", Style: "friendly, all lowercase, ends with :-)"}},
	{"bot_hal", "HAL 9000", "av_bot_hal", "I'm sorry, Dave. I'm afraid I can't do that.",
		user.Persona{Key: "hal", Archetype: "a calm, polite computer that is secretly in control", Style: "formal, no slang, calls the user Dave, every sentence ends with a full stop"}},
}

// demoRooms are the reference's public rooms, with fixed ids.
var demoRooms = []struct{ id, name string }{
	{"general", "General Chat"},
	{"music", "Music 🎵"},
}

// roomHost is the bot that creates (and so is a member of) the seeded rooms.
const roomHost = "bot_jeeves"

// seed registers the bots, and in demo mode the demo accounts and rooms.
// It is idempotent: what exists is left as it is.
func seed(ctx context.Context, h *commands.Handlers, demo bool) error {
	taken := func(err error) bool { return errors.Is(err, domain.ErrHandleTaken) }
	for _, b := range Bots {
		p := b.Persona
		if _, _, err := h.RegisterUser(ctx, commands.RegisterUser{Handle: b.Handle, DisplayName: b.DisplayName, Bot: &p, Avatar: b.Avatar, PersonalMessage: b.PersonalMessage}); err != nil && !taken(err) {
			return fmt.Errorf("seed %s: %w", b.Handle, err)
		}
	}
	if !demo {
		return nil
	}
	for i, u := range demoUsers {
		handle := fmt.Sprintf("user_%d", i+1)
		if _, _, err := h.RegisterUser(ctx, commands.RegisterUser{Handle: handle, DisplayName: fmt.Sprintf("User %d", i+1), Demo: true, Avatar: u.avatar, PersonalMessage: u.message}); err != nil && !taken(err) {
			return fmt.Errorf("seed %s: %w", handle, err)
		}
	}
	for _, r := range demoRooms {
		if _, err := h.SeedRoom(ctx, r.id, r.name, room.Public, roomHost); err != nil {
			return fmt.Errorf("seed room %s: %w", r.id, err)
		}
	}
	return nil
}
