// Package quota decides the daily budget of bot replies and the bot kill
// switch.
//
// The budget of one UTC day lives in one stream, Stream(Day(t)), holding
// the per-user counts and the global count together, so that one append
// checks both limits atomically (the reference counted in two racy KV keys).
// A bot reply first reserves its place (Reserve), then is charged with the
// tokens it really used (Charge), or released without cost when the backend
// failed or the reply was not posted (Release). Outstanding reservations
// count against the limits, so concurrent replies cannot overspend.
//
// The kill switch lives in its own stream, SwitchStream(), with its own
// tiny decider: SwitchState, DecideSwitch, EvolveSwitch.
//
// It imports the standard library and switchboard/domain only.
package quota
