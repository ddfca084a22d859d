package filestore

import (
	"testing"

	"switchboard/eventstore"
	"switchboard/eventstore/storetest"
)

// TestConformance runs the port's conformance suite against the embedded
// store, durable checks included. A small segment size makes the suite
// cross segment boundaries too.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Features: storetest.Features{Durable: true},
		Open: func(t *testing.T, dir string) eventstore.Store {
			s, err := Open(dir, Options{SegmentSize: 64 << 10, CacheRecords: 256})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
