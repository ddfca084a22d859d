package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/domain"
	"switchboard/domain/codec"
	"switchboard/domain/presence"
	"switchboard/domain/room"
	"switchboard/domain/user"
	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
	"switchboard/projections"
)

// seedChat writes a small chat log and leaves the store open for writing,
// as a running server would.
func seedChat(t *testing.T) (string, *filestore.Store) {
	t.Helper()
	dir := t.TempDir()
	s, err := filestore.Open(dir, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	add := func(stream string, evs ...domain.Event) {
		var ps []eventstore.Proposed
		for _, e := range evs {
			typ, data, err := codec.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, eventstore.Proposed{ID: uuid.New(), Type: typ, Data: data})
		}
		if _, err := s.Append(context.Background(), stream, eventstore.Any, ps); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"alice", "bob"} {
		add(user.Stream(u), user.UserRegistered{Handle: u, DisplayName: strings.ToUpper(u), Demo: true, At: at})
		add(presence.Stream(u), presence.PresenceChanged{User: u, Status: presence.Online, Chosen: presence.Online, Reason: presence.ReasonConnected, At: at})
	}
	add(room.Stream("general"),
		room.RoomCreated{Room: "general", Name: "General", Visibility: room.Public, By: "alice", At: at},
		room.MemberJoined{Room: "general", User: "alice", At: at},
		room.MemberJoined{Room: "general", User: "bob", At: at})
	for i := 1; i <= 120; i++ {
		add(room.Stream("general"), room.MessagePosted{Room: "general", Seq: uint64(i), Sender: "alice", Kind: room.KindChat, Text: fmt.Sprint("hello ", i), At: at})
	}
	return dir, s
}

func runProjections(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := projectionsCmd(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestProjectionsRebuildVerify(t *testing.T) {
	t.Parallel()
	dir, _ := seedChat(t) // the "server" keeps the writer lock

	out, errs, err := runProjections(t, "rebuild", "--data", dir)
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, errs)
	}
	if !strings.Contains(errs, "read-only") || !strings.Contains(out, "at position 127") {
		t.Errorf("rebuild said:\n%s%s", out, errs)
	}
	for _, name := range projections.Names() {
		if h, _, err := projections.ReadSnapshot(projections.SnapshotDir(dir), name); err != nil || h.Position != 127 {
			t.Errorf("%s snapshot: %+v %v", name, h, err)
		}
	}
	out, errs, err = runProjections(t, "verify", "--data", dir)
	if err != nil || strings.Count(out, ": ok (") != 5 {
		t.Fatalf("verify: %v\n%s%s", err, out, errs)
	}

	// A damaged snapshot fails verify.
	path := projections.SnapshotPath(projections.SnapshotDir(dir), projections.HistoryName)
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	os.WriteFile(path, b, 0o644)
	out, _, err = runProjections(t, "verify", "--data", dir)
	if !errors.Is(err, projections.ErrMismatch) || !strings.Contains(out, "history: FAILED") {
		t.Errorf("verify of a damaged snapshot: %v\n%s", err, out)
	}
	// Rebuilding that one projection repairs it (names after the flags).
	if _, errs, err := runProjections(t, "rebuild", "history", "--data", dir); err != nil {
		t.Fatalf("rebuild history: %v\n%s", err, errs)
	}
	if out, _, err := runProjections(t, "verify", "--data", dir); err != nil {
		t.Errorf("verify after rebuild: %v\n%s", err, out)
	}
}

func TestProjectionsOffline(t *testing.T) {
	t.Parallel()
	dir, s := seedChat(t)
	s.Close()
	out, errs, err := runProjections(t, "rebuild", "--data", dir, "presence", "directory")
	if err != nil || strings.Contains(errs, "read-only") || !strings.Contains(out, "rebuilt presence, directory") {
		t.Fatalf("offline rebuild: %v\n%s%s", err, out, errs)
	}
	out, _, err = runProjections(t, "verify", "--data", dir)
	if err != nil || !strings.Contains(out, "history: no snapshot") {
		t.Errorf("verify: %v\n%s", err, out)
	}
}

func TestProjectionsUsage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "want a subcommand"},
		{[]string{"compact"}, "unknown subcommand"},
		{[]string{"rebuild", "--data", t.TempDir(), "histori"}, `unknown projection "histori"`},
		{[]string{"verify", "extra"}, "unexpected argument"},
		{[]string{"verify", "--data", filepath.Join(t.TempDir(), "missing")}, "data directory"},
	} {
		if _, _, err := runProjections(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	if _, errs, err := runProjections(t, "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errs, "usage: switchboard projections") {
		t.Errorf("-h: %v\n%s", err, errs)
	}
}
