// Package domain is the pure core of Switchboard: the deciders of every
// aggregate (in the subpackages user, session, room, presence and quota),
// the event codec (codec), and what they share: the Event interface, the
// Policy of limits, the typed rejections and the free-text rules.
//
// A decider is a pair of pure functions. Decide(state, command, policy)
// checks a command against the state folded from one stream and returns the
// events to append, or a rejection. Evolve(state, event) folds one event
// into the state. Neither does I/O, reads a clock (the command handler
// stamps At on every command), logs, or keeps global state, so replaying a
// stream always rebuilds the same state and decides the same way.
//
// Rejections are the errors declared here. They carry no wire codes: the
// adapters map them to protocol codes. Test them with errors.Is.
//
// Everything under domain imports the standard library and its own
// subpackages only.
package domain
