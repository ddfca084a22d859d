//go:build !linux

package ws

// readable is not used here: canAwait is false.
func readable(fd uintptr, b []byte) bool { return true }

// canAwait reports whether awaitFrame can wait for a socket's frames:
// the reader waits in Read instead.
const canAwait = false
