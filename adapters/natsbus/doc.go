// Package natsbus carries Switchboard's bus between the nodes of a
// cluster on NATS: the reactors' events and commands on JetStream, through
// Watermill's NATS binding (github.com/ThreeDotsLabs/watermill-nats/v2),
// and the typing signals on core NATS.
//
// # The bus (PubSub)
//
// PubSub returns the commands.PubSubFactory of a cluster. Each channel of
// the bus is one JetStream stream, created or updated when the node
// starts (file storage, limits retention up to Config.MaxAge):
//
//	<Prefix>_EVENTS    subject <prefix>.events        the log, from the forwarders
//	<Prefix>_COMMANDS  subjects <prefix>.commands.>   the reactors' commands
//	<Prefix>_POISON    subject <prefix>.poison        what a handler failed on for good
//
// Every node forwards every record of the log, and every message carries
// its id as Nats-Msg-Id (the record's or the command's id), so the stream
// keeps one copy of each within Config.Duplicates: the forwarders of all
// nodes together publish each record once, and a command sent by two
// nodes (the sweeper's, which every node computes) is stored once.
//
// Each router handler (a reactor, a command handler) reads through one
// durable queue group named after it, shared by the nodes: JetStream hands
// each message to one member, so each event gets one reaction across the
// cluster, and a node that dies with a message unacknowledged has it
// delivered to another member after AckWait. The consumer allows one
// message in flight (MaxAckPending 1), so a handler sees its topic in
// order, as on one node; acks are synchronous, and a handler's retries
// and poison queue are the bus's middlewares, as on one node.
//
// Publish returns once JetStream stored the message (or recognised it as
// a duplicate): that is when the forwarder counts a record as forwarded.
//
// # Signals
//
// Signals publishes a node's typing indicators on core NATS, subject
// <prefix>.typing, and delivers everyone's, this node's included, to a
// function (the gateway's ReceiveTyping). Nothing is stored: a signal
// lost while NATS is away only leaves the indicator to the gateway's
// server-side clear.
//
// # Failures
//
// NATS unreachable at start: PubSub's factory and NewSignals fail, and
// the server does not start. NATS lost later: the clients reconnect on
// their own (forever, with backoff), and a publish that fails is retried,
// with backoff, until it succeeds or the bus closes: the forwarder then
// waits where it is (reactions pause; chat does not), and typing stays on
// the node. The log itself is not on NATS: nothing acknowledged to a user
// depends on it.
//
// It may import the standard library, Watermill and its NATS binding,
// nats.go, and the commands package (for the factory's types); never
// another adapter. Its tests run a real NATS server in the test process
// (github.com/nats-io/nats-server/v2).
package natsbus
