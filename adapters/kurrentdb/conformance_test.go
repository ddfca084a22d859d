package kurrentdb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"switchboard/adapters/kurrentdb"
	"switchboard/adapters/kurrentdb/standin"
	"switchboard/eventstore"
	"switchboard/eventstore/storetest"
)

// TestConformance runs the port's conformance suite, durable checks
// included, against the in-process stand-in: each store gets its own
// stand-in over a log in the test's directory, and a reopen restarts the
// stand-in from that log on a new port, so the durable checks see the
// adapter rebuild its position map and ID index from the server alone.
//
// The store's record cache answers most of the suite's reads from memory;
// TestServerReads checks that reads from the server give the same.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	servers := make(map[string]*standin.Server)
	storetest.Run(t, storetest.Harness{
		Features: storetest.Features{Durable: true},
		Open: func(t *testing.T, dir string) eventstore.Store {
			mu.Lock()
			defer mu.Unlock()
			if old := servers[dir]; old != nil {
				if err := old.Close(); err != nil {
					t.Fatalf("stopping the stand-in: %v", err)
				}
			}
			srv, err := standin.Start(dir, standin.Options{SegmentSize: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			servers[dir] = srv
			t.Cleanup(func() { _ = srv.Close() })
			return open(t, srv.URL(), kurrentdb.Options{})
		},
	})
}

// TestConformanceKurrentDB runs the suite against the real server that
// KURRENTDB_URL names. Every store gets its own stream prefix (fixed per
// test directory, so a reopen finds the same log), so the tests share the
// database without seeing each other, and runs do not collide. The server
// must accept the suite's largest append (KURRENTDB_MAX_APPEND_SIZE of at
// least 2097152).
//
//	KURRENTDB_URL='esdb://localhost:2113?tls=false' go test ./adapters/kurrentdb/ -run KurrentDB -v
func TestConformanceKurrentDB(t *testing.T) {
	url := os.Getenv("KURRENTDB_URL")
	if url == "" {
		t.Skip("KURRENTDB_URL is not set: skipping the suite against a real KurrentDB (CI runs it against the stand-in)")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	storetest.Run(t, storetest.Harness{
		Features: storetest.Features{Durable: true},
		Open: func(t *testing.T, dir string) eventstore.Store {
			h := fnv.New64a()
			h.Write([]byte(dir))
			prefix := "sbtest_" + run + "_" + strconv.FormatUint(h.Sum64(), 36) + "."
			return open(t, url, kurrentdb.Options{StreamPrefix: prefix})
		},
	})
}

func open(t *testing.T, url string, opts kurrentdb.Options) *kurrentdb.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := kurrentdb.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}
