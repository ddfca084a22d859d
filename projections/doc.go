// Package projections holds the read models of Switchboard, built only from
// the event store's ordered feed: the latest 100 messages per room
// (History), the presence view (Presence), the bot quota ledger (Quota),
// sessions (Sessions) and the directory of users, rooms, members,
// invitations and read markers (Directory). A checkpointed Runner catches
// up and then follows the log live; snapshots make start-up independent of
// the log's length; Rebuild and Verify replay the log from zero.
//
// # Contracts
//
// Projections are deterministic functions of the log. They never read the
// clock or call out, and keep nothing their snapshot does not hold, so a
// rebuild from zero gives byte-identical snapshot encodings, and a snapshot
// plus the records after it gives the state a full replay gives. (History's
// Since and Page read old messages from the store: that is a query, not
// state.) Each projection has a checkpoint, the last position it applied;
// applying is idempotent by position.
//
// Every query takes the projection's read lock and returns copies. Queries
// reflect some position at or after the last Sync that returned; use
// Runner.Sync(ctx, appendResult.Position) to read your own writes, or
// Runner.SyncHead(ctx) to read everything acknowledged before the call.
//
// # Wiring (for the gateway)
//
//	set := projections.NewSet(store)
//	r, err := projections.NewRunner(store, projections.Options{
//		SnapshotDir: projections.SnapshotDir(dataDir), Logf: log.Printf,
//	}, set.All()...)
//	r.Hub().Attach(fanOut)     // before Start: every notice, on the runner's goroutine
//	err = r.Start(ctx)         // restores snapshots, starts following
//	r.WaitReady(ctx)           // or r.Ready() for /readyz
//	r.Close()                  // final snapshot
//
// Switchboard's gateway is such a sink (cmd wires fanOut to
// ws.Gateway.Fan): no queue and no hand-off between a record's commit and
// the sockets' queues. A consumer that must not hold up the runner
// listens instead, with a buffer, per topic:
//
//	l := r.Hub().Listen(0, projections.UserTopic(me), projections.PresenceTopic())
//	l.Add(projections.RoomTopic(room)) // on join; then read set.History.Latest
//	for n := range l.C() { … }  // then l.Err(): ErrResync means re-read
//
// # Files
//
// Snapshots live in SnapshotDir(dataDir), one <name>.snap per projection
// (format in snapshot.go), replaced by atomic renames.
//
// # Imports
//
// It may import the standard library, github.com/google/uuid, domain and
// eventstore (the port only; its tests use memstore and filestore); never
// commands, adapters or cmd. Its internal/decode is the fast event decoder.
package projections
