// Package eventstore is the storage port of Switchboard: an append-only log
// of records grouped into streams named <category>-<id>, with optimistic
// concurrency per stream, idempotent appends by record ID, reads by stream
// and by global position, and catch-up subscriptions in commit order.
//
// The port knows nothing of chat: records carry an opaque JSON payload. It
// is the only source of truth of the system; everything else is derived
// from it.
//
// Implementations: the embedded on-disk log in eventstore/filestore (the
// default), an in-memory store for tests in eventstore/memstore, and the
// KurrentDB adapter in adapters/kurrentdb. Every implementation runs the
// conformance suite in eventstore/storetest.
//
// It imports the standard library and github.com/google/uuid only.
package eventstore
