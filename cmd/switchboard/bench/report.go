package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// printReport writes the report as plain-text tables.
func printReport(w io.Writer, r *Report) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %d MiB RAM, Linux %s, %s, open files %d, ephemeral ports %d, load at start %s\n",
		m.CPUs, m.CPUModel, m.MemTotal>>20, m.Kernel, m.GoVersion, m.NoFile, m.PortRange, m.LoadAvg)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if d := r.Disk; d != nil {
		fmt.Fprintf(w, "\ndisk (%s): %d × write 256 B + fdatasync: p50 %.3f ms, p99 %.3f ms, max %.3f ms, CPU %.0f µs each (file growing)\n",
			d.Dir, d.Writes, d.Latency.P50, d.Latency.P99, d.Latency.Max, d.CPUMicros)
		if p := d.Preallocated; p != nil {
			fmt.Fprintf(w, "disk (%s): the same into preallocated space: p50 %.3f ms, p99 %.3f ms, max %.3f ms, CPU %.0f µs each\n",
				d.Dir, p.P50, p.P99, p.Max, d.PreallocatedCPUMicros)
		}
	}
	if len(r.Chat) > 0 {
		printChat(w, r.Chat, r.Ratios)
	}
	if len(r.Idle) > 0 {
		printIdle(w, r.Idle, r.Ratios)
	}
	if c := r.Cold; c != nil {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "\ncold start (`switchboard serve`, process start to first /readyz 200; 3 runs each)\t\n")
		fmt.Fprintf(tw, "empty log\t%s ms\t\n", floats(c.EmptyMs))
		fmt.Fprintf(tw, "%d-event log (%d MiB, built in %.1f s), no snapshot\t%s ms\tRSS %d MiB\n", c.Head, c.LogBytes>>20, c.BuildSeconds, floats(c.NoSnapshotMs), c.ServeRSSNoSnap>>20)
		fmt.Fprintf(tw, "same log, with the snapshot written at shutdown (%d KiB)\t%s ms\tRSS %d MiB\n", c.SnapshotBytes>>10, floats(c.SnapshotMs), c.ServeRSSSnap>>20)
		fmt.Fprintf(tw, "`projections rebuild`\t%.2f s\t%.0f events/s\n", c.RebuildSeconds, c.RebuildPerSec)
		fmt.Fprintf(tw, "rebuild says\t%s\t\n", c.RebuildOutput)
		tw.Flush()
	}
}

func floats(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, " / ") + fmt.Sprintf(" (median %.0f)", median(xs))
}

func printChat(w io.Writer, rs []*ChatResult, q *Ratios) {
	a := rs[0]
	fmt.Fprintf(w, "\nchat: %d clients, %d rooms × %d members, %.0f msg/s of %d B, %.0f%% mention @bot, %s measured after %s warm-up\n",
		a.Users, a.Rooms, a.Members, a.Rate, a.Size, a.MentionShare*100, a.Duration, a.Warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "\t"
	for _, r := range rs {
		head += r.Target + "\t"
	}
	if q != nil {
		head += "ratio\t"
	}
	fmt.Fprintln(tw, head)
	row := func(name string, f func(*ChatResult) string, ratio float64) {
		line := name + "\t"
		for _, r := range rs {
			line += f(r) + "\t"
		}
		if q != nil {
			if ratio != 0 {
				line += fmt.Sprintf("%.2f×", ratio)
			}
			line += "\t"
		}
		fmt.Fprintln(tw, line)
	}
	num := func(f func(*ChatResult) int) func(*ChatResult) string {
		return func(r *ChatResult) string { return fmt.Sprint(f(r)) }
	}
	lat := func(f func(*ChatResult) Latency) func(*ChatResult) string {
		return func(r *ChatResult) string {
			l := f(r)
			return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f / %.1f", l.P50, l.P90, l.P99, l.P999, l.Max)
		}
	}
	var qq Ratios
	if q != nil {
		qq = *q
	}
	row("connections/s (dial to welcome)", func(r *ChatResult) string { return fmt.Sprintf("%.0f", r.ConnectPerSec) }, qq.ConnectPerSec)
	row("connect p50/p99 ms", func(r *ChatResult) string { return fmt.Sprintf("%.1f / %.1f", r.Connect.P50, r.Connect.P99) }, 0)
	row("room set-up s", func(r *ChatResult) string { return fmt.Sprintf("%.1f", r.JoinSeconds) }, 0)
	row("sent", num(func(r *ChatResult) int { return r.Sent }), 0)
	row("acked", num(func(r *ChatResult) int { return r.Acked }), 0)
	row("refused (error frames)", func(r *ChatResult) string { return refused(r.Refused) }, 0)
	row("unanswered", num(func(r *ChatResult) int { return r.Unanswered }), 0)
	row("deliveries expected", num(func(r *ChatResult) int { return r.Expected }), 0)
	row("delivered", num(func(r *ChatResult) int { return r.Delivered }), 0)
	row("LOST (acked, never received)", func(r *ChatResult) string { return fmt.Sprintf("%d (%d msgs)", r.Lost, r.LostMsgs) }, 0)
	row("DUPLICATES", num(func(r *ChatResult) int { return r.Duplicates }), 0)
	row("seq gaps", num(func(r *ChatResult) int { return r.Gaps }), 0)
	row("disconnects", func(r *ChatResult) string { return fmt.Sprintf("%d %s", r.Disconnects, r.DisconnectWhy) }, 0)
	row("other messages (bots, system)", num(func(r *ChatResult) int { return r.Other }), 0)
	row("generator dropped", num(func(r *ChatResult) int { return r.GenDropped }), 0)
	row("ack ms p50/p90/p99/p99.9/max", lat(func(r *ChatResult) Latency { return r.Ack }), qq.AckP99)
	row("fan-out ms p50/p90/p99/p99.9/max", lat(func(r *ChatResult) Latency { return r.FanOut }), qq.FanOutP99)
	row("fan-out to last receiver ms", lat(func(r *ChatResult) Latency { return r.FanOutLast }), 0)
	row("server: chat command ms p50/p99 ≤", func(r *ChatResult) string { return srvLat(r.ServerCommand) }, 0)
	row("server: store append ms p50/p99 ≤", func(r *ChatResult) string { return srvLat(r.ServerAppend) }, 0)
	row("generator lag ms", lat(func(r *ChatResult) Latency { return r.SchedLag }), 0)
	row("acked msg/s (window)", func(r *ChatResult) string { return fmt.Sprintf("%.0f", r.MsgsPerSec) }, 0)
	row("deliveries/s (window)", func(r *ChatResult) string { return fmt.Sprintf("%.0f", r.DeliveriesPerSec) }, 0)
	row("server CPU (cores)", func(r *ChatResult) string { return fmt.Sprintf("%.2f", r.ServerCPU) }, qq.ServerCPU)
	row("generator CPU (cores)", func(r *ChatResult) string { return fmt.Sprintf("%.2f", r.GenCPU) }, 0)
	row("other processes CPU (cores)", func(r *ChatResult) string { return fmt.Sprintf("%.2f", r.OtherCPU) }, 0)
	row("server RSS MiB (end / peak)", func(r *ChatResult) string { return fmt.Sprintf("%d / %d", r.ServerRSS>>20, r.ServerPeak>>20) }, qq.ServerRSS)
	row("server heap in use MiB", func(r *ChatResult) string { return fmt.Sprint(r.ServerHeap >> 20) }, 0)
	tw.Flush()
	if q != nil {
		fmt.Fprintf(w, "ratios are %s / %s; ack and fan-out ratios compare p99 (fan-out p50 %.2f×, p99.9 %.2f×, max %.2f×)\n",
			rs[0].Target, rs[len(rs)-1].Target, q.FanOutP50, q.FanOutP999, q.FanOutMax)
	}
	for _, r := range rs {
		if r.OtherCPU > 0.2 {
			fmt.Fprintf(w, "WARNING: other processes used %.2f cores during the %s window: its latencies are not clean; rerun on a quiet machine\n", r.OtherCPU, r.Target)
		}
	}
	for _, r := range rs {
		if r.ProfileFiles != "" {
			fmt.Fprintf(w, "profiles of %s: %s\n", r.Target, r.ProfileFiles)
		}
	}
}

func srvLat(l ServerLatency) string {
	if l.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%g / %g", l.P50, l.P99)
}

func refused(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(s, ", ")
}

func printIdle(w io.Writer, rs []*IdleResult, q *Ratios) {
	fmt.Fprintf(w, "\nidle: %d connections, %d users; readings after a full GC with memory returned to the OS\n", rs[0].Conns, rs[0].Users)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t", r.Target)
	}
	fmt.Fprintln(tw)
	row := func(name string, f func(*IdleResult) string) {
		fmt.Fprint(tw, name+"\t")
		for _, r := range rs {
			fmt.Fprint(tw, f(r)+"\t")
		}
		fmt.Fprintln(tw)
	}
	row("connections/s", func(r *IdleResult) string { return fmt.Sprintf("%.0f", r.ConnectPerSec) })
	row("connect p50/p99 ms", func(r *IdleResult) string { return fmt.Sprintf("%.1f / %.1f", r.Connect.P50, r.Connect.P99) })
	row("settle s", func(r *IdleResult) string { return fmt.Sprintf("%.1f", r.SettleSeconds) })
	row("frames received by clients", func(r *IdleResult) string { return fmt.Sprint(r.FramesIn) })
	row("disconnects", func(r *IdleResult) string { return fmt.Sprint(r.Disconnects) })
	row("server RSS MiB before / after", func(r *IdleResult) string {
		return fmt.Sprintf("%d / %d", r.RSSBefore>>20, r.RSSAfter>>20)
	})
	row("RSS per connection KiB", func(r *IdleResult) string { return fmt.Sprintf("%.1f", r.RSSPerConn/1024) })
	row("heap per connection KiB", func(r *IdleResult) string { return fmt.Sprintf("%.1f", r.HeapPerConn/1024) })
	row("stacks per connection KiB", func(r *IdleResult) string { return fmt.Sprintf("%.1f", r.StackPerConn/1024) })
	row("goroutines per connection", func(r *IdleResult) string { return fmt.Sprintf("%.2f", r.GoroutinesPerConn) })
	tw.Flush()
	if q != nil && q.IdleRSSPerConn != 0 {
		fmt.Fprintf(w, "ratio to baseline: RSS per connection %.2f×, heap %.2f×, connections/s %.2f×\n", q.IdleRSSPerConn, q.IdleHeapPer, q.ConnectPerSec)
	}
}
