// Package tests holds black-box tests of the whole system: the import rules
// of the architecture, and (as the system grows) real servers with real
// WebSocket clients, a real browser, crash and load tests.
package tests
