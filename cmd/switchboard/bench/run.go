package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Report is everything one invocation measured.
type Report struct {
	Scenario string        `json:"scenario"`
	Machine  Machine       `json:"machine"`
	Notes    []string      `json:"notes"`
	Disk     *DiskResult   `json:"disk,omitempty"`
	Chat     []*ChatResult `json:"chat,omitempty"`
	Ratios   *Ratios       `json:"ratiosToBaseline,omitempty"`
	Idle     []*IdleResult `json:"idle,omitempty"`
	Cold     *ColdResult   `json:"coldStart,omitempty"`
}

// Ratios are the server's figures divided by the baseline's.
type Ratios struct {
	AckP50, AckP99              float64
	FanOutP50, FanOutP99        float64
	FanOutP999, FanOutMax       float64
	ServerCPU, ServerRSS        float64
	ConnectPerSec               float64
	IdleRSSPerConn, IdleHeapPer float64 `json:",omitempty"`
}

// Run runs the scenario o asks for and writes the report to stdout.
func Run(ctx context.Context, o Options, stdout io.Writer) error {
	o.Defaults()
	if err := o.Validate(); err != nil {
		return err
	}
	raiseNoFile()
	rep := &Report{Scenario: o.Scenario, Machine: machine()}
	rep.Notes = append(rep.Notes,
		"the load generator runs on the same machine and shares its CPUs with the server; the server under test is a separate process (this binary as `bench _target`, or `serve`), so its CPU time and memory are its own, read from /proc/<pid>")
	log := o.Stderr
	var err error
	switch o.Scenario {
	case "disk":
		rep.Disk, err = probeDisk(o.TempDir, 300)
	case "chat":
		err = runChatScenario(ctx, &o, rep, log)
	case "idle":
		err = runIdleScenario(ctx, &o, rep, log)
	case "coldstart":
		rep.Cold, err = runColdStart(ctx, &o, log)
	}
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(stdout, rep)
	return nil
}

func runChatScenario(ctx context.Context, o *Options, rep *Report, log io.Writer) error {
	var err error
	if rep.Disk, err = probeDisk(o.TempDir, 300); err != nil {
		return err
	}
	var t *target
	if o.URL != "" {
		t, err = externalTarget(ctx, o, o.Users)
	} else {
		fmt.Fprintf(log, "bench: starting the server under test with %d users\n", o.Users)
		t, err = startChild(ctx, o, "switchboard", o.Users)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(log, "bench:", t.Policy)
	rep.Notes = append(rep.Notes, t.Policy)
	res, err := runChat(ctx, o, t, log)
	t.stop()
	if err != nil {
		return err
	}
	rep.Chat = append(rep.Chat, res)
	if !o.Baseline {
		return nil
	}
	fmt.Fprintf(log, "bench: starting the baseline hub\n")
	b, err := startChild(ctx, o, "baseline", o.Users)
	if err != nil {
		return err
	}
	base, err := runChat(ctx, o, b, log)
	b.stop()
	if err != nil {
		return err
	}
	rep.Chat = append(rep.Chat, base)
	rep.Ratios = &Ratios{
		AckP50: ratio(res.Ack.P50, base.Ack.P50), AckP99: ratio(res.Ack.P99, base.Ack.P99),
		FanOutP50: ratio(res.FanOut.P50, base.FanOut.P50), FanOutP99: ratio(res.FanOut.P99, base.FanOut.P99),
		FanOutP999: ratio(res.FanOut.P999, base.FanOut.P999), FanOutMax: ratio(res.FanOut.Max, base.FanOut.Max),
		ServerCPU: ratio(res.ServerCPU, base.ServerCPU), ServerRSS: ratio(float64(res.ServerRSS), float64(base.ServerRSS)),
		ConnectPerSec: ratio(res.ConnectPerSec, base.ConnectPerSec),
	}
	return nil
}

func runIdleScenario(ctx context.Context, o *Options, rep *Report, log io.Writer) error {
	users := (o.Conns + o.ConnsPerUser - 1) / o.ConnsPerUser
	kinds := []string{"switchboard"}
	if o.Baseline {
		kinds = append(kinds, "baseline")
	}
	for _, kind := range kinds {
		fmt.Fprintf(log, "bench: starting %s with %d users\n", kind, users)
		t, err := startChild(ctx, o, kind, users)
		if err != nil {
			return err
		}
		res, err := runIdle(ctx, o, t, users, log)
		t.stop()
		if err != nil {
			return err
		}
		rep.Idle = append(rep.Idle, res)
	}
	if len(rep.Idle) == 2 {
		s, b := rep.Idle[0], rep.Idle[1]
		rep.Ratios = &Ratios{IdleRSSPerConn: ratio(s.RSSPerConn, b.RSSPerConn), IdleHeapPer: ratio(s.HeapPerConn, b.HeapPerConn),
			ConnectPerSec: ratio(s.ConnectPerSec, b.ConnectPerSec)}
	}
	return nil
}

// Exe returns the path of the running program, for Options.Exe.
func Exe() string {
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return p
}
