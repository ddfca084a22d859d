package faults

import (
	"os"
	"testing"

	"switchboard/tests/internal/e2e"
)

// requireFaults skips a fault test unless SWITCHBOARD_FAULTS is set (see
// .ci/faults): they take minutes and need root for some of their set-up.
func requireFaults(t *testing.T) {
	t.Helper()
	if os.Getenv("SWITCHBOARD_FAULTS") == "" {
		t.Skip("fault test: run with SWITCHBOARD_FAULTS=1 (or .ci/faults)")
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	e2e.RemoveBinaries()
	os.Exit(code)
}
