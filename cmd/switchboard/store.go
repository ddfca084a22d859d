package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"switchboard/adapters/kurrentdb"
	"switchboard/cmd/switchboard/app"
	"switchboard/eventstore"
)

// openKurrentDB opens a cluster's log for the tools (events, projections).
// The adapter only logs trouble, to stderr.
func openKurrentDB(ctx context.Context, store string, stderr io.Writer) (eventstore.Store, error) {
	if !app.IsKurrentDB(store) {
		return nil, fmt.Errorf("--store %q: want a KurrentDB connection string (esdb://…, kurrentdb://…), or no --store for the embedded log", store)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return kurrentdb.Open(ctx, store, kurrentdb.Options{Logger: log})
}
