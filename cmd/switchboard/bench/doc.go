// Package bench is Switchboard's load generator and performance probes,
// run as `switchboard bench`.
//
// Scenarios:
//
//   - chat: real WebSocket clients (github.com/coder/websocket) join rooms
//     and post at a fixed total rate, open loop; every frame received is
//     checked, so the report counts losses (an acknowledged message a
//     member never received), duplicates and gaps besides latencies.
//   - idle: server memory per idle, authenticated connection.
//   - coldstart: time from process start to /readyz 200 over an empty log
//     and a 1,000,000-event log, with and without a projection snapshot,
//     and the rebuild rate.
//   - disk: raw write+fdatasync latency of the data disk.
//
// The server under test runs as a child process (this binary, re-executed
// as `switchboard bench _target`), never in the generator's process, so
// its CPU time and memory are read from /proc/<pid> alone. The same child
// can instead run Baseline, a minimal broadcast hub with no persistence,
// so every figure comes with its ratio to what the machine and the
// WebSocket library allow.
//
// The package imports the composition root (to run the child server) and
// the domain and store packages (to provision users and write large logs
// fast); only cmd/switchboard imports it.
package bench
