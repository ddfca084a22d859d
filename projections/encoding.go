package projections

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"
)

// The payload of every snapshot is a compact binary encoding written with
// enc and read with dec: unsigned varints, zig-zag varints, length-prefixed
// strings, times as seconds and nanoseconds. It is deterministic because
// every writer walks its maps in sorted key order (sortedKeys), so equal
// states encode to equal bytes, which is what rebuild and verify compare.
// Each payload starts with its projection's schema version: a snapshot
// written by other code is refused and the projection replays from zero.

// errTruncated is returned by dec when a payload ends early or a length is
// out of range.
var errTruncated = errors.New("projections: snapshot payload truncated or malformed")

type enc struct{ b []byte }

// sizeHint remembers the size of a projection's last payload, so the next
// encoding allocates its buffer once instead of growing it.
type sizeHint struct{ n atomic.Int64 }

func (h *sizeHint) enc() enc {
	n := h.n.Load()
	return enc{b: make([]byte, 0, n+n/8+64)}
}

func (h *sizeHint) note(n int) { h.n.Store(int64(n)) }

func (e *enc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// time writes t as Unix seconds and nanoseconds. The location is not kept:
// projections hold every time in UTC.
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.int(t.Unix())
	e.uint(uint64(t.Nanosecond()))
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errTruncated
	}
	d.b = nil
}

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a collection length and checks it against what is left (each
// element takes at least min bytes), so a damaged length cannot make the
// reader allocate gigabytes.
func (d *dec) count(min int) int {
	n := d.uint()
	if d.err != nil || n > uint64(len(d.b)/max(min, 1)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) str() string {
	n := d.uint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// raw returns the next n bytes, aliasing the payload.
func (d *dec) raw(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

// shared reads a string that repeats in the payload (a handle, a kind),
// allocating each distinct value once: names maps it to its one copy.
func (d *dec) shared(names map[string]string) string {
	b := d.raw(int(d.uint()))
	if v, ok := names[string(b)]; ok {
		return v
	}
	v := string(b)
	names[v] = v
	return v
}

func (d *dec) bool() bool {
	if len(d.b) == 0 {
		d.fail()
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.fail()
	}
	return v == 1
}

func (d *dec) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	sec := d.int()
	nsec := d.uint()
	if nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// version checks the schema version that starts every payload.
func (d *dec) version(name string, want uint64) {
	if v := d.uint(); d.err == nil && v != want {
		d.err = fmt.Errorf("projections: %s snapshot has schema version %d, this code reads %d", name, v, want)
	}
}

// done checks that the whole payload was read.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("projections: %d bytes left over at the end of a snapshot payload", len(d.b))
	}
	return d.err
}

// appendSorted appends the keys of m to dst[:0], sorted, reusing dst's
// memory (for encoders walking many small maps).
func appendSorted[V any](dst []string, m map[string]V) []string {
	dst = dst[:0]
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

// sortedKeys returns the keys of m in order: the one way maps are walked
// when encoding or listing, so output never depends on map iteration.
func sortedKeys[K interface{ ~string }, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
