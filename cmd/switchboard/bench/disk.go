package bench

import (
	"os"
	"syscall"
	"time"
)

// DiskResult is the raw durable-append latency of the data disk: write 256
// bytes at the end of a file, then fdatasync, as the store's writer does
// for a batch of one; once where each write grows the file, once into
// space reserved beforehand with fallocate, as the store's writer does.
type DiskResult struct {
	Dir     string  `json:"dir"`
	Writes  int     `json:"writes"`
	Latency Latency `json:"latency"`
	// CPUMicros is the process's CPU time (user and system) per write
	// and sync.
	CPUMicros float64 `json:"cpuMicrosPerWrite"`
	// Preallocated and PreallocatedCPUMicros: the same into space
	// preallocated with fallocate; nil where that is not supported.
	Preallocated          *Latency `json:"preallocated,omitempty"`
	PreallocatedCPUMicros float64  `json:"preallocatedCpuMicrosPerWrite,omitempty"`
}

// probeDisk runs n appends of 256 bytes, each followed by fdatasync, in a
// temporary file under dir: growing the file, then into preallocated
// space.
func probeDisk(dir string, n int) (*DiskResult, error) {
	lat, cpu, err := probeWrites(dir, n, false)
	if err != nil {
		return nil, err
	}
	res := &DiskResult{Dir: dir, Writes: n, Latency: lat, CPUMicros: cpu}
	if lat, cpu, err := probeWrites(dir, n, true); err == nil {
		res.Preallocated, res.PreallocatedCPUMicros = &lat, cpu
	}
	return res, nil
}

func probeWrites(dir string, n int, prealloc bool) (Latency, float64, error) {
	f, err := os.CreateTemp(dir, "switchboard-disk-probe-")
	if err != nil {
		return Latency{}, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 256)
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	if prealloc {
		if err := syscall.Fallocate(int(f.Fd()), 0, 0, int64(n*len(buf))); err != nil {
			return Latency{}, 0, err
		}
		if err := f.Sync(); err != nil {
			return Latency{}, 0, err
		}
	}
	samples := make([]int64, 0, n)
	cpu0 := processCPU()
	for i := range n {
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i*len(buf))); err != nil {
			return Latency{}, 0, err
		}
		for {
			err = syscall.Fdatasync(int(f.Fd()))
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			return Latency{}, 0, err
		}
		samples = append(samples, int64(time.Since(t)))
	}
	cpu := float64(processCPU()-cpu0) / float64(n) / 1e3
	return summarize(samples), cpu, nil
}

// processCPU returns this process's user and system CPU time so far, from
// getrusage: microseconds, where readProc's /proc figures count 10 ms
// ticks (a whole probe is a few tens of milliseconds of CPU).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
