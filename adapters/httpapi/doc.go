// Package httpapi is the HTTP side of Switchboard (PROTOCOL.md, "HTTP"):
// sign-up, login and logout, the REST reads (config, users, rooms, message
// history), the bot kill switch, health, readiness and metrics. It is the
// server's root handler: cmd passes the WebSocket gateway and the static
// web client in [Deps] and API routes /ws and every non-API path to them,
// so that the security headers, request ids and access logs apply to every
// response the server sends, the web client's pages included.
//
// Every JSON response is one envelope ([Envelope]); request bodies are
// decoded strictly (64 KiB, JSON only, exact field names, no duplicates,
// no trailing data, valid UTF-8); errors of the command side are mapped to
// protocol codes by one table (errors.go). Login attempts are limited per
// client address and per handle in memory (limiter.go).
//
// It may import commands, domain and eventstore; never another adapter,
// nor the projections: the read side arrives through the small [Views]
// interface, and the human verifier through [Verifier], both declared here
// and wired by cmd.
package httpapi
