package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ChatResult is one run of the chat scenario against one target.
type ChatResult struct {
	Target string `json:"target"`
	Policy string `json:"policy,omitempty"`

	Users        int     `json:"users"`
	Rooms        int     `json:"rooms"`
	Members      int     `json:"membersPerRoom"`
	Rate         float64 `json:"rateMsgsPerSec"`
	Size         int     `json:"messageBytes"`
	Duration     string  `json:"duration"`
	Warmup       string  `json:"warmup"`
	MentionShare float64 `json:"mentionShare"`

	ConnectPerSec float64 `json:"connectionsPerSec"`
	Connect       Latency `json:"connectLatency"` // dial to welcome
	JoinSeconds   float64 `json:"roomSetupSeconds"`

	Sent       int            `json:"sent"`
	Acked      int            `json:"acked"`
	Refused    map[string]int `json:"refused,omitempty"` // error frames by code
	Unanswered int            `json:"unanswered"`
	Expected   int            `json:"expectedDeliveries"` // acked × members
	Delivered  int            `json:"delivered"`
	Lost       int            `json:"lost"`         // deliveries of acked messages that never came
	LostMsgs   int            `json:"lostMessages"` // acked messages some member never received
	Duplicates int            `json:"duplicates"`
	Gaps       int            `json:"gaps"`
	Other      int            `json:"otherMessages"` // messages not posted by the generator (bots, system)

	Disconnects   int    `json:"disconnects"`
	DisconnectWhy string `json:"disconnectReasons,omitempty"`
	GenDropped    int    `json:"generatorDropped"` // posts the generator could not hand to a socket in time

	Ack        Latency `json:"ackLatency"`
	FanOut     Latency `json:"fanOutLatency"`         // send to each receiver
	FanOutLast Latency `json:"fanOutCompleteLatency"` // send to the last receiver
	SchedLag   Latency `json:"generatorLag"`          // scheduled to written

	MsgsPerSec       float64 `json:"ackedPerSec"`
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`

	// From the server's /metrics over the window (switchboard only).
	ServerCommand ServerLatency `json:"serverChatCommand,omitempty"` // decode to durable append
	ServerAppend  ServerLatency `json:"serverAppend,omitempty"`      // store append incl. fdatasync

	ServerCPU    float64 `json:"serverCpuCores"`
	GenCPU       float64 `json:"generatorCpuCores"`
	OtherCPU     float64 `json:"otherProcessesCpuCores"` // the rest of the machine during the window
	ServerRSS    int64   `json:"serverRssBytes"`
	ServerPeak   int64   `json:"serverPeakRssBytes"`
	ServerHeap   uint64  `json:"serverHeapInuseBytes,omitempty"`
	ProfileFiles string  `json:"profiles,omitempty"`
}

// msgRec is one post of the run, indexed by its number.
type msgRec struct {
	room   int32
	sched  int64 // when it was due (ns since the run's start)
	sent   atomic.Int64
	ack    atomic.Int64
	failed atomic.Bool
	recv   atomic.Int32
	last   atomic.Int64
}

// chatRun is the shared state of one run.
type chatRun struct {
	o         *Options
	start     time.Time
	msgs      []msgRec // fixed length; the first scheduled of them are used
	scheduled atomic.Int64
	rooms     []string // room ids
	roomIdx   map[string]int
	members   [][]int // client indices per room
	clients   []*wsClient
	from      atomic.Int64 // measurement window, ns since start
	to        atomic.Int64

	frames   atomic.Int64 // frames received, heartbeats aside
	inWindow atomic.Int64 // deliveries received inside the window
	other    atomic.Int64
	genDrops atomic.Int64
	refMu    sync.Mutex
	refused  map[string]int
	writers  sync.WaitGroup
}

func (r *chatRun) now() int64 { return int64(time.Since(r.start)) }

// runChat runs the chat scenario against t.
func runChat(ctx context.Context, o *Options, t *target, log io.Writer) (*ChatResult, error) {
	res := &ChatResult{Target: t.Kind, Policy: t.Policy, Users: o.Users, Rooms: o.Rooms, Members: o.Members,
		Rate: o.Rate, Size: o.Size, Duration: o.Duration.String(), Warmup: o.Warmup.String(), MentionShare: o.Mentions}
	total := int(o.Rate*(o.Warmup+o.Duration).Seconds()) + 1
	r := &chatRun{o: o, start: time.Now(), msgs: make([]msgRec, total), roomIdx: map[string]int{}, refused: map[string]int{}}
	r.from.Store(1 << 62)
	r.to.Store(1 << 62)

	// Membership: room k has the members (k·M + j) mod U, j < M.
	r.members = make([][]int, o.Rooms)
	for k := range o.Rooms {
		for j := range o.Members {
			r.members[k] = append(r.members[k], (k*o.Members+j)%o.Users)
		}
	}
	r.clients = make([]*wsClient, o.Users)
	for i := range r.clients {
		r.clients[i] = &wsClient{idx: i, token: t.Tokens[i], out: make(chan int, 4096)}
	}
	defer closeAll(r.clients)

	d, err := newDialer(t.URL, o.Users)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "bench: %s: connecting %d clients\n", t.Kind, o.Users)
	clat, took, err := connectAll(ctx, d, r.clients, o.ConnectParallel, r.handle)
	if err != nil {
		return nil, err
	}
	res.Connect = summarize(clat)
	res.ConnectPerSec = float64(o.Users) / took.Seconds()

	fmt.Fprintf(log, "bench: %s: %d clients in %s (%.0f/s); creating %d rooms of %d\n", t.Kind, o.Users, took.Round(time.Millisecond), res.ConnectPerSec, o.Rooms, o.Members)
	js := time.Now()
	if err := r.setupRooms(ctx); err != nil {
		return nil, err
	}
	res.JoinSeconds = time.Since(js).Seconds()
	quiet(ctx, &r.frames, time.Second, 2*time.Minute)

	for _, c := range r.clients {
		r.writers.Add(1)
		go r.writer(c)
	}
	stopBeat, beatDone := make(chan struct{}), make(chan struct{})
	go func() { r.heartbeats(stopBeat); close(beatDone) }()
	stopWriters := sync.OnceFunc(func() {
		close(stopBeat)
		<-beatDone
		for _, c := range r.clients {
			close(c.out)
		}
		r.writers.Wait()
	})
	defer stopWriters()

	// Sample the server's memory while the load runs.
	var peak atomic.Int64
	stopSample := make(chan struct{})
	var sampled sync.WaitGroup
	if t.PID > 0 {
		sampled.Add(1)
		go func() {
			defer sampled.Done()
			tk := time.NewTicker(250 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stopSample:
					return
				case <-tk.C:
					if s, err := readProc(t.PID); err == nil && s.rss > peak.Load() {
						peak.Store(s.rss)
					}
				}
			}
		}()
	}

	fmt.Fprintf(log, "bench: %s: posting %.0f msg/s for %s after %s of warm-up\n", t.Kind, o.Rate, o.Duration, o.Warmup)
	loadStart := r.now()
	r.from.Store(loadStart + int64(o.Warmup))
	r.to.Store(loadStart + int64(o.Warmup+o.Duration))
	var srvA, srvB, genA, genB procSample
	var busyA, busyB int64
	hists := []string{`switchboard_command_seconds{command="chat"`, "switchboard_append_seconds{"}
	var histA, histB map[string]*promHist
	var profile sync.WaitGroup
	marks := make(chan struct{})
	go func() {
		defer close(marks)
		sleepUntil(ctx, r.start.Add(time.Duration(r.from.Load())))
		if t.PID > 0 {
			srvA, _ = readProc(t.PID)
		}
		genA, _ = readProc(0)
		busyA, _ = machineCPU()
		if t.Kind != "baseline" {
			histA, _ = readHistograms(ctx, t.URL, hists)
		}
		if o.ProfileDir != "" && t.Debug != "" {
			profile.Add(1)
			go func() {
				defer profile.Done()
				res.ProfileFiles = saveProfiles(ctx, t, o, res)
			}()
		}
		sleepUntil(ctx, r.start.Add(time.Duration(r.to.Load())))
		if t.PID > 0 {
			srvB, _ = readProc(t.PID)
		}
		genB, _ = readProc(0)
		busyB, _ = machineCPU()
		if t.Kind != "baseline" {
			histB, _ = readHistograms(ctx, t.URL, hists)
		}
	}()
	r.schedule(ctx, loadStart)
	<-marks
	r.drain(ctx, 15*time.Second)
	stopWriters()
	close(stopSample)
	sampled.Wait()
	profile.Wait()

	res.ServerCPU, res.GenCPU = cpuShare(srvA, srvB), cpuShare(genA, genB)
	if histA != nil && histB != nil {
		res.ServerCommand = windowQuantiles(histA[hists[0]], histB[hists[0]])
		res.ServerAppend = windowQuantiles(histA[hists[1]], histB[hists[1]])
	}
	if wall := genB.at.Sub(genA.at).Seconds(); wall > 0 {
		res.OtherCPU = max(0, float64(busyB-busyA)/clockTicks/wall-res.ServerCPU-res.GenCPU)
	}
	if t.PID > 0 {
		if s, err := readProc(t.PID); err == nil {
			res.ServerRSS = s.rss
		}
		res.ServerPeak = peak.Load()
	}
	var m memStats
	if t.debugGet(ctx, "/memstats", &m) == nil {
		res.ServerHeap = m.HeapInuse
	}
	closeAll(r.clients)
	r.tally(res)
	return res, nil
}

// setupRooms has each room's first member create it, then the others
// join it.
func (r *chatRun) setupRooms(ctx context.Context) error {
	r.rooms = make([]string, r.o.Rooms)
	err := parallel(ctx, r.o.Rooms, r.o.ConnectParallel, func(k int) error {
		c := r.clients[r.members[k][0]]
		a, err := c.command(ctx, "c-create-"+strconv.Itoa(k), map[string]any{"type": "create_room", "name": fmt.Sprintf("bench room %d", k), "visibility": "public"})
		if err != nil {
			return err
		}
		if a.Room == "" {
			return fmt.Errorf("create_room: no room in the ack")
		}
		r.rooms[k] = a.Room
		return nil
	})
	if err != nil {
		return err
	}
	for k, id := range r.rooms {
		r.roomIdx[id] = k
	}
	type join struct{ room, client int }
	var joins []join
	for k, ms := range r.members {
		for _, c := range ms[1:] {
			joins = append(joins, join{k, c})
		}
	}
	return parallel(ctx, len(joins), r.o.ConnectParallel, func(i int) error {
		j := joins[i]
		_, err := r.clients[j.client].command(ctx, "c-join-"+strconv.Itoa(i), map[string]any{"type": "join", "room": r.rooms[j.room]})
		return err
	})
}

// parallel runs fn(0..n-1) on at most p goroutines and returns the first
// error.
func parallel(ctx context.Context, n, p int, fn func(int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range max(1, min(p, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// quiet waits until frames (the clients' count of frames other than
// heartbeats) has not moved for gap — the storm of presence and member
// frames after connecting and joining is over — or until limit.
func quiet(ctx context.Context, frames *atomic.Int64, gap, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		before := frames.Load()
		time.Sleep(gap)
		if frames.Load() == before {
			return
		}
	}
}

// schedule posts open loop: message i is due at loadStart + i/rate,
// whatever happened to the ones before, so a slow server cannot slow the
// offered load down (no coordinated omission). Room i mod R, a random
// member as the sender.
func (r *chatRun) schedule(ctx context.Context, loadStart int64) {
	rng := rand.New(rand.NewPCG(r.o.Seed, r.o.Seed^0x5eed))
	interval := float64(time.Second) / r.o.Rate
	for i := range r.msgs {
		due := loadStart + int64(float64(i)*interval)
		if due >= r.to.Load() || ctx.Err() != nil {
			return
		}
		if d := due - r.now(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		k := i % len(r.rooms)
		sender := r.members[k][rng.IntN(len(r.members[k]))]
		m := &r.msgs[i]
		m.room, m.sched = int32(k), due
		r.scheduled.Store(int64(i + 1))
		select {
		case r.clients[sender].out <- i:
		default:
			r.genDrops.Add(1)
		}
	}
}

// writer posts the messages handed to one client.
func (r *chatRun) writer(c *wsClient) {
	defer r.writers.Done()
	pad := strings.Repeat("x", max(0, r.o.Size))
	for i := range c.out {
		if i == heartbeat {
			c.write(context.Background(), []byte(`{"type":"heartbeat"}`))
			continue
		}
		m := &r.msgs[i]
		key := "k" + strconv.Itoa(i) + " "
		if r.o.Mentions > 0 && float64(i%1000) < r.o.Mentions*1000 {
			key += "@" + r.o.MentionBot + " "
		}
		text := key
		if n := r.o.Size - len(key); n > 0 {
			text += pad[:n]
		}
		b := []byte(`{"type":"chat","id":"m` + strconv.Itoa(i) + `","room":` + strconv.Quote(r.rooms[m.room]) + `,"text":"` + text + `"}`)
		now := r.now()
		m.sent.Store(now)
		if m.sched >= r.from.Load() {
			c.lag = append(c.lag, now-m.sched)
		}
		if err := c.write(context.Background(), b); err != nil {
			m.failed.Store(true)
			r.refuse("write failed")
		}
	}
}

func (r *chatRun) refuse(code string) {
	r.refMu.Lock()
	r.refused[code]++
	r.refMu.Unlock()
}

// heartbeats asks every client to heartbeat every 30 s, spread over the
// interval, as browsers do (the gateway closes sockets silent for 90 s).
func (r *chatRun) heartbeats(stop chan struct{}) {
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-tk.C:
			for _, c := range r.clients {
				if c.idx%30 == n%30 {
					select {
					case c.out <- heartbeat:
					default:
					}
				}
			}
		}
	}
}

// handle is the reader's callback for every frame but welcome and the
// answers to control commands.
func (r *chatRun) handle(c *wsClient, f inFrame, _ []byte) {
	if f.Type != "heartbeat" {
		r.frames.Add(1)
	}
	now := r.now()
	switch f.Type {
	case "message":
		if f.Message == nil {
			return
		}
		bs := c.seen[f.Room]
		if bs == nil {
			bs = &bitset{}
			c.seen[f.Room] = bs
		}
		if bs.set(f.Message.Seq) {
			c.dups++
			return
		}
		n, ok := parseKey(f.Message.Text)
		if !ok || f.Message.Kind != "chat" || n >= len(r.msgs) {
			r.other.Add(1)
			return
		}
		m := &r.msgs[n]
		// Loading sent first orders this read after the writer's store,
		// which follows the scheduler's writes of the record's fields.
		sent := m.sent.Load()
		if sent == 0 || r.roomIdx[f.Room] != int(m.room) {
			r.other.Add(1)
			return
		}
		if sent >= r.from.Load() && sent < r.to.Load() {
			c.fanout = append(c.fanout, now-sent)
		}
		if now >= r.from.Load() && now < r.to.Load() {
			r.inWindow.Add(1)
		}
		m.recv.Add(1)
		for {
			l := m.last.Load()
			if now <= l || m.last.CompareAndSwap(l, now) {
				break
			}
		}
	case "ack":
		if n, ok := msgNumber(f.ID); ok && n < len(r.msgs) {
			m := &r.msgs[n]
			m.ack.Store(now)
			if sent := m.sent.Load(); sent >= r.from.Load() && sent < r.to.Load() {
				c.acks = append(c.acks, now-sent)
			}
		}
	case "error":
		if n, ok := msgNumber(f.ID); ok && n < len(r.msgs) {
			r.msgs[n].failed.Store(true)
		}
		r.refuse(f.Code)
	}
}

func msgNumber(id string) (int, bool) {
	if len(id) < 2 || id[0] != 'm' {
		return 0, false
	}
	n, err := strconv.Atoi(id[1:])
	return n, err == nil
}

// drain waits until every post is answered and every acknowledged one
// delivered to all its room's members, or until limit.
func (r *chatRun) drain(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done := true
		for i := range r.scheduled.Load() {
			m := &r.msgs[i]
			if m.failed.Load() {
				continue
			}
			if m.ack.Load() == 0 || int(m.recv.Load()) < len(r.members[m.room]) {
				done = false
				break
			}
		}
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tally fills in the counts and latencies once the readers are done.
func (r *chatRun) tally(res *ChatResult) {
	var fan, acks, last, lag []int64
	why := map[string]int{}
	for _, c := range r.clients {
		if c.done == nil {
			continue
		}
		<-c.done
		lag = append(lag, c.lag...)
		fan = append(fan, c.fanout...)
		acks = append(acks, c.acks...)
		res.Duplicates += c.dups
		for _, bs := range c.seen {
			res.Gaps += bs.gaps()
		}
		if c.early {
			res.Disconnects++
			why[fmt.Sprintf("%d %s", c.closeCode, c.goodbye)]++
		}
	}
	var parts []string
	for k, v := range why {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
	}
	res.DisconnectWhy = strings.Join(parts, ", ")
	from, to := r.from.Load(), r.to.Load()
	for i := range r.scheduled.Load() {
		m := &r.msgs[i]
		if m.sent.Load() == 0 {
			continue
		}
		res.Sent++
		got := int(m.recv.Load())
		res.Delivered += got
		switch {
		case m.ack.Load() != 0:
			res.Acked++
			want := len(r.members[m.room])
			res.Expected += want
			if got < want {
				res.Lost += want - got
				res.LostMsgs++
			} else if s := m.sent.Load(); s >= from && s < to {
				last = append(last, m.last.Load()-s)
			}
		case !m.failed.Load():
			res.Unanswered++
		}
	}
	res.Other = int(r.other.Load())
	res.GenDropped = int(r.genDrops.Load())
	r.refMu.Lock()
	if len(r.refused) > 0 {
		res.Refused = r.refused
	}
	r.refMu.Unlock()
	res.Ack, res.FanOut, res.FanOutLast = summarize(acks), summarize(fan), summarize(last)
	res.SchedLag = summarize(lag)
	window := time.Duration(to - from).Seconds()
	res.DeliveriesPerSec = float64(r.inWindow.Load()) / window
	res.MsgsPerSec = float64(res.Ack.N) / window
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) {
	if d := time.Until(t); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
}

// saveProfiles fetches a CPU profile of the middle of the measurement
// window, the allocation profile at its start and at its end (compare
// them with pprof -base for the window's allocations) and a heap profile
// from the child, into o.ProfileDir.
func saveProfiles(ctx context.Context, t *target, o *Options, res *ChatResult) string {
	secs := max(1, int(o.Duration.Seconds())-2)
	name := fmt.Sprintf("%s-u%d-r%d-m%d-%.0f", t.Kind, o.Users, o.Rooms, o.Members, o.Rate)
	var files []string
	for _, p := range []struct{ path, file string }{
		{"/allocs", name + ".allocs-start.pprof"},
		{"/profile?seconds=" + strconv.Itoa(secs), name + ".cpu.pprof"},
		{"/allocs", name + ".allocs-end.pprof"},
		{"/heap", name + ".heap.pprof"},
	} {
		path := filepath.Join(o.ProfileDir, p.file)
		f, err := os.Create(path)
		if err != nil {
			continue
		}
		if err := t.debugGet(ctx, p.path, f); err == nil {
			files = append(files, path)
		}
		f.Close()
	}
	return strings.Join(files, " ")
}
