// Package fake is a local stand-in of Cloudflare Turnstile's siteverify
// endpoint, faithful to its documented contract (RELIABILITY.md §3.10), for
// tests that cannot reach the internet: package turnstile's own tests,
// other packages' tests, and the browser tests, which point the server's
// verify URL at it.
//
// A [Server] is an http.Handler; serve it with net/http/httptest. Tokens it
// issues ([Server.IssueToken]) are valid for 300 s on an injectable clock
// and single-use; a request repeating an idempotency_key gets the answer
// the first one got; Cloudflare's dummy secrets and dummy token behave as
// documented; and faults ([Fault]) make it slow, fail with 500, answer
// garbage or cut the connection, before or after spending the token, for
// the fail-closed tests.
//
// It may import the standard library only: not package turnstile, whose
// tests use it, nor anything else of the module.
package fake
