// Package memstore is an in-memory eventstore.Store: the whole log is a
// slice behind one mutex, with a per-stream index and an ID index.
//
// It exists so that the packages above the port (commands, projections,
// adapters) can unit-test against a real, contract-conforming store without
// touching a disk. It passes the same conformance suite
// (eventstore/storetest) as the durable stores, so code that works against
// it works against them, except for what durability adds: nothing survives
// Close, and Append returns as soon as the records are in memory.
//
// It is written to be obviously correct rather than fast; do not use it in
// production.
//
// It imports the standard library, eventstore and github.com/google/uuid
// only.
package memstore
