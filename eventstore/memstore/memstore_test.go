package memstore_test

import (
	"testing"

	"switchboard/eventstore"
	"switchboard/eventstore/memstore"
	"switchboard/eventstore/storetest"
)

// TestConformance runs the port's conformance suite. The store is not
// durable: Open ignores dir and every call returns a new, empty log.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Features: storetest.Features{Durable: false},
		Open: func(t *testing.T, dir string) eventstore.Store {
			return memstore.New()
		},
	})
}
