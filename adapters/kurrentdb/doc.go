// Package kurrentdb is the eventstore port kept in KurrentDB (formerly
// EventStoreDB), for deployments that outgrow the embedded log: a Store
// opened from a connection string (esdb://host:2113?tls=false, or the
// kurrentdb:// scheme), on the official Go client
// (github.com/EventStore/EventStore-Client-Go/v4, v4.2.0).
//
// # Mapping
//
// A port stream is a KurrentDB stream of the same name (after
// Options.StreamPrefix), a record an event: its ID, type and JSON data
// as they are, its Metadata as the event's custom metadata, JSON with
// KurrentDB's keys for correlation and causation:
// {"$correlationId", "$causationId", "user", "time"}. Revisions are the
// stream revisions; Committed is the server's "created" time (100 ns
// precision). Append maps Expected one to one: Exact(n) →
// StreamRevision{n}, NoStream, StreamExists, Any.
//
// # Positions
//
// The port numbers records 1, 2, 3… in commit order; KurrentDB's $all
// positions are byte offsets, with gaps, and $all also holds KurrentDB's
// own events. The adapter keeps a position map: record n is the n-th
// event of $all that belongs to the store (a stream with the prefix, or
// any non-$ stream without one, and a type not starting with $). A log
// follower (one filtered catch-up subscription to $all per Store) builds
// it when the store opens and keeps it current; ReadAll, ReadStream and
// Subscribe translate through it, and Append returns once the map holds
// its records, so a process reads its own writes at once. The numbering
// depends only on the order of $all, so every process following the
// database, and every restart, numbers alike. That holds as long as no
// record of the store leaves $all: never delete, truncate ($tb), cap
// ($maxCount, $maxAge) or scavenge the store's streams; a gap in a
// stream's revisions stops the store with ErrCorrupt rather than shift
// positions. The map costs about 80 bytes of memory per record and a
// read of the store's part of $all at every Open.
//
// # Reads
//
// The follower also keeps the newest records (Options.CacheRecords), so
// reads of recent records, such as a command handler reloading a stream,
// are served from memory, and keep working while the server is down;
// older ones are read from the server. Reads reflect this process's view
// of the log: every append this store acknowledged at once, and another
// process's records once the follower has seen them, normally within
// milliseconds (Head, ReadAll and Subscribe, and stream reads served from
// memory). A refusal for a wrong expected version waits briefly for the
// follower to reach the revision the server reported, so a reload after
// it reads that revision.
//
// # Idempotency
//
// KurrentDB deduplicates by event ID within a stream only, guarantees it
// only for exact expected revisions (with Any it is best effort), and
// reports a partial overlap as a wrong expected version. The port asks
// for more: a retry returns the original result whatever its condition,
// and an ID reused anywhere else is ErrIDConflict. The adapter checks
// every append against the map's ID index first, and serialises appends
// to a stream within the process, so within one process the port's rules
// hold exactly. Between processes, a race of two copies of one append is
// settled by KurrentDB's rules: exact revisions keep it idempotent, Any
// may (rarely) write a duplicate. Append with Exact revisions
// (RELIABILITY.md §1.9).
//
// # Failures
//
// Bad input is refused before any network call, by
// eventstore.ValidateAppend, and types starting with "$" (reserved by
// KurrentDB) with ErrInvalidRecord. A failed condition is a
// *eventstore.WrongExpectedVersionError with the stream's actual
// revision. A server that cannot be reached, or does not answer within
// Options.Timeout, gives errors wrapping eventstore.ErrUnavailable; after
// one, calls fail fast until a backoff has passed (a circuit breaker),
// while the follower and the subscriptions reconnect on their own, with
// backoff, from the last event they saw. An append larger than the
// server's MaxAppendSize (1 MiB by default, which a single record of
// eventstore.MaxRecordSize exceeds) is eventstore.ErrRecordTooLarge.
// Health reports the connection for readiness checks. The v4.2.0 client
// can keep a call blocked for good once its own reconnection fails; the
// adapter answers its caller regardless (ctx, Timeout), replaces a client
// that died, lets one call at a time into a client while the server is
// failing, and Close waits at most 5 s for calls still inside it before
// leaving that connection open rather than risk a panic in the client.
//
// It may import the standard library, github.com/google/uuid, the client
// module (github.com/EventStore/EventStore-Client-Go/v4/esdb), the gRPC
// status and codes packages that the client's errors carry, and the
// eventstore port; never another adapter. Its tests also import the
// stand-in (over the embedded log) and the conformance suite.
//
// # Tests
//
// CI runs the port's conformance suite (eventstore/storetest) against an
// in-process stand-in for KurrentDB (package standin: the client's own
// generated gRPC server interfaces over the embedded log), not against a
// real KurrentDB; the stand-in's departures from the server are listed in
// its documentation. The same suite runs against a real server when
// KURRENTDB_URL names one, e.g.
//
//	KURRENTDB_URL='esdb://localhost:2113?tls=false' go test ./adapters/kurrentdb/
//
// with the server started with KURRENTDB_MAX_APPEND_SIZE of at least
// 2097152 (the suite appends a record of eventstore.MaxRecordSize) and
// version 23.10 or later (the follower waits for the CaughtUp notice).
package kurrentdb
