package commands

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"switchboard/domain"
	"switchboard/domain/room"
	"switchboard/eventstore/memstore"
)

func TestSystemPrompts(t *testing.T) {
	d := testDirectory()
	seen := map[string]bool{}
	for _, tb := range testBots {
		b := d.byHandle[tb.Handle]
		p := systemPrompt(b)
		for _, want := range []string{b.DisplayName, b.Persona.Archetype, b.Persona.Style, "2005", "Napster", "Markdown", "colon"} {
			if !strings.Contains(p, want) {
				t.Errorf("%s: the prompt lacks %q", b.Handle, want)
			}
		}
		if personaNotes[b.Persona.Key] == "" {
			t.Errorf("%s: no persona notes for key %q", b.Handle, b.Persona.Key)
		}
		// Nothing left unfilled (the reference's {{name}} and {{history}}
		// reached the model).
		if strings.ContainsAny(p, "{}") || strings.Contains(p, "%!") {
			t.Errorf("%s: a placeholder is left in %q", b.Handle, p)
		}
		if seen[p] {
			t.Errorf("%s: same prompt as another bot", b.Handle)
		}
		seen[p] = true
	}
}

// The system prompt is assumed to leak (OWASP LLM07): it is built from
// the bot's public profile only. Every other input of a prompt (room ids,
// people, message texts) must stay out of it.
func TestSystemPromptHoldsNoRoomOrUserData(t *testing.T) {
	d := testDirectory()
	b := d.byHandle["bot_clippy"]
	secret := "private-room-7f3a"
	history := []room.MessagePosted{{Room: secret, Seq: 1, Sender: "user_secret", Kind: room.KindChat, Text: "the password is hunter2"}}
	trigger := room.MessagePosted{Room: secret, Seq: 2, Sender: "user_secret", Kind: room.KindChat, Text: "@clippy psst"}
	msgs := buildPrompt(b, d, history, trigger, 4000)
	if msgs[0].Role != RoleSystem || msgs[0].Content != systemPrompt(b) {
		t.Fatal("the system message is not the persona's prompt")
	}
	for _, leak := range []string{secret, "user_secret", "hunter2", "psst"} {
		if strings.Contains(msgs[0].Content, leak) {
			t.Errorf("the system prompt holds %q", leak)
		}
	}
	if strings.Contains(strings.ToLower(systemPrompt(b)), "key") && strings.Contains(systemPrompt(b), "token") {
		t.Error("the system prompt talks about keys and tokens")
	}
}

func TestBuildPrompt(t *testing.T) {
	d := testDirectory()
	b := d.byHandle["bot_hal"]
	history := []room.MessagePosted{
		{Seq: 1, Sender: "user_1", Kind: room.KindChat, Text: "hi all"},
		{Seq: 2, Sender: "bot_hal", Kind: room.KindBot, Text: "Good afternoon, Dave."},
		{Seq: 3, Sender: "bot_clippy", Kind: room.KindBot, Text: "It looks like you're greeting!"},
		{Seq: 4, Sender: "user_2", Kind: room.KindNudge},
		{Seq: 5, Sender: "user_2", Kind: room.KindWink, Wink: "dancing_pig"},
		{Seq: 6, Sender: "user_1", Kind: room.KindChat, Text: strings.Repeat("é", 1000)},
	}
	trigger := room.MessagePosted{Seq: 7, Sender: "user_1", Kind: room.KindChat, Text: "@hal open the doors"}
	msgs := buildPrompt(b, d, history, trigger, 4000)
	want := []LLMMessage{
		{RoleSystem, systemPrompt(b)},
		{RoleUser, "user_1: hi all"},
		{RoleAssistant, "Good afternoon, Dave."},
		{RoleUser, "Clippy: It looks like you're greeting!"},
		{RoleUser, "user_2: *sends a nudge*"},
		{RoleUser, "user_2: *sends a wink: dancing pig*"},
		{RoleUser, "user_1: " + strings.Repeat("é", maxHistoryMessageRunes-1) + "…"},
		{RoleUser, "user_1: @hal open the doors"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d: %+v", len(msgs), len(want), msgs)
	}
	for i := range want {
		if msgs[i] != want[i] {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, msgs[i], want[i])
		}
	}

	// The history budget drops the oldest first; the trigger always stays.
	small := buildPrompt(b, d, history, trigger, 900)
	if len(small) != 5 || small[1].Content != "user_2: *sends a nudge*" || small[4].Content != want[7].Content {
		t.Fatalf("budgeted prompt %+v", small)
	}
	if tiny := buildPrompt(b, d, history, trigger, 100); len(tiny) != 2 {
		t.Fatalf("a newest message over the budget: %+v", tiny)
	}
	if none := buildPrompt(b, d, nil, room.MessagePosted{Sender: "user_1", Kind: room.KindNudge}, 4000); len(none) != 2 ||
		none[1].Content != "user_1: *sends you a nudge, and your chat window shakes*" {
		t.Fatalf("a nudge alone: %+v", none)
	}
}

func TestReadHistoryReadsOnlyTheRoomBeforeTheTrigger(t *testing.T) {
	store := memstore.New()
	h := newHandlers(t, store, start())
	ctx := context.Background()
	r := setup(t, h, "lobby", "alice", "bob")
	other := setup(t, h, "other", "carol", "alice")
	var last Ack
	for i := 1; i <= 14; i++ {
		var err error
		last, err = h.PostChat(ctx, PostChat{Room: r, User: "alice", ClientID: fmt.Sprint("m", i), Text: fmt.Sprint("lobby ", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.PostChat(ctx, PostChat{Room: other, User: "carol", ClientID: fmt.Sprint("o", i), Text: fmt.Sprint("other ", i)}); err != nil {
			t.Fatal(err)
		}
		if i == 9 {
			if _, err := h.PostSystem(ctx, PostSystem{Room: r, Text: "notice", What: "x", Cause: SystemCommandID("n")}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.LeaveRoom(ctx, LeaveRoom{Room: r, User: "bob", ClientID: "l"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The trigger is the 14th chat; its revision is the stream's last.
	recs, _ := store.ReadStream(ctx, room.Stream(r), 1, ^uint64(0), 1)
	trigger := recs[0]
	_ = last
	got, err := readHistory(ctx, store, r, trigger.Revision, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("%d messages", len(got))
	}
	for i, m := range got {
		if want := fmt.Sprint("lobby ", i+4); m.Text != want || m.Room != r {
			t.Fatalf("message %d: %+v, want %q", i, m, want)
		}
	}
	// A short room gives what it has.
	if got, err := readHistory(ctx, store, r, 3, 10); err != nil || len(got) != 0 {
		t.Fatalf("before the first message: %v %v", got, err)
	}
}

func TestCleanBotReply(t *testing.T) {
	speakers := []string{"bot_hal", "hal", "Clippy", "bot_clippy", "HAL 9000", "user_3"}
	cases := map[string]string{
		`Clippy: "Hello!"`:                                 `Hello!`,
		`HAL 9000: I'm sorry, Dave.`:                       `I'm sorry, Dave.`,
		`hal 9000 : hmm.`:                                  `hmm.`,
		`Assistant: Clippy: "hi"`:                          `hi`,
		`"HAL 9000: quoted label"`:                         `quoted label`,
		`**Clippy:** It looks like *you're* off`:           `It looks like you're off`,
		`user_3: lol`:                                      `lol`,
		`Dave: that is not a speaker.`:                     `Dave: that is not a speaker.`,
		`Note: keep it`:                                    `Note: keep it`,
		`<b>hi</b> <3 <(")> <script>x</script>`:            `hi <3 <(")> x`,
		`<p class="x">para</p><br/>*<grin>*`:               `para<grin>`,
		"<!-- note -->ok <IMG SRC=x>":                      "ok",
		"&lt;i&gt;hey&lt;/i&gt; &amp; bye":                 "hey & bye",
		"# Title\n- one\n* two\n1. three":                  "Title\none\ntwo\nthree",
		"> quoted\n>:( angry":                              "quoted\n>:( angry",
		"see [my page](http://x.example) ![pic](http://y)": "see my page pic",
		"```go\nfmt.Println()\n```":                        "fmt.Println()",
		"use `ls` now":                                     "use ls now",
		"~~~ P L U R ~~~ love u all ~~~":                   "~~~ P L U R ~~~ love u all ~~~",
		`"hi" and "bye"`:                                   `"hi" and "bye"`,
		`'tis the season'`:                                 `'tis the season'`,
		"“smart quotes”":                                   "smart quotes",
		"  \n\n hi \n\n\n\n there  \n":                     "hi\n\nthere",
		"a\x00b\x1bc\u200bd\r\ne":                          "abcd\ne",
		"bad \xff utf8":                                    "bad  utf8",
		"   ":                                              "",
		"Clippy:":                                          "Clippy:",
		`""`:                                               `""`,
		"Bot: AI: System:   x":                             "x",
	}
	for in, want := range cases {
		if got := CleanBotReply(in, "HAL 9000", speakers, 2048); got != want {
			t.Errorf("CleanBotReply(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	long := CleanBotReply(strings.Repeat("a", 3000), "HAL 9000", nil, 2048)
	if utf8.RuneCountInString(long) != 2048 || !strings.HasSuffix(long, "…") {
		t.Fatalf("capped to %d runes", utf8.RuneCountInString(long))
	}
}

func FuzzCleanBotReply(f *testing.F) {
	for _, s := range []string{`Clippy: "hi"`, "**x**", "<b>y</b>", "\x00", "a\n\n\nb", `"'"'`, "\xff\xfe"} {
		f.Add(s)
	}
	rule := domain.TextRule{Field: "Text", MinRunes: 1, MaxRunes: 300, Multiline: true}
	f.Fuzz(func(t *testing.T, raw string) {
		out := CleanBotReply(raw, "Clippy", []string{"user_1", "bot_clippy"}, 300)
		if out == "" {
			return
		}
		// Whatever the model says, the room accepts the cleaned text.
		if _, err := rule.Clean(out); err != nil {
			t.Fatalf("CleanBotReply(%q) = %q: %v", raw, out, err)
		}
		if out != strings.TrimSpace(out) {
			t.Fatalf("untrimmed %q", out)
		}
	})
}
