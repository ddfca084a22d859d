package ws

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// Buffers of an upgraded socket. net/http hands a hijacked connection over
// with 4 KiB read and write buffers, which coder/websocket keeps for the
// life of the socket: 8 KiB of an idle socket's memory. Client frames are
// small (commands and heartbeats; 16 KiB at most), so a small read buffer
// costs at most an extra read for a large frame. The write buffer holds a
// frame's header and payload, so that a frame up to its size goes out in
// one write: room messages, acks and presence frames do. A larger one
// (welcome, history) takes two writes, as it did from 4 KiB on.
const (
	readBufferSize  = 512
	writeBufferSize = 2048
)

// smallBuffers wraps the ResponseWriter given to websocket.Accept so that
// its Hijack hands the connection over with readBufferSize and
// writeBufferSize buffers instead of net/http's. It keeps the connection
// and the read buffer it handed over for the socket's awaitFrame.
type smallBuffers struct {
	http.ResponseWriter
	conn net.Conn
	br   *bufio.Reader
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes the connection over from net/http with small buffers.
// Bytes the client sent right after its request (a pipelined first frame)
// are already in net/http's read buffer: they move to the front of the new
// one, where coder/websocket looks for them.
func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// net/http flushed the 101 response before handing the connection
	// over; anything it still holds must go out before the first frame.
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	n := brw.Reader.Buffered()
	var src io.Reader = nc
	if n > 0 {
		pending, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(pending), nc)
	}
	br := bufio.NewReaderSize(src, max(readBufferSize, n))
	if n > 0 {
		// Copies the pending bytes in, without reading from nc: the
		// buffer holds them all, and Peek stops once it has n.
		if _, err := br.Peek(n); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	w.conn, w.br = nc, br
	return nc, bufio.NewReadWriter(br, bufio.NewWriterSize(nc, writeBufferSize)), nil
}
