// Command switchboard runs the Switchboard messenger back end and its
// operator tools.
//
//	switchboard [serve] [flags]   run the server (the default)
//	switchboard events [flags]    print the event log as JSON lines (audit replay)
//	switchboard projections rebuild|verify [flags] [name…]
//	                              rebuild the read models from the log, or check them
//	switchboard bench [flags]     load generator: real WebSocket clients, with a baseline hub
//	switchboard repair [flags]    cut a damaged log at its first bad record
//
// Run a subcommand with -h for its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}

// run dispatches to a subcommand; serve is the default.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, args, stderr)
	case "events":
		return eventsCmd(ctx, args, stdout, stderr)
	case "repair":
		return repairCmd(args, stdout, stderr)
	case "projections":
		return projectionsCmd(ctx, args, stdout, stderr)
	case "bench":
		return benchCmd(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprintln(stdout, "usage: switchboard [serve|events|projections|bench|repair] [flags]; run a subcommand with -h for its flags")
		return nil
	default:
		return fmt.Errorf("unknown command %q (want serve, events, projections, bench or repair)", cmd)
	}
}
