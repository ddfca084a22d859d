package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
	"switchboard/projections"
)

const projectionsUsage = `usage: switchboard projections rebuild [--data DIR] [name...]
       switchboard projections verify [--data DIR]

rebuild  replays the event log from position zero into fresh projections
         (the named ones, or all: %s) and atomically replaces their
         snapshots in DIR/projections.
verify   replays the log from zero in memory and compares each projection
         with its stored snapshot plus the log after it; prints the first
         difference and exits non-zero on a mismatch or a damaged snapshot.

Both work offline and beside a running server. Without a server the log is
opened with the writer lock (so no server starts meanwhile); when a server
holds the lock, it is opened read-only and the tools work on the log up to
its head at that moment. Snapshots are replaced by atomic renames, so the
server and the tools never see a torn file. A running server keeps its own
state in memory and overwrites the snapshots at its next periodic or final
snapshot (with equal state, if it runs the same code); restart it to make it
load rebuilt ones.

flags:
`

// projectionsCmd is `switchboard projections rebuild|verify`.
func projectionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprintf(stderr, projectionsUsage, strings.Join(projections.Names(), ", "))
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return flag.ErrHelp
		}
		return errors.New("projections: want a subcommand: rebuild or verify")
	}
	sub := args[0]
	if sub != "rebuild" && sub != "verify" {
		usage()
		return fmt.Errorf("projections: unknown subcommand %q (want rebuild or verify)", sub)
	}
	fs := flag.NewFlagSet("projections "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory: the embedded store and the snapshots")
	storeURL := fs.String("store", env("SWITCHBOARD_STORE", ""), "a cluster's KurrentDB connection string: the log is read from there, the snapshots stay in --data (SWITCHBOARD_STORE)")
	fs.Usage = func() {
		usage()
		fs.PrintDefaults()
	}
	// Flags may come before or after the names.
	var names []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if sub == "verify" && len(names) > 0 {
		return fmt.Errorf("projections verify: unexpected argument %q", names[0])
	}
	for _, n := range names {
		if !slices.Contains(projections.Names(), n) {
			return fmt.Errorf("projections rebuild: unknown projection %q (want %s)", n, strings.Join(projections.Names(), ", "))
		}
	}

	var store eventstore.Store
	var err error
	if *storeURL != "" {
		store, err = openKurrentDB(ctx, *storeURL, stderr)
	} else {
		store, err = openLog(*data, stderr)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	dir := projections.SnapshotDir(*data)
	switch sub {
	case "rebuild":
		rep, err := projections.Rebuild(ctx, store, dir, names...)
		if err != nil {
			return err
		}
		rate := ""
		if s := rep.Took.Seconds(); s > 0 && rep.Position > 0 {
			rate = fmt.Sprintf(", %.0f records/s", float64(rep.Position)/s)
		}
		fmt.Fprintf(stdout, "rebuilt %s at position %d in %s%s; snapshots in %s\n",
			strings.Join(rep.Names, ", "), rep.Position, rep.Took.Round(1e6), rate, dir)
		return nil
	default:
		return projections.Verify(ctx, store, dir, stdout)
	}
}

// openLog opens the log for the tools: with the writer lock when no server
// holds it, read-only beside a running server.
func openLog(data string, stderr io.Writer) (*filestore.Store, error) {
	if _, err := os.Stat(data); err != nil {
		return nil, fmt.Errorf("projections: data directory: %w", err)
	}
	s, err := filestore.Open(data, filestore.Options{})
	if errors.Is(err, eventstore.ErrLocked) {
		fmt.Fprintln(stderr, "projections: the data directory is in use (a server is running): reading the log read-only")
		return filestore.Open(data, filestore.Options{ReadOnly: true})
	}
	return s, err
}
