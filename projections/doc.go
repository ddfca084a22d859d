// Package projections holds the read models of Switchboard, built only from
// the event store's ordered feed: the latest 100 messages per room, the
// presence view, the bot quota ledger, sessions and the directory. A
// checkpointed runner catches up and then follows live; snapshots make
// start-up independent of the log's length; rebuild and verify replay the
// log from zero.
//
// It may import domain and eventstore (the port only); never commands,
// adapters or cmd.
package projections
