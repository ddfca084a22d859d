package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ColdResult is the cold-start scenario: `switchboard serve` started as a
// child process, timed from just before fork/exec to the first /readyz
// 200.
type ColdResult struct {
	Events         int       `json:"events"`
	Head           uint64    `json:"head"`
	BuildSeconds   float64   `json:"buildSeconds"`
	LogBytes       int64     `json:"logBytes"`
	EmptyMs        []float64 `json:"emptyLogReadyMs"`
	NoSnapshotMs   []float64 `json:"noSnapshotReadyMs"`
	SnapshotMs     []float64 `json:"snapshotReadyMs"`
	SnapshotBytes  int64     `json:"snapshotBytes"`
	RebuildSeconds float64   `json:"rebuildSeconds"`
	RebuildPerSec  float64   `json:"rebuildEventsPerSec"`
	RebuildOutput  string    `json:"rebuildOutput"`
	ServeRSSNoSnap int64     `json:"serveRssNoSnapshotBytes"`
	ServeRSSSnap   int64     `json:"serveRssSnapshotBytes"`
}

// runColdStart times ready over an empty log, then builds an n-event log
// and times ready without a snapshot (the first start replays everything;
// its shutdown writes the snapshots), with the snapshot, and `projections
// rebuild`. Each start is done runs times.
func runColdStart(ctx context.Context, o *Options, log io.Writer) (*ColdResult, error) {
	const runs = 3
	res := &ColdResult{Events: o.Events}
	base, err := os.MkdirTemp(o.TempDir, "switchboard-coldstart-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintf(log, "bench: keeping the data directories under %s\n", base)
	} else {
		defer os.RemoveAll(base)
	}

	for i := range runs {
		d, _, err := timeReady(ctx, o, filepath.Join(base, fmt.Sprintf("empty%d", i)), log)
		if err != nil {
			return nil, err
		}
		res.EmptyMs = append(res.EmptyMs, ms(int64(d)))
	}

	data := filepath.Join(base, "big")
	fmt.Fprintf(log, "bench: writing a %d-event log\n", o.Events)
	t := time.Now()
	res.Head, err = buildLog(ctx, data, o.Events)
	if err != nil {
		return nil, err
	}
	res.BuildSeconds = time.Since(t).Seconds()
	res.LogBytes = dirSize(data, ".seg")
	fmt.Fprintf(log, "bench: %d events (%d MiB) in %.1f s\n", res.Head, res.LogBytes>>20, res.BuildSeconds)

	snaps := filepath.Join(data, "projections")
	for range runs {
		os.RemoveAll(snaps)
		d, rss, err := timeReady(ctx, o, data, log)
		if err != nil {
			return nil, err
		}
		res.NoSnapshotMs = append(res.NoSnapshotMs, ms(int64(d)))
		res.ServeRSSNoSnap = rss
	}
	res.SnapshotBytes = dirSize(snaps, "")
	if res.SnapshotBytes == 0 {
		return nil, errors.New("bench: the server wrote no projection snapshot at shutdown")
	}
	for range runs {
		d, rss, err := timeReady(ctx, o, data, log)
		if err != nil {
			return nil, err
		}
		res.SnapshotMs = append(res.SnapshotMs, ms(int64(d)))
		res.ServeRSSSnap = rss
	}

	t = time.Now()
	out, err := exec.CommandContext(ctx, o.Exe, "projections", "rebuild", "--data", data).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("bench: projections rebuild: %v: %s", err, out)
	}
	res.RebuildSeconds = time.Since(t).Seconds()
	res.RebuildPerSec = float64(res.Head) / res.RebuildSeconds
	res.RebuildOutput = strings.TrimSpace(string(out))
	return res, nil
}

// timeReady starts `switchboard serve` on data, returns the time to the
// first /readyz 200 and the server's RSS then, and stops it (SIGTERM: a
// graceful shutdown, which writes the projections' snapshots).
func timeReady(ctx context.Context, o *Options, data string, log io.Writer) (time.Duration, int64, error) {
	port, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var stderr bytes.Buffer
	cmd := exec.Command(o.Exe, "serve", "--addr", addr, "--data", data, "--verifier", "none", "--dev-no-verification", "--log-level", "warn")
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			return nil
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-exited
			return errors.New("bench: serve did not stop within 60 s of SIGTERM")
		}
	}
	deadline := start.Add(5 * time.Minute)
	for {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			return 0, 0, fmt.Errorf("bench: serve exited before ready: %v: %s", err, stderr.String())
		case <-ctx.Done():
			stop()
			return 0, 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return 0, 0, errors.New("bench: serve not ready within 5 minutes")
		}
	}
	took := time.Since(start)
	var rss int64
	if s, err := readProc(cmd.Process.Pid); err == nil {
		rss = s.rss
	}
	fmt.Fprintf(log, "bench: serve ready in %s (RSS %d MiB)\n", took.Round(time.Millisecond), rss>>20)
	if err := stop(); err != nil {
		return 0, 0, err
	}
	return took, rss, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// dirSize adds up the sizes of the files under dir whose names end in
// suffix.
func dirSize(dir, suffix string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), suffix) {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
