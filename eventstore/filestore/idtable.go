package filestore

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/google/uuid"
)

// The record-ID index of a segment is an idTable: the segment's IDs sorted
// by a fixed hash, with a directory on the hash's top bits. It is built in
// bulk (from a segment index file, or by sorting what a scan collected),
// never entry by entry: inserting a million random keys into a map was
// most of the time of opening a large log.

// idEntrySize is one table entry: id [16] | rel u32 (little endian), rel
// being the record's index in its segment (position - segment first).
const idEntrySize = 16 + 4

// hashID is the order of an idTable. It is part of the index file format:
// a file sorted by another function is rejected (and rebuilt) on load.
// Record IDs come from clients and need not be random (time-ordered UUIDs
// share their leading bytes), so the order is a hash's, which spreads any
// IDs evenly over the directory's buckets.
func hashID(id uuid.UUID) uint64 {
	h := binary.LittleEndian.Uint64(id[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(id[8:])
	// murmur3's 64-bit finalizer
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// idTable finds the records of one segment by ID.
type idTable struct {
	ents  []byte   // n entries sorted by (hashID(id), id, rel)
	dir   []uint32 // dir[b]: first entry whose hash's top bits are >= b; len 2^shift'+1
	shift uint     // 64 - directory bits
}

func (t *idTable) len() int { return len(t.ents) / idEntrySize }

func (t *idTable) entry(i int) (uuid.UUID, uint32) {
	e := t.ents[i*idEntrySize : (i+1)*idEntrySize]
	return uuid.UUID(e[:16]), binary.LittleEndian.Uint32(e[16:])
}

// find returns the segment-relative index of the record with id (h is
// hashID(id)). Should an ID occur twice, the later record wins, as it did
// when the index was a map filled in log order.
func (t *idTable) find(id uuid.UUID, h uint64) (uint32, bool) {
	if len(t.dir) == 0 {
		return 0, false
	}
	b := h >> t.shift
	lo, hi := int(t.dir[b]), int(t.dir[b+1])
	// The first entry after every (h, id, *) entry.
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		eid, _ := t.entry(mid)
		if c := cmpHashID(hashID(eid), eid, h, id); c <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, false
	}
	eid, rel := t.entry(lo - 1)
	if eid != id {
		return 0, false
	}
	return rel, true
}

func cmpHashID(ha uint64, a uuid.UUID, hb uint64, b uuid.UUID) int {
	switch {
	case ha < hb:
		return -1
	case ha > hb:
		return 1
	}
	return bytes.Compare(a[:], b[:])
}

// dirShift returns 64 minus the directory bits for n entries: about two to
// four entries per bucket, so that a lookup touches the directory and one
// or two cache lines of entries.
func dirShift(n int) uint {
	return 64 - uint(bits.Len(uint(n>>2)))
}

// newIDTable checks that ents (n entries, as in an index file) are a
// sorted permutation of the relative indexes 0..n-1 and builds the
// directory. An index file that fails is not used: a table that misses an
// ID would break idempotency.
func newIDTable(ents []byte, n int) (idTable, bool) {
	t := idTable{ents: ents}
	if len(ents) != n*idEntrySize {
		return t, false
	}
	if n == 0 {
		return t, true
	}
	t.shift = dirShift(n)
	t.dir = make([]uint32, (1<<(64-t.shift))+1)
	seen := make([]uint64, (n+63)/64)
	var prevH uint64
	var prevID uuid.UUID
	var prevRel uint32
	b := uint64(0) // next directory slot to fill
	for i := range n {
		id, rel := t.entry(i)
		h := hashID(id)
		if i > 0 {
			c := cmpHashID(prevH, prevID, h, id)
			if c > 0 || c == 0 && prevRel >= rel {
				return t, false
			}
		}
		if int(rel) >= n || seen[rel/64]&(1<<(rel%64)) != 0 {
			return t, false
		}
		seen[rel/64] |= 1 << (rel % 64)
		for top := h >> t.shift; b <= top; b++ {
			t.dir[b] = uint32(i)
		}
		prevH, prevID, prevRel = h, id, rel
	}
	for ; b < uint64(len(t.dir)); b++ {
		t.dir[b] = uint32(n)
	}
	return t, true
}

// idEntry is an ID collected by a scan, before the table is built.
type idEntry struct {
	h   uint64
	id  uuid.UUID
	rel uint32
}

// buildIDTable sorts what a scan collected into a table. It sorts by radix
// on the hash's top 33 bits (three passes; the hash makes the digits
// uniform), then orders the rare runs that share those bits by comparison.
// It reorders ents.
func buildIDTable(ents []idEntry) idTable {
	n := len(ents)
	if n == 0 {
		return idTable{}
	}
	const digit = 11
	tmp := make([]idEntry, n)
	src, dst := ents, tmp
	var count [1 << digit]int
	// Least significant digit first: each pass is stable.
	for shift := 64 - 3*digit; shift <= 64-digit; shift += digit {
		clear(count[:])
		for i := range src {
			count[src[i].h>>shift&(1<<digit-1)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for i := range src {
			d := src[i].h >> shift & (1<<digit - 1)
			dst[count[d]] = src[i]
			count[d]++
		}
		src, dst = dst, src
	}
	sorted := src
	const top = 64 - 3*digit
	for i := 0; i < n; {
		j := i + 1
		for j < n && sorted[j].h>>top == sorted[i].h>>top {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(sorted[i:j], func(a, b idEntry) int {
				if c := cmpHashID(a.h, a.id, b.h, b.id); c != 0 {
					return c
				}
				return int(int64(a.rel) - int64(b.rel))
			})
		}
		i = j
	}
	t := idTable{ents: make([]byte, n*idEntrySize), shift: dirShift(n)}
	t.dir = make([]uint32, (1<<(64-t.shift))+1)
	b := uint64(0)
	for i := range sorted {
		e := t.ents[i*idEntrySize:]
		copy(e, sorted[i].id[:])
		binary.LittleEndian.PutUint32(e[16:], sorted[i].rel)
		for top := sorted[i].h >> t.shift; b <= top; b++ {
			t.dir[b] = uint32(i)
		}
	}
	for ; b < uint64(len(t.dir)); b++ {
		t.dir[b] = uint32(n)
	}
	return t
}

// idFilter tells, for most IDs not in any segment's table, that they are
// not: a new ID (every append's) would otherwise be looked up in every
// table. It is a Bloom filter with two bits per ID in one 64-bit word, 16
// bits per ID (about 2% false positives), kept in memory only.
type idFilter struct {
	words []uint64
	shift uint // 64 - log2(len(words))
	n     int  // IDs added
}

const filterBitsPerID = 16

func newIDFilter(capacity int) *idFilter {
	words := max(1, capacity*filterBitsPerID/64)
	b := bits.Len(uint(words - 1)) // round up to a power of two
	// A shift of 64 (one word) makes every index 0.
	return &idFilter{words: make([]uint64, 1<<b), shift: 64 - uint(b)}
}

// full reports whether n more IDs would make false positives common.
func (f *idFilter) full(n int) bool {
	return (f.n+n)*filterBitsPerID > len(f.words)*64*2
}

func (f *idFilter) add(h uint64) {
	f.words[h>>f.shift] |= 1<<(h&63) | 1<<(h>>6&63)
	f.n++
}

func (f *idFilter) mayContain(h uint64) bool {
	m := uint64(1)<<(h&63) | 1<<(h>>6&63)
	return f.words[h>>f.shift]&m == m
}

func (f *idFilter) addTable(t *idTable) {
	for i := range t.len() {
		id, _ := t.entry(i)
		f.add(hashID(id))
	}
}
