package filestore

import "syscall"

// Allocate reserves the blocks of [off, off+n) and extends the file to
// cover them (fallocate(2), mode 0): they read as zeros until written.
func (f osFile) Allocate(off, n int64) error {
	for {
		err := syscall.Fallocate(int(f.Fd()), 0, off, n)
		if err != syscall.EINTR {
			return err
		}
	}
}
