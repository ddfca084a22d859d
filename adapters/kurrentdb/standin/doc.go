// Package standin is an in-process stand-in for a single KurrentDB node,
// for hermetic tests of the KurrentDB adapter: a gRPC server on a real
// 127.0.0.1 TCP listener (the client offers no dialer hook, so bufconn is
// impossible) that implements the generated StreamsServer interface shipped
// in github.com/EventStore/EventStore-Client-Go/v4/protos/streams, backed by
// the embedded event log (eventstore/filestore), so that its positions come
// from a real, durable log.
//
// It speaks what the v4.2.0 client sends for appends, stream and $all
// reads, and filtered catch-up subscriptions to $all (DEPENDENCIES.md
// §2.2–§2.4): subscription confirmation first, checkpoints for filtered
// subscriptions, a CaughtUp notice, then live events; every recorded event
// carries the "type", "content-type" and "created" metadata (without
// "created" the client calls log.Fatalf). The server enforces a keepalive
// policy that tolerates the client's 10 s pings, and URL adds
// keepAliveInterval=-1 as well. ServerFeatures, Gossip, Delete, Tombstone,
// BatchAppend, stream subscriptions, backwards $all reads and persistent
// subscriptions are not implemented (the client tolerates the missing
// ServerFeatures service on connect).
//
// Where it departs from KurrentDB, on purpose or by construction:
//   - $all positions are synthetic but gapped and irregular: the record at
//     log position p has commit = prepare = 1000 + 256p + (7919p mod 97),
//     and a synthetic system event (stream "$stats-standin", type
//     "$statsCollected") sits just before every third record and at
//     position 500, so an adapter that assumes contiguous or dense
//     positions, or forgets to skip system events, fails.
//   - Streams are those of the backing log: names must have the form
//     <category>-<id> (no "$" streams, no stream metadata).
//   - Custom metadata must be the adapter's JSON ("$correlationId",
//     "$causationId", "user", "time"); it is stored in the log's metadata
//     fields and re-encoded on reads. Anything else is refused.
//   - Idempotency follows the backing log, which is stricter than KurrentDB
//     in one way and more lenient in another: any faithful retry succeeds
//     whatever its expected revision, and an event ID already used in
//     another stream is refused (reported as a wrong expected version)
//     where KurrentDB would append it.
//   - Checkpoints are sent every window × multiplier scanned events, which
//     only approximates the server's rule; there is no FellBehind, no
//     slow-subscriber drop, no deletes, links or projections.
//   - MaxAppendSize, when set, refuses an append whose data and metadata
//     exceed it with KurrentDB's error (InvalidArgument, "Maximum Append
//     Size of N Exceeded."); zero means no limit, unlike KurrentDB's 1 MiB.
//
// It may import the standard library, uuid, gRPC, the client module's
// protos, and the eventstore port with its filestore; it is test support
// and is never linked into the server binary.
package standin
