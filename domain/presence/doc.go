// Package presence decides a user's online status.
//
// One stream per user, named by Stream(user). A user has a chosen status
// (what they picked; what they return to when they connect) and an
// effective status (what they are now: the chosen one while connected,
// offline otherwise). Heartbeats are recorded at most once per
// Policy.HeartbeatInterval; the sweeper marks a user offline when no
// heartbeat was recorded for Policy.PresenceTimeout.
//
// Counting a user's open connections is the gateway's job: it sends
// Disconnect when the last one closes.
//
// It imports the standard library and switchboard/domain only.
package presence
