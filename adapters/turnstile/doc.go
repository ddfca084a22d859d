// Package turnstile verifies Cloudflare Turnstile tokens on the server, the
// optional alternative to the built-in proof of work: the browser runs
// Cloudflare's widget, sends the token it gets as the `verification` field
// of login or register, and [Verifier.Verify] asks Cloudflare's siteverify
// endpoint whether it is genuine, fresh, unspent, and minted for our
// hostname and action (RELIABILITY.md §3.10).
//
// It fails closed: a login goes through only on an explicit success from
// siteverify. Every error Verify returns wraps exactly one of [ErrFailed]
// (the token is bad) or [ErrUnavailable] (siteverify could not give an
// answer); both also answer Temporary() bool, so a consumer that may not
// import this package can tell them apart through errors.As with an
// interface.
//
// CI has no internet, so the tests run against the local stand-in of
// siteverify in the fake sub-package, which other packages' tests and the
// browser tests can use too; one test talks to the real endpoint, only when
// TURNSTILE_TEST_SECRET and TURNSTILE_TEST_TOKEN are set.
//
// It may import the standard library only (it speaks siteverify with
// net/http), nothing else of the module and no other adapter.
package turnstile
