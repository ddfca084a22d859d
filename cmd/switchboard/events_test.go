package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
)

// seedLog writes a small log and leaves the store open for writing, as a
// running server would.
func seedLog(t *testing.T) (string, *filestore.Store) {
	t.Helper()
	dir := t.TempDir()
	s, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	add := func(stream, typ, data, user string) {
		_, err := s.Append(ctx, stream, eventstore.Any, []eventstore.Proposed{{
			ID: uuid.New(), Type: typ, Data: json.RawMessage(data),
			Metadata: eventstore.Metadata{User: user, CorrelationID: uuid.New(), Time: time.Now()},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	add("user-alice", "UserRegistered", `{"handle":"alice","passwordHash":"$argon2id$secret"}`, "alice")
	add("session-1", "SessionStarted", `{"user":"alice","tokenHash":"abcdef","nested":{"tokenHash":"x"}}`, "alice")
	add("room-general", "MessagePosted", `{"seq":1,"text":"hello"}`, "alice")
	add("room-music", "MessagePosted", `{"seq":1,"text":"tunes"}`, "bob")
	add("room-general", "MessagePosted", `{"seq":2,"text":"again"}`, "bob")
	return dir, s
}

func runEvents(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	var out, errb bytes.Buffer
	if err := eventsCmd(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("events %v: %v (%s)", args, err, errb.String())
	}
	var lines []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

func positions(lines []map[string]any) []int {
	var p []int
	for _, l := range lines {
		p = append(p, int(l["position"].(float64)))
	}
	return p
}

func TestEventsFilters(t *testing.T) {
	dir, _ := seedLog(t) // the writer stays open: events reads beside it
	cases := []struct {
		name string
		args []string
		want []int
	}{
		{"all", nil, []int{1, 2, 3, 4, 5}},
		{"stream", []string{"--stream", "room-general"}, []int{3, 5}},
		{"category", []string{"--category", "room"}, []int{3, 4, 5}},
		{"type", []string{"--type", "UserRegistered,SessionStarted"}, []int{1, 2}},
		{"from-to", []string{"--from", "2", "--to", "4"}, []int{2, 3, 4}},
		{"since-future", []string{"--since", time.Now().Add(time.Hour).Format(time.RFC3339)}, nil},
		{"until-future", []string{"--until", time.Now().Add(time.Hour).Format(time.RFC3339)}, []int{1, 2, 3, 4, 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := positions(runEvents(t, append([]string{"--data", dir}, c.args...)...))
			if !equalInts(got, c.want) {
				t.Fatalf("positions %v, want %v", got, c.want)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEventsLineAndRedaction(t *testing.T) {
	dir, _ := seedLog(t)
	lines := runEvents(t, "--data", dir, "--to", "2")
	first := lines[0]
	for _, k := range []string{"position", "stream", "revision", "type", "time", "id", "data", "metadata"} {
		if _, ok := first[k]; !ok {
			t.Fatalf("line lacks %q: %v", k, first)
		}
	}
	if u := first["metadata"].(map[string]any)["user"]; u != "alice" {
		t.Fatalf("metadata user %v", u)
	}
	data := first["data"].(map[string]any)
	if data["passwordHash"] != redacted || data["handle"] != "alice" {
		t.Fatalf("password hash not redacted: %v", data)
	}
	sess := lines[1]["data"].(map[string]any)
	if sess["tokenHash"] != redacted || sess["nested"].(map[string]any)["tokenHash"] != redacted {
		t.Fatalf("token hashes not redacted: %v", sess)
	}
	shown := runEvents(t, "--data", dir, "--to", "1", "--show-secrets")
	if shown[0]["data"].(map[string]any)["passwordHash"] != "$argon2id$secret" {
		t.Fatalf("--show-secrets did not show the hash: %v", shown[0])
	}
}

func TestEventsBadFlags(t *testing.T) {
	dir, _ := seedLog(t)
	var out, errb bytes.Buffer
	err := eventsCmd(context.Background(), []string{"--data", dir, "--since", "yesterday", "--until", "nope", "--from", "5", "--to", "2", "--stream", "bad"}, &out, &errb)
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"--since", "--until", "--to 2 is before --from 5", "--stream"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Fatalf("printed %q on bad flags", out.String())
	}
}

// TestEventsFollow tails the log while the writer appends.
func TestEventsFollow(t *testing.T) {
	dir, s := seedLog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- eventsCmd(ctx, []string{"--data", dir, "--follow", "--from", "5"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	next := func() map[string]any {
		if !sc.Scan() {
			t.Fatalf("follow ended: %v", sc.Err())
		}
		var m map[string]any
		json.Unmarshal(sc.Bytes(), &m)
		return m
	}
	if p := next()["position"]; p != float64(5) {
		t.Fatalf("first followed position %v", p)
	}
	if _, err := s.Append(ctx, "room-general", eventstore.Any, []eventstore.Proposed{{ID: uuid.New(), Type: "MessagePosted", Data: json.RawMessage(`{"seq":3}`)}}); err != nil {
		t.Fatal(err)
	}
	if p := next()["position"]; p != float64(6) {
		t.Fatalf("followed position %v, want 6", p)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow returned %v after cancel", err)
	}
}
