//go:build !linux

package filestore

import "errors"

// Allocate is not supported here: segments grow with each write.
func (f osFile) Allocate(off, n int64) error {
	return errors.New("filestore: preallocation needs Linux")
}
