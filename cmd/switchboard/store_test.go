package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"switchboard/adapters/kurrentdb/standin"
	"switchboard/projections"
)

// The tools read a cluster's log from KurrentDB with --store (here the
// stand-in, a gRPC server over the same kind of log).
func TestToolsOnKurrentDB(t *testing.T) {
	dir, s := seedChat(t)
	s.Close()
	st, err := standin.Start(dir, standin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	lines := runEvents(t, "--store", st.URL(), "--type", "MessagePosted")
	if len(lines) == 0 {
		t.Fatal("events --store printed nothing")
	}
	for _, l := range lines {
		if l["type"] != "MessagePosted" {
			t.Fatalf("line %v", l)
		}
	}

	snaps := t.TempDir()
	out, errs, err := runProjections(t, "rebuild", "--data", snaps, "--store", st.URL())
	if err != nil || !strings.Contains(out, "at position 127") {
		t.Fatalf("rebuild --store: %v\n%s%s", err, out, errs)
	}
	if h, _, err := projections.ReadSnapshot(projections.SnapshotDir(snaps), projections.HistoryName); err != nil || h.Position != 127 {
		t.Fatalf("history snapshot from KurrentDB: %+v %v", h, err)
	}
	if out, _, err := runProjections(t, "verify", "--data", snaps, "--store", st.URL()); err != nil {
		t.Fatalf("verify --store: %v\n%s", err, out)
	}

	var o, e bytes.Buffer
	if err := eventsCmd(context.Background(), []string{"--store", "postgres://db"}, &o, &e); err == nil || !strings.Contains(err.Error(), "KurrentDB connection string") {
		t.Fatalf("a foreign --store: %v", err)
	}
}
