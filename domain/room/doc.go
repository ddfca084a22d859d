// Package room decides everything that happens in a room: creation,
// membership, messages (chat, nudge, wink, bot replies, system notices) and
// read markers.
//
// One stream per room, named by Stream(id). The rules are decided from the
// room's durable state only, so they hold across reconnects, restarts and
// gateway nodes:
//
//   - membership: public rooms admit anyone, private rooms whoever is
//     invited, direct rooms (DirectID) exactly their two users;
//   - messages are numbered 1, 2, 3… without gaps (Seq), independently of
//     membership events, so a client resumes from the last seq it saw;
//   - each user's recent post times are kept per kind, and a post beyond
//     Policy.ChatLimit within Policy.ChatWindow (likewise nudges and winks)
//     is refused with the time to wait;
//   - every applied command is remembered by (acting user, client command
//     id) for Policy.DedupWindow / Policy.DedupMaxPerRoom, and a resend is
//     answered with *domain.DuplicateError carrying the original outcome,
//     before any other rule is checked;
//   - a bot replies at most once to a message.
//
// The state is built for a cached aggregate on the hot path: Decide does
// not allocate beyond the events it returns, and Evolve updates the state
// in place in O(1) amortised time per event.
//
// It imports the standard library and switchboard/domain only.
package room
