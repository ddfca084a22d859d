package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"switchboard/cmd/switchboard/bench"
)

const benchUsage = `usage: switchboard bench [flags]

Measures Switchboard with real WebSocket clients. Without --url it starts
the server itself, as a child process of this binary on a temporary data
directory (demo mode, no human verification, per-user rate limits and the
flood guard raised: the report says so), so the server's CPU and memory
are its own. With --baseline the same scenario then runs against a
minimal broadcast hub without persistence, and every figure gets its
ratio to it.

scenarios (--scenario):
  chat       clients join rooms and post at a fixed total rate (default)
  idle       server memory per idle connection
  coldstart  time to /readyz over an empty and a --events log, with and
             without a projection snapshot; projections rebuild speed
  disk       write 256 B + fdatasync latency of --tmp's disk

flags:
`

// benchCmd is `switchboard bench`: the load generator (package bench).
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == bench.ChildCommand {
		return bench.ServeTarget(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	var o bench.Options
	fs.StringVar(&o.Scenario, "scenario", "chat", "chat, idle, coldstart or disk")
	fs.StringVar(&o.URL, "url", "", "measure a running server (needs --verifier none --dev-no-verification) instead of starting one")
	fs.IntVar(&o.PID, "pid", 0, "process id of the --url server, for its CPU and memory")
	fs.BoolVar(&o.Baseline, "baseline", false, "also run against the in-memory broadcast hub and report ratios")
	fs.IntVar(&o.Users, "users", 2000, "clients, one user each")
	fs.IntVar(&o.Rooms, "rooms", 100, "rooms")
	fs.IntVar(&o.Members, "members", 20, "members per room")
	fs.Float64Var(&o.Rate, "rate", 1000, "total messages per second")
	fs.IntVar(&o.Size, "size", 100, "message size in bytes")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "measured duration")
	fs.DurationVar(&o.Warmup, "warmup", 5*time.Second, "warm-up before measuring, not measured")
	fs.Float64Var(&o.Mentions, "mentions", 0, "share of messages that mention a bot, 0 to 1")
	fs.StringVar(&o.MentionBot, "mention-bot", "bot_jeeves", "the bot mentioned")
	fs.IntVar(&o.Conns, "conns", 10_000, "idle: connections")
	fs.IntVar(&o.ConnsPerUser, "conns-per-user", 1, "idle: connections sharing one user")
	fs.IntVar(&o.Events, "events", 1_000_000, "coldstart: events in the large log")
	fs.BoolVar(&o.Keep, "keep", false, "coldstart: keep the data directories (the path is printed)")
	fs.IntVar(&o.ConnectParallel, "connect-parallel", 32, "concurrent handshakes and joins")
	fs.IntVar(&o.SendQueue, "send-queue", 0, "override the gateway's per-socket send queue (frames); 0: the server's default")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the sender choice")
	fs.StringVar(&o.ProfileDir, "profile", "", "directory for CPU and heap profiles of the server under test")
	fs.StringVar(&o.LogDir, "server-log", "", "directory to keep the servers' logs in (default: removed with their data)")
	fs.StringVar(&o.TempDir, "tmp", "", "directory for data directories and the disk probe (default: the system's)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	o.Exe = bench.Exe()
	o.Stderr = stderr
	err := bench.Run(ctx, o, stdout)
	if errors.Is(err, context.Canceled) {
		return errors.New("bench: interrupted")
	}
	return err
}
