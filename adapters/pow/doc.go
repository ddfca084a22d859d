// Package pow is Switchboard's built-in human verification, and the default
// one: a proof-of-work challenge in ALTCHA's format (SHA-256, signed with an
// HMAC key), so no third party sees our users and the server keeps no state
// per issued challenge.
//
// The flow: POST /api/auth/challenge returns [Verifier.Challenge]; the browser
// finds the number n in [0, maxNumber] with SHA-256(salt + n) == challenge
// and sends the solution back, base64-encoded, as the `verification` field of
// login or register; the handler passes it to [Verifier.Verify]. A solution
// is accepted once: the Verifier remembers spent challenges until they expire
// (see [Config.MaxSpent]).
//
// Verifier satisfies the consumer's verifier interface (Name and Verify).
// Every error Verify returns wraps exactly one of [ErrFailed] (the proof is
// wrong, expired or replayed) or [ErrUnavailable] (the verifier cannot take
// it now); both also answer Temporary() bool, so a consumer that may not
// import this package can tell them apart through errors.As with an
// interface.
//
// It may import the standard library and github.com/altcha-org/altcha-lib-go,
// nothing else: not the rest of the module, not another adapter.
package pow
