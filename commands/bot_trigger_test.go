package commands

import (
	"strings"
	"testing"
	"unicode/utf8"

	"switchboard/domain/codec"
	"switchboard/domain/room"
	"switchboard/domain/user"
	"switchboard/eventstore"
)

func TestMentionMatching(t *testing.T) {
	d := testDirectory()
	cases := map[string]string{ // text → bot handle ("" for none)
		"@clippy hi":                       "bot_clippy",
		"@Clippy, help me":                 "bot_clippy",
		"hey @hal, open the pod bay doors": "bot_hal",
		"@hal.":                            "bot_hal",
		"@HAL":                             "bot_hal",
		"@hal9000":                         "bot_hal",
		"@harold":                          "bot_jeeves", // persona key
		"@jeeves":                          "bot_jeeves", // handle without bot_
		"@bot_tom":                         "bot_tom",    // handle
		"@Tom :-)":                         "bot_tom",
		"@ask what is the capital":         "bot_jeeves", // start of the display name
		"@AskJeeves":                       "bot_jeeves",
		"@dj":                              "bot_euphoria",
		"@dj_euphoria":                     "bot_euphoria",
		"@euphoria!!!":                     "bot_euphoria",
		"@nu-metal":                        "bot_nu_metal",
		"@nu_metal":                        "bot_nu_metal",
		"@n":                               "bot_nu_metal", // the first bot in order wins an abbreviation
		"@a":                               "bot_jeeves",
		"@ZERO":                            "bot_zerocool",
		"(@zerocool) w00t":                 "bot_zerocool",
		"@@clippy":                         "bot_clippy",
		"@user_2 ask @clippy":              "", // only the first mention counts
		"mail me at x@clippy.com":          "", // not a mention
		"@ clippy":                         "",
		"@":                                "",
		"@tomato":                          "",
		"clippy":                           "",
		"@clíppy":                          "",
		"@tom-":                            "bot_tom",
		"@" + strings.Repeat("a", 100):     "",
	}
	for text, want := range cases {
		got := ""
		if b := d.mentioned(text); b != nil {
			got = b.Handle
		}
		if got != want {
			t.Errorf("%q mentions %q, want %q", text, got, want)
		}
	}
}

func TestExactNameBeatsAnEarlierAbbreviation(t *testing.T) {
	d := testDirectory()
	// A bot whose display name starts like another's handle: "@tom" must
	// still be Tom, whatever the order.
	d = d.with(newBotProfile("bot_tomcat", "Tomcat Server", "", user.Persona{Key: "tomcat"}), []string{"bot_tomcat"})
	if d.bots[0].Handle != "bot_tomcat" {
		t.Fatalf("order %v", d.bots[0].Handle)
	}
	if b := d.mentioned("@tom"); b == nil || b.Handle != "bot_tom" {
		t.Fatalf("@tom is %v", b)
	}
	if b := d.mentioned("@tomc"); b == nil || b.Handle != "bot_tomcat" {
		t.Fatalf("@tomc is %v", b)
	}
}

func TestDirectoryOrder(t *testing.T) {
	// Registered in reverse, listed in the reference's order.
	d := &botDirectory{byHandle: map[string]*botProfile{}}
	for i := len(testBots) - 1; i >= 0; i-- {
		b := testBots[i]
		d = d.with(newBotProfile(b.Handle, b.DisplayName, "", b.Persona), testBotHandles())
	}
	d = d.with(newBotProfile("bot_extra", "Extra", "", user.Persona{Key: "extra"}), testBotHandles())
	for i, b := range d.bots[:len(testBots)] {
		if b.Handle != testBots[i].Handle {
			t.Fatalf("position %d: %s", i, b.Handle)
		}
	}
	if d.bots[len(d.bots)-1].Handle != "bot_extra" {
		t.Fatal("an unlisted bot is not last")
	}
	// A profile change replaces, never duplicates.
	d = d.with(newBotProfile("bot_hal", "HAL", "", user.Persona{Key: "hal"}), testBotHandles())
	if len(d.bots) != len(testBots)+1 || d.byHandle["bot_hal"].DisplayName != "HAL" {
		t.Fatalf("after a rename: %d bots", len(d.bots))
	}
}

func TestTargets(t *testing.T) {
	d := testDirectory()
	dmHal := room.DirectID("user_1", "bot_hal")
	dmPeople := room.DirectID("user_1", "user_2")
	cases := []struct {
		name string
		m    room.MessagePosted
		want string
	}{
		{"chat in a direct room with a bot", room.MessagePosted{Room: dmHal, Sender: "user_1", Kind: room.KindChat, Text: "hello"}, "bot_hal"},
		{"the direct room's bot wins over a mention", room.MessagePosted{Room: dmHal, Sender: "user_1", Kind: room.KindChat, Text: "@clippy?"}, "bot_hal"},
		{"nudge in a direct room with a bot", room.MessagePosted{Room: dmHal, Sender: "user_1", Kind: room.KindNudge}, "bot_hal"},
		{"wink in a direct room with a bot", room.MessagePosted{Room: dmHal, Sender: "user_1", Kind: room.KindWink, Wink: "frog"}, "bot_hal"},
		{"a stranger's message in that room", room.MessagePosted{Room: dmHal, Sender: "user_2", Kind: room.KindChat, Text: "hi"}, ""},
		{"mention in a direct room between people", room.MessagePosted{Room: dmPeople, Sender: "user_1", Kind: room.KindChat, Text: "@clippy hi"}, "bot_clippy"},
		{"no mention between people", room.MessagePosted{Room: dmPeople, Sender: "user_1", Kind: room.KindChat, Text: "hi"}, ""},
		{"mention in a public room", room.MessagePosted{Room: "general", Sender: "user_1", Kind: room.KindChat, Text: "@tom hey"}, "bot_tom"},
		{"no mention in a public room", room.MessagePosted{Room: "general", Sender: "user_1", Kind: room.KindChat, Text: "hello tom"}, ""},
		{"nudge in a public room", room.MessagePosted{Room: "general", Sender: "user_1", Kind: room.KindNudge}, ""},
		{"a bot's reply never triggers", room.MessagePosted{Room: "general", Sender: "bot_tom", Kind: room.KindBot, Text: "@clippy hey"}, ""},
		{"a bot's reply in its direct room", room.MessagePosted{Room: dmHal, Sender: "bot_hal", Kind: room.KindBot, Text: "Dave."}, ""},
		{"a system notice never triggers", room.MessagePosted{Room: "general", Kind: room.KindSystem, Text: "@clippy is unavailable"}, ""},
		{"a chat from a bot handle", room.MessagePosted{Room: "general", Sender: "bot_tom", Kind: room.KindChat, Text: "@clippy"}, ""},
	}
	skipped := 0
	for _, tc := range cases {
		got := ""
		if b := d.target(tc.m); b != nil {
			got = b.Handle
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		// The bus hands the orchestrator only the records it selects:
		// every target must be among them.
		typ, data, err := codec.Encode(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		sel := mayCallBot(eventstore.Record{Stream: room.Stream(tc.m.Room), Type: typ, Data: data})
		if got != "" && !sel {
			t.Errorf("%s: calls on %s but is not selected", tc.name, got)
		}
		if !sel {
			skipped++
		}
	}
	if skipped < 2 {
		t.Errorf("only %d messages not selected: the selection lets everything through", skipped)
	}
	for _, rec := range []eventstore.Record{
		{Stream: room.Stream("general"), Type: "MessagePosted", Data: []byte(`{"text":"\u0040clippy"}`)},
		{Stream: room.Stream(dmPeople), Type: "MessagePosted", Data: []byte(`{"kind":"nudge"}`)},
	} {
		if !mayCallBot(rec) {
			t.Errorf("%s %s not selected", rec.Stream, rec.Data)
		}
	}
	if mayCallBot(eventstore.Record{Stream: room.Stream("general"), Type: "ReadMarkerMoved", Data: []byte(`{"user":"a@b"}`)}) {
		t.Error("a record that is no message selected")
	}
}

func FuzzFirstMention(f *testing.F) {
	for _, s := range []string{"@clippy hi", "a@b", "@", "@@x", "hé @ñandú.", "\xff@\xfe"} {
		f.Add(s)
	}
	d := testDirectory()
	f.Fuzz(func(t *testing.T, text string) {
		word, ok := firstMention(text)
		if !ok {
			if word != "" {
				t.Fatal("a word without a mention")
			}
			return
		}
		if word == "" || !strings.Contains(text, "@"+word) || utf8.RuneCountInString(word) > maxMentionLen {
			t.Fatalf("word %q of %q", word, text)
		}
		for _, r := range word {
			if !mentionRune(r) {
				t.Fatalf("word %q has %q", word, r)
			}
		}
		d.mentioned(text) // must not panic
	})
}
