package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"switchboard/adapters/kurrentdb"
	"switchboard/eventstore"
)

// isKurrentDB tells a KurrentDB connection string from an empty --store.
func isKurrentDB(store string) bool {
	for _, scheme := range []string{"esdb://", "esdb+discover://", "kurrentdb://", "kurrentdb+discover://"} {
		if strings.HasPrefix(store, scheme) {
			return true
		}
	}
	return false
}

// openKurrentDB opens a cluster's log for the tools (events, projections).
// The adapter only logs trouble, to stderr.
func openKurrentDB(ctx context.Context, store string, stderr io.Writer) (eventstore.Store, error) {
	if !isKurrentDB(store) {
		return nil, fmt.Errorf("--store %q: want a KurrentDB connection string (esdb://…, kurrentdb://…), or no --store for the embedded log", store)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return kurrentdb.Open(ctx, store, kurrentdb.Options{Logger: log})
}
