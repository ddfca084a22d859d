package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Options configure a bench run. Zero values take the defaults noted
// (Defaults fills them in); Validate reports every problem at once.
type Options struct {
	// Scenario is chat (the default), idle, coldstart or disk.
	Scenario string

	// URL is a running server to measure instead of a child started on a
	// temporary data directory. Its users are registered through the HTTP
	// API, so it must run with --verifier none --dev-no-verification; its
	// own rate limits apply. Empty: start a child.
	URL string
	// PID is the process of the server at URL, for its CPU time and
	// memory (/proc/<pid>). Zero: not reported.
	PID int
	// Baseline also runs the scenario against the baseline hub, in the
	// same invocation, and reports every figure's ratio to it.
	Baseline bool

	// Users is the number of clients, one user each. Zero: 2,000.
	Users int
	// Rooms and Members: room k has the members (k·Members + j) mod Users.
	// Zero: 100 and 20.
	Rooms, Members int
	// Rate is the total posts per second. Zero: 1,000.
	Rate float64
	// Size is the length of a message text in bytes. Zero: 100.
	Size int
	// Duration is the measured window; Warmup runs before it at the same
	// rate and is not measured (but is checked for losses). Zero: 30 s and
	// 5 s.
	Duration, Warmup time.Duration
	// Mentions is the share of posts that mention MentionBot (0–1).
	Mentions float64
	// MentionBot is the handle mentioned. Empty: bot_jeeves.
	MentionBot string

	// Conns is the idle scenario's number of connections, ConnsPerUser how
	// many share a user. Zero: 10,000 and 1.
	Conns, ConnsPerUser int

	// Events is the size of the cold-start log. Zero: 1,000,000.
	Events int
	// Keep leaves the cold-start data directories in place (for profiling
	// a start by hand).
	Keep bool

	// ConnectParallel bounds concurrent handshakes and joins. Zero: 32.
	ConnectParallel int
	// SendQueue overrides the gateway's per-socket send queue (frames).
	// Zero: the server's default.
	SendQueue int
	// Seed makes the choice of senders repeatable. Zero: 1.
	Seed uint64
	// ProfileDir, if set, receives a CPU and a heap profile of each child
	// server during the measured window.
	ProfileDir string
	// LogDir, if set, keeps each child server's log there as <kind>.log
	// (switchboard.log, baseline.log) instead of in its temporary data
	// directory, which is removed.
	LogDir string
	// TempDir holds the children's data directories and the disk probe's
	// file. Empty: os.TempDir().
	TempDir string
	// JSON prints the report as JSON instead of tables.
	JSON bool

	// Exe is this program, which the bench re-executes as the server under
	// test (`bench _target`, `serve`, `projections rebuild`). Required.
	Exe string
	// Stderr receives progress. Nil: discarded.
	Stderr io.Writer
}

// Defaults fills in zero fields.
func (o *Options) Defaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	if o.Scenario == "" {
		o.Scenario = "chat"
	}
	def(&o.Users, 2000)
	def(&o.Rooms, 100)
	def(&o.Members, 20)
	def(&o.Size, 100)
	def(&o.Conns, 10_000)
	def(&o.ConnsPerUser, 1)
	def(&o.Events, 1_000_000)
	def(&o.ConnectParallel, 32)
	if o.Rate == 0 {
		o.Rate = 1000
	}
	if o.Duration == 0 {
		o.Duration = 30 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 5 * time.Second
	}
	if o.MentionBot == "" {
		o.MentionBot = "bot_jeeves"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
}

// Validate reports every problem of o at once.
func (o *Options) Validate() error {
	var errs []error
	bad := func(f string, args ...any) { errs = append(errs, fmt.Errorf("bench: "+f, args...)) }
	switch o.Scenario {
	case "chat", "idle", "coldstart", "disk":
	default:
		bad("unknown scenario %q (want chat, idle, coldstart or disk)", o.Scenario)
	}
	if o.Users < 1 || o.Rooms < 1 || o.Members < 1 {
		bad("users, rooms and members must be positive")
	}
	if o.Members > o.Users {
		bad("members per room (%d) exceed the users (%d)", o.Members, o.Users)
	}
	if o.Rate <= 0 || o.Rate > 1e6 {
		bad("rate must be in (0, 1e6] messages per second")
	}
	if o.Size < 1 || o.Size > 2000 {
		bad("message size must be 1 to 2000 bytes (the protocol allows 2048 characters)")
	}
	if o.Duration <= 0 || o.Duration > time.Hour || o.Warmup < 0 || o.Warmup > 10*time.Minute {
		bad("duration must be in (0, 1h] and warm-up in [0, 10m]")
	}
	if o.Mentions < 0 || o.Mentions > 1 {
		bad("the mention share must be between 0 and 1")
	}
	if o.Conns < 1 || o.ConnsPerUser < 1 || o.Conns > 1_000_000 {
		bad("conns must be 1 to 1,000,000 and conns per user positive")
	}
	if o.Events < 1 || o.Events > 100_000_000 {
		bad("events must be 1 to 100,000,000")
	}
	if o.ConnectParallel < 1 || o.ConnectParallel > 10_000 {
		bad("connect parallelism must be 1 to 10,000")
	}
	if o.URL != "" && o.Scenario != "chat" {
		bad("--url works with the chat scenario only (the others start their own servers)")
	}
	if o.Exe == "" && (o.URL == "" || o.Baseline) && o.Scenario != "disk" {
		bad("the path of the switchboard executable is required")
	}
	return errors.Join(errs...)
}
