package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// IdleResult is the idle scenario: the server's memory before and after
// Conns authenticated sockets that do nothing but heartbeat, each reading
// measured after a full collection with memory returned to the OS.
type IdleResult struct {
	Target        string  `json:"target"`
	Conns         int     `json:"conns"`
	Users         int     `json:"users"`
	ConnectPerSec float64 `json:"connectionsPerSec"`
	Connect       Latency `json:"connectLatency"`
	SettleSeconds float64 `json:"settleSeconds"`
	FramesIn      int64   `json:"framesReceived"` // by all clients, welcome included
	Disconnects   int     `json:"disconnects"`

	RSSBefore         int64    `json:"serverRssBeforeBytes"`
	RSSAfter          int64    `json:"serverRssAfterBytes"`
	ServerRSS         int64    `json:"serverRssBytes"`
	GoroutinesPerConn float64  `json:"goroutinesPerConn"`
	RSSPerConn        float64  `json:"rssPerConnBytes"`
	HeapPerConn       float64  `json:"heapPerConnBytes"`
	StackPerConn      float64  `json:"stackPerConnBytes"`
	Profiles          []string `json:"profiles,omitempty"`
}

// runIdle connects o.Conns sockets, o.ConnsPerUser per user, to t.
func runIdle(ctx context.Context, o *Options, t *target, users int, log io.Writer) (*IdleResult, error) {
	res := &IdleResult{Target: t.Kind, Conns: o.Conns, Users: users}
	profile := func(when string) {
		if o.ProfileDir == "" {
			return
		}
		for _, name := range []string{"heap", "goroutine"} {
			path := filepath.Join(o.ProfileDir, fmt.Sprintf("idle-%s-c%d-u%d-%s.%s.pprof", t.Kind, o.Conns, users, when, name))
			if f, err := os.Create(path); err == nil {
				if t.debugGet(ctx, "/"+name, f) == nil {
					res.Profiles = append(res.Profiles, path)
				}
				f.Close()
			}
		}
	}
	snap := func(when string) (procSample, memStats, error) {
		var m memStats
		if err := t.debugGet(ctx, "/gc", nil); err != nil {
			return procSample{}, m, err
		}
		time.Sleep(500 * time.Millisecond)
		if err := t.debugGet(ctx, "/memstats", &m); err != nil {
			return procSample{}, m, err
		}
		profile(when)
		p, err := readProc(t.PID)
		return p, m, err
	}
	p0, m0, err := snap("before")
	if err != nil {
		return nil, err
	}
	cs := make([]*wsClient, o.Conns)
	for i := range cs {
		cs[i] = &wsClient{idx: i, token: t.Tokens[i/o.ConnsPerUser]}
	}
	defer closeAll(cs)
	d, err := newDialer(t.URL, o.Conns)
	if err != nil {
		return nil, err
	}
	var frames, nonBeat atomic.Int64
	count := func(_ *wsClient, f inFrame, _ []byte) {
		frames.Add(1)
		if f.Type != "heartbeat" {
			nonBeat.Add(1)
		}
	}

	// Heartbeats every 30 s, spread over the interval, while connecting
	// and measuring (the gateway closes sockets silent for 90 s).
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tk.C:
				for i := n % 30; i < len(cs); i += 30 {
					if c := cs[i]; c.ws != nil {
						go c.write(ctx, []byte(`{"type":"heartbeat"}`))
					}
				}
			}
		}
	}()

	fmt.Fprintf(log, "bench: %s: opening %d idle connections (%d users)\n", t.Kind, o.Conns, users)
	lat, took, err := connectAll(ctx, d, cs, o.ConnectParallel, count)
	if err != nil {
		return nil, err
	}
	res.Connect, res.ConnectPerSec = summarize(lat), float64(o.Conns)/took.Seconds()
	fmt.Fprintf(log, "bench: %s: %d connections in %s; waiting for quiet\n", t.Kind, o.Conns, took.Round(time.Millisecond))
	s := time.Now()
	quiet(ctx, &nonBeat, 2*time.Second, 5*time.Minute)
	res.SettleSeconds = time.Since(s).Seconds()
	p1, m1, err := snap("after")
	if err != nil {
		return nil, err
	}
	res.FramesIn = frames.Load()
	for _, c := range cs {
		select {
		case <-c.done:
			res.Disconnects++
		default:
		}
	}
	n := float64(o.Conns)
	res.RSSBefore, res.RSSAfter, res.ServerRSS = p0.rss, p1.rss, p1.rss
	res.RSSPerConn = float64(p1.rss-p0.rss) / n
	res.HeapPerConn = (float64(m1.HeapInuse) - float64(m0.HeapInuse)) / n
	res.StackPerConn = (float64(m1.StackInuse) - float64(m0.StackInuse)) / n
	res.GoroutinesPerConn = float64(m1.Goroutines-m0.Goroutines) / n
	return res, nil
}
