package bench

import "slices"

// Latency summarises a set of durations: the percentiles the report
// shows, in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50Ms"`
	P90  float64 `json:"p90Ms"`
	P99  float64 `json:"p99Ms"`
	P999 float64 `json:"p999Ms"`
	Max  float64 `json:"maxMs"`
}

// summarize sorts samples (nanoseconds) in place and returns their
// percentiles (nearest rank).
func summarize(samples []int64) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		i := int(q*float64(len(samples))+0.5) - 1
		i = min(max(i, 0), len(samples)-1)
		return ms(samples[i])
	}
	return Latency{
		N: len(samples), P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max: ms(samples[len(samples)-1]),
	}
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// bitset records which seqs a receiver has seen in one room.
type bitset []uint64

// set marks i and reports whether it was set already.
func (b *bitset) set(i uint64) bool {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w-len(*b)+1)...)
	}
	m := uint64(1) << (i % 64)
	dup := (*b)[w]&m != 0
	(*b)[w] |= m
	return dup
}

// gaps counts the unset positions between the lowest and the highest set
// one.
func (b bitset) gaps() int {
	lo, hi := -1, -1
	for w, x := range b {
		if x == 0 {
			continue
		}
		for j := 0; j < 64; j++ {
			if x&(1<<j) != 0 {
				i := w*64 + j
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
	}
	if lo < 0 {
		return 0
	}
	n := 0
	for i := lo; i <= hi; i++ {
		if b[i/64]&(1<<(i%64)) == 0 {
			n++
		}
	}
	return n
}
