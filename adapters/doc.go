// Package adapters groups everything that talks to another process or a
// person, one package each: the WebSocket gateway, the HTTP API, the
// embedded browser client, the Ollama client, the KurrentDB store, human
// verification, and the Watermill pub/sub backends.
//
// Adapters may import commands, projections, domain, eventstore and their
// third-party clients, and never import each other: cmd wires them.
package adapters
