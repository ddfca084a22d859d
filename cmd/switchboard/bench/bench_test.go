package bench

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/eventstore/filestore"
)

func TestSummarize(t *testing.T) {
	var xs []int64
	for i := 1; i <= 1000; i++ {
		xs = append(xs, int64(i)*int64(time.Millisecond))
	}
	l := summarize(xs)
	if l.N != 1000 || l.P50 != 500 || l.P90 != 900 || l.P99 != 990 || l.P999 != 999 || l.Max != 1000 {
		t.Fatalf("%+v", l)
	}
	if (summarize(nil) != Latency{}) {
		t.Fatal("empty")
	}
}

func TestBitset(t *testing.T) {
	var b bitset
	for _, i := range []uint64{1, 2, 3, 70, 200} {
		if b.set(i) {
			t.Fatalf("%d reported set", i)
		}
	}
	if !b.set(70) {
		t.Fatal("70 not reported as a duplicate")
	}
	if g := b.gaps(); g != 200-3-2 { // 4..69 and 71..199
		t.Fatalf("gaps = %d", g)
	}
}

func TestParseKey(t *testing.T) {
	for text, want := range map[string]int{"k12 @bot_jeeves xxx": 12, "k7": 7, "k0 x": 0, "hello": -1, "k": -1, "kx ": -1} {
		n, ok := parseKey(text)
		if (want < 0) == ok || (ok && n != want) {
			t.Errorf("parseKey(%q) = %d, %v", text, n, ok)
		}
	}
}

// TestChatAgainstBaseline runs a small chat scenario against the baseline
// hub in this process: everything sent is acknowledged and delivered to
// every member once.
func TestChatAgainstBaseline(t *testing.T) {
	srv := httptest.NewServer(NewBaseline())
	defer srv.Close()
	o := &Options{Users: 20, Rooms: 4, Members: 6, Rate: 200, Size: 50, Duration: time.Second, Warmup: 200 * time.Millisecond}
	o.Defaults()
	tg := &target{Kind: "baseline", URL: srv.URL}
	for i := range o.Users {
		tg.Tokens = append(tg.Tokens, fmt.Sprintf("u%d", i))
	}
	res, err := runChat(context.Background(), o, tg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent < 200 || res.Acked != res.Sent || res.Lost != 0 || res.Duplicates != 0 || res.Gaps != 0 || res.Delivered != res.Sent*o.Members {
		t.Fatalf("%+v", res)
	}
	if res.Ack.N == 0 || res.FanOut.N == 0 || res.FanOut.P50 <= 0 {
		t.Fatalf("no latencies: %+v %+v", res.Ack, res.FanOut)
	}
}

// TestBuildLog writes a small log of valid events.
func TestBuildLog(t *testing.T) {
	dir := t.TempDir()
	head, err := buildLog(context.Background(), dir, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if head < 5000 {
		t.Fatalf("head %d", head)
	}
	s, err := filestore.Open(dir, filestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, _ := s.Head(context.Background()); h != head {
		t.Fatalf("reopened head %d, want %d", h, head)
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{Scenario: "nope", Users: 10, Members: 20, Rate: -1, Exe: "x"}
	o.Defaults()
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"scenario", "members per room", "rate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
}

// TestProbeDisk measures both ways of appending on a real file.
func TestProbeDisk(t *testing.T) {
	d, err := probeDisk(t.TempDir(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if d.Latency.N != 20 || d.Latency.P50 <= 0 || d.CPUMicros <= 0 {
		t.Fatalf("growing: %+v, %.1f µs CPU", d.Latency, d.CPUMicros)
	}
	if p := d.Preallocated; p == nil || p.N != 20 || p.P50 <= 0 {
		t.Fatalf("preallocated: %+v", p)
	}
}
