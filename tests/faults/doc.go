// Package faults holds Switchboard's fault tests (RELIABILITY.md §0): kill
// -9 under load (T1), a full disk (T4) and malformed-input floods (T11),
// against the real wiring. They are slow and need a built binary, a
// mountable tmpfs (root) for the full-disk test, and loopback source
// addresses other than 127.0.0.1, so `go test ./...` skips them; .ci/faults
// runs them with SWITCHBOARD_FAULTS=1, followed by every fuzz target (T12).
package faults
