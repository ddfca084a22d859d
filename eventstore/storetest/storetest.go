package storetest

import (
	"context"
	"testing"
	"time"

	"switchboard/eventstore"
)

// Features are the guarantees that differ between implementations. The
// zero value describes the weakest store the port allows: an in-memory
// log that forgets everything on Close.
//
// Only add a field for a behaviour the port leaves to the implementation;
// anything the port documents is checked for every store.
type Features struct {
	// Durable: records survive Close and a reopen of the same Harness
	// location, with their positions, revisions, commit times and
	// idempotency, and Append returns only once its records would survive
	// a crash. False (the zero value) skips the reopen tests, and the
	// suite asserts nothing about what a reopened location holds.
	Durable bool
}

// Harness tells the suite how to get stores.
type Harness struct {
	// Features selects the optional checks.
	Features Features

	// Open opens a store whose data lives in dir, an empty directory
	// created for, and removed after, the calling test. Calling Open again
	// with the same dir after the previous store was closed reopens the
	// same log when Features.Durable is set; otherwise it may return a new
	// empty store. Open fails t (t.Fatal) if the store cannot be opened.
	//
	// The suite closes every store it opens; Open need not register
	// cleanup for the store (it may, for other resources, with t.Cleanup).
	// Open is called from parallel tests and must be safe for concurrent
	// use with different dirs.
	Open func(t *testing.T, dir string) eventstore.Store
}

// timeout bounds each test's waits. It is far above what a correct store
// needs (each test takes well under a second, in memory or on disk); its
// job is to turn a hang (a lost wake-up, a blocked writer) into a failure
// that names what it was waiting for, soon enough that a broken store
// fails the suite in minutes rather than at go test's own timeout.
const timeout = 10 * time.Second

// Run runs the conformance suite against the store h opens. Every test
// opens its own store in its own directory, so tests run in parallel and
// never see each other's records.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("storetest: Harness.Open is nil")
	}
	groups := []struct {
		name  string
		tests []test
	}{
		{"Append", appendTests},
		{"Expected", expectedTests},
		{"InvalidInput", invalidInputTests},
		{"Idempotency", idempotencyTests},
		{"Concurrency", concurrencyTests},
		{"Read", readTests},
		{"Subscribe", subscribeTests},
		{"Close", closeTests},
		{"Durable", durableTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					if tc.needs.Durable && !h.Features.Durable {
						t.Skip("store is not durable (Features.Durable is false)")
					}
					tc.run(t, h)
				})
			}
		})
	}
}

// test is one conformance check. needs lists the features it requires;
// it is skipped on stores that lack one.
type test struct {
	name  string
	needs Features
	run   func(t *testing.T, h Harness)
}

// open opens a store at a fresh directory and closes it when the test
// ends. It returns the directory for tests that reopen it.
func open(t *testing.T, h Harness) (eventstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	return openAt(t, h, dir), dir
}

// openAt opens the store at dir and closes it when the test ends, unless
// the test closed it first (the second Close's error is ignored: the port
// leaves a repeated Close to the implementation).
func openAt(t *testing.T, h Harness, dir string) eventstore.Store {
	t.Helper()
	s := h.Open(t, dir)
	if s == nil {
		t.Fatal("storetest: Harness.Open returned nil")
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testContext returns a context that ends when the test does or after
// timeout, whichever comes first.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}
