// Package commands is the write side of Switchboard: one file per command,
// one shared load → decide → append loop with optimistic-concurrency retry
// and an in-memory cache of aggregate state, idempotency by command id, and
// the reactors (bot orchestrator, presence and session sweeper) with the
// Watermill wiring they use.
//
// It declares the small interfaces it needs (store, clock, LLM, verifier)
// and may import domain, eventstore (the port only) and Watermill; never
// adapters or cmd.
package commands
