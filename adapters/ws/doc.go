// Package ws is the WebSocket gateway of Switchboard (PROTOCOL.md): one
// socket per browser tab carrying every room of its user, built on
// github.com/coder/websocket. It decodes client frames strictly, turns them
// into commands, and fans out what the projections announce to the sockets
// that may see it, through bounded per-socket queues: a client that cannot
// keep up is cut off (4008) rather than slowing anyone else.
//
// It may import commands, projections, domain and eventstore, and
// coder/websocket; never another adapter.
package ws
