package bench

import (
	"os"
	"syscall"
	"time"
)

// DiskResult is the raw durable-append latency of the data disk: write 256
// bytes at the end of a file, then fdatasync, as the store's writer does
// for a batch of one.
type DiskResult struct {
	Dir     string  `json:"dir"`
	Writes  int     `json:"writes"`
	Latency Latency `json:"latency"`
}

// probeDisk runs n appends of 256 bytes, each followed by fdatasync, in a
// temporary file under dir.
func probeDisk(dir string, n int) (*DiskResult, error) {
	f, err := os.CreateTemp(dir, "switchboard-disk-probe-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 256)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	samples := make([]int64, 0, n)
	for range n {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		for {
			err = syscall.Fdatasync(int(f.Fd()))
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			return nil, err
		}
		samples = append(samples, int64(time.Since(t)))
	}
	return &DiskResult{Dir: dir, Writes: n, Latency: summarize(samples)}, nil
}
