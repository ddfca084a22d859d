package ws

import "syscall"

// readable reports whether the socket fd has a byte to read, or an end or
// error to report, without taking it (b is one byte of scratch space). A
// socket with nothing yet answers EAGAIN; anything else is for Read to
// find out.
func readable(fd uintptr, b []byte) bool {
	n, _, err := syscall.Recvfrom(int(fd), b, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n > 0 || err != syscall.EAGAIN
}

// canAwait reports whether awaitFrame can wait for a socket's frames.
const canAwait = true
