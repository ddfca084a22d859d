package filestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// File is what the store needs of a segment file. The default is an
// *os.File whose Sync is fdatasync(2); tests wrap it to inject faults (a
// full disk, a failing sync).
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes every write before it durable (fdatasync).
	Sync() error
	Truncate(size int64) error
	Close() error
}

// allocator is a File that can reserve space ahead of the writes
// (osFile on Linux: fallocate).
type allocator interface {
	Allocate(off, n int64) error
}

type osFile struct{ *os.File }

func (f osFile) Sync() error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// syncDir makes the creation or removal of directory entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// listSegments returns the first positions of the segment files in dir, in
// order.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var firsts []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".seg") || e.IsDir() {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil || segmentName(n) != name {
			return nil, fmt.Errorf("eventstore: unexpected file %s in the data directory", filepath.Join(dir, name))
		}
		firsts = append(firsts, n)
	}
	return firsts, nil // ReadDir sorts by name, and names are zero-padded
}

// lockDir takes the exclusive writer lock of dir, so that a second process
// gets ErrLocked instead of writing into the same log.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b[:n]))
			if holder == "" {
				holder = "unknown"
			}
			return nil, fmt.Errorf("%w: %s is open for writing by another process (pid %s); stop it, or read the log with --read-only", errLocked, dir, holder)
		}
		return nil, fmt.Errorf("eventstore: lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// isNoSpace reports whether err means the disk (or quota) is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
