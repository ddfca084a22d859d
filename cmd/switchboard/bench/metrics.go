package bench

import (
	"bufio"
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// promHist is one Prometheus histogram read from /metrics: cumulative
// counts per upper bound (seconds), in the order listed.
type promHist struct {
	bounds []float64
	counts []float64
}

// readHistograms fetches base/metrics and returns the histograms named in
// want (metric name plus label set, e.g. `switchboard_command_seconds{command="chat"`).
func readHistograms(ctx context.Context, base string, want []string) (map[string]*promHist, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]*promHist{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, w := range want {
			name, labels, _ := strings.Cut(w, "{")
			if !strings.HasPrefix(line, name+"_bucket{") || !strings.Contains(line, labels) {
				continue
			}
			i := strings.Index(line, `le="`)
			j := strings.Index(line, `"}`)
			if i < 0 || j < i {
				continue
			}
			le := line[i+4 : j]
			bound := math.Inf(1)
			if le != "+Inf" {
				bound, _ = strconv.ParseFloat(le, 64)
			}
			n, _ := strconv.ParseFloat(strings.TrimSpace(line[j+2:]), 64)
			h := out[w]
			if h == nil {
				h = &promHist{}
				out[w] = h
			}
			h.bounds = append(h.bounds, bound)
			h.counts = append(h.counts, n)
		}
	}
	return out, sc.Err()
}

// ServerLatency is what the server's own histograms say about the window:
// for each quantile, the upper bound (ms) of the bucket it falls in.
type ServerLatency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50AtMostMs"`
	P99 float64 `json:"p99AtMostMs"`
}

// windowQuantiles subtracts a from b and reads the quantiles.
func windowQuantiles(a, b *promHist) ServerLatency {
	if a == nil || b == nil || len(a.counts) != len(b.counts) || len(b.counts) == 0 {
		return ServerLatency{}
	}
	total := b.counts[len(b.counts)-1] - a.counts[len(a.counts)-1]
	q := func(p float64) float64 {
		for i := range b.counts {
			if b.counts[i]-a.counts[i] >= p*total {
				return b.bounds[i] * 1000
			}
		}
		return math.Inf(1)
	}
	if total <= 0 {
		return ServerLatency{}
	}
	return ServerLatency{N: int(total), P50: q(0.5), P99: q(0.99)}
}
