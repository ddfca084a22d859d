// Package web is Switchboard's browser client, embedded in the binary and
// served at "/": plain HTML, CSS and JavaScript modules with no build step
// and nothing fetched from elsewhere (the Turnstile widget excepted, and
// only when the server is configured for it).
//
// The client speaks only the public protocol (PROTOCOL.md): the HTTP API
// under /api and the WebSocket at /ws. Everything it shows is built with
// DOM calls and text nodes, never by parsing HTML, so chat text cannot
// inject markup; the pages need no inline script or style, so the server's
// Content-Security-Policy can forbid both.
//
// It may import the standard library only.
package web
