package ws

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestDecodeFrame(t *testing.T) {
	ok := []struct {
		in   string
		want func(frame) bool
	}{
		{`{"type":"hello","token":"abc"}`, func(f frame) bool { return f.Token == "abc" }},
		{`{"type":"hello","token":"abc","resume":{"general":5,"music":0}}`, func(f frame) bool { return f.Resume["general"] == 5 && len(f.Resume) == 2 }},
		{`{"type":"chat","id":"1","room":"general","text":"hi"}`, func(f frame) bool { return *f.Text == "hi" && f.Room == "general" }},
		{`{"type":"typing","room":"general","typing":false}`, func(f frame) bool { return f.Typing != nil && !*f.Typing }},
		{`{"type":"read","room":"general","seq":7}`, func(f frame) bool { return *f.Seq == 7 }},
		{`{"type":"presence","id":"p","status":"busy"}`, func(f frame) bool { return *f.Status == "busy" && f.DisplayName == nil }},
		{`{"type":"heartbeat"}`, func(f frame) bool { return f.Type == "heartbeat" }},
		{` {"type":"dm","id":"x","user":"bob"} `, func(f frame) bool { return f.User == "bob" }},
	}
	for _, c := range ok {
		f, err := decodeFrame([]byte(c.in))
		if err != nil || !c.want(f) {
			t.Errorf("%s: %+v %v", c.in, f, err)
		}
	}
	bad := []struct {
		in, why, id string
	}{
		{`[]`, "object", ""},
		{`{"type":"chat","id":"1","room":"g","text":"a"}{}`, "trailing", ""},
		{`{"type":"chat","id":"1","room":"g","text":"a","text":"b"}`, "duplicate", ""},
		{`{"type":"chat","id":"1","room":"g","text":"a","Text":"b"}`, "duplicate", ""},
		{`{"type":"chat","id":"1","room":"g","text":"a","extra":1}`, "no field", "1"},
		{`{"type":"chat","id":"1","room":"g"}`, "need", "1"},
		{`{"type":"chat","id":"1","room":"g","text":5}`, "wrong type", "1"},
		{`{"type":"warp","id":"9"}`, "unknown type", "9"},
		{`{"id":"9"}`, "missing type", "9"},
		{`{"type":"chat","id":"","room":"g","text":"a"}`, "id must be", ""},
		{`{"type":"chat","id":"` + strings.Repeat("x", 65) + `","room":"g","text":"a"}`, "id must be", ""},
		{`{"type":"hello","token":"t","resume":{"a":{"b":{"c":{"d":1}}}}}`, "deeper", ""},
		{`{"type":"read","room":"g","seq":-1}`, "wrong type", ""},
		{`{"type":"typing","room":"g","typing":"yes"}`, "wrong type", ""},
		{`not json`, "not JSON", ""},
	}
	for _, c := range bad {
		_, err := decodeFrame([]byte(c.in))
		var pe *payloadError
		if !errors.As(err, &pe) || !strings.Contains(pe.msg, c.why) || pe.id != c.id {
			t.Errorf("%s: %v (id %q), want %q with id %q", c.in, err, idOf(pe), c.why, c.id)
		}
	}
	if _, err := decodeFrame([]byte("{\"type\":\"chat\",\"id\":\"1\",\"room\":\"g\",\"text\":\"\xff\"}")); err != errInvalidUTF8 {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func idOf(pe *payloadError) string {
	if pe == nil {
		return ""
	}
	return pe.id
}

// FuzzDecodeFrame: the decoder never panics, and what it accepts is
// valid UTF-8 of a known type with its required fields.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","token":"abc","resume":{"general":5}}`,
		`{"type":"chat","id":"1","room":"general","text":"hi"}`,
		`{"type":"typing","room":"general","typing":true}`,
		`{"type":"presence","id":"p","status":"busy","displayName":"A","personalMessage":""}`,
		`{"type":"read","room":"g","seq":3}`,
		`{"type":"heartbeat"}`,
		`[[[[[[[[[[]]]]]]]]]]`,
		"{\"type\":\"chat\",\"text\":\"\xc3\x28\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			var pe *payloadError
			if err != errInvalidUTF8 && !errors.As(err, &pe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		spec, ok := fields[fr.Type]
		if !ok {
			t.Fatalf("accepted unknown type %q", fr.Type)
		}
		if contains(spec.allowed, "id") && (fr.ID == "" || len([]rune(fr.ID)) > MaxIDLen) {
			t.Fatalf("accepted id %q", fr.ID)
		}
		if fr.Type == typeChat && fr.Text == nil {
			t.Fatal("accepted chat without text")
		}
	})
}

// FuzzScanFlat: the fast scan of flat frames, when it answers, answers as
// the tokenizer does.
func FuzzScanFlat(f *testing.F) {
	for _, s := range []string{
		`{"type":"chat","id":"1","room":"general","text":"h\"i\\"}`,
		` {"type" : "heartbeat" , "id":1.5e3,"x":true,"y":null,"z":false} `,
		`{"type":"chat","Type":"x"}`,
		`{"type":"hello","token":"abc","resume":{"general":5}}`,
		`{}`, `[1]`, `{"a":1}{}`, `{"\u0074ype":"x"}`, `{"é":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := scanFlat(b)
		if !ok {
			return
		}
		slow, err := scanTokens(b)
		if err != nil || !maps.Equal(fast, slow) {
			t.Fatalf("%q: fast %v, tokens %v %v", b, fast, slow, err)
		}
	})
}

// BenchmarkDecodeFrame: a chat frame, as the reader of a socket decodes
// it for every post.
func BenchmarkDecodeFrame(b *testing.B) {
	in := []byte(`{"type":"chat","id":"c-123","room":"room_0042","text":"k12345 lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut lab"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFrame(in); err != nil {
			b.Fatal(err)
		}
	}
}
