// Package storetest is the conformance suite of the eventstore port: one
// set of tests that every eventstore.Store implementation runs, so that
// the in-memory store used by unit tests, the embedded on-disk store and
// the KurrentDB adapter keep the same contract (RELIABILITY.md §1.9).
//
// An implementation calls Run from its own tests with a Harness that opens
// stores and a Features value that says which optional guarantees it
// makes; tests for guarantees it does not make are skipped, never weakened.
//
// The suite checks observable behaviour only, through the Store interface:
// it never looks at files, goroutines or internals. It synchronises on
// results, channels and subscriptions, never on sleeps, and bounds every
// wait with a deadline so a broken store fails instead of hanging.
//
// It imports the standard library, eventstore and github.com/google/uuid
// only; in particular it must not import any implementation.
package storetest
