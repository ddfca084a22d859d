package filestore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// Segment index files.
//
// A sealed segment (one the writer has moved past) gets an index file,
// %020d.idx beside %020d.seg, holding the segment's part of the in-memory
// index, so that opening the log loads it in bulk instead of scanning and
// re-indexing the segment record by record:
//
//	header = magic [8] | first u64 | size u64 | count u32 | streams u32
//	       | firstCRC u32 | lastCRC u32 | segCRC u32             (little endian)
//	stream = firstRev u64 | count u32 | nameLen u16 | name       (streams times)
//	record = offset u32 | stream u32                           (count times, in log order)
//	id     = id [16] | rel u32                                 (count times, sorted by hashID, id, rel)
//	crc    = CRC-32C of everything before it
//
// size is the segment's length; firstCRC and lastCRC are the checksums of
// its first and last frames; segCRC is the CRC-32C of the segment's bytes;
// a stream's firstRev is the revision of its first record in the segment;
// rel is a record's index in the segment.
//
// An index file is a cache, never trusted over the log: it is used only if
// its checksum and structure are sound, the segment has exactly the size it
// covers, the segment's first and last frames are the ones it names, and
// every stream continues at the revision the segments before left it at.
// Otherwise the segment is scanned as if there were no index, and the file
// is rewritten. The index is built by reading the sealed segment back and
// checking every record. Opening the log still reads every sealed segment
// once, to compare its CRC-32C with segCRC (in parallel, a few times faster
// than parsing and checking its frames one by one): damage anywhere in the
// log stops the open, and the segment is then scanned frame by frame to
// name the damaged record's file and offset. Only the newest segment, the
// one appends go to, is scanned frame by frame on every open.
const (
	indexMagic  = "SBIDX\x00\x00\x02"
	indexHeader = 8 + 8 + 8 + 4 + 4 + 4 + 4 + 4
	indexRecord = 4 + 4
)

func indexName(first uint64) string { return fmt.Sprintf("%020d.idx", first) }

// segIndex is one segment's part of the index, as built from the segment
// or read from its index file.
type segIndex struct {
	first             uint64
	size              int64
	count             int
	firstCRC, lastCRC uint32
	segCRC            uint32 // CRC-32C of the segment's size bytes
	streams           []ixStream
	recs              []byte // count records: offset u32 | stream u32
	ids               idTable
}

type ixStream struct {
	name     string
	firstRev uint64
	count    int
}

func (ix *segIndex) rec(i int) (off int64, stream int) {
	r := ix.recs[i*indexRecord:]
	return int64(binary.LittleEndian.Uint32(r)), int(binary.LittleEndian.Uint32(r[4:]))
}

// buildSegIndex reads a whole sealed segment, checks every record as
// opening the log does, and builds its index. Damage is a *CorruptError; a
// sealed segment has no torn tail, since the writer only moves to a new
// segment after a complete append.
func buildSegIndex(f File, path string, first uint64, size int64) (*segIndex, error) {
	if size > math.MaxUint32 {
		return nil, fmt.Errorf("%s is too large for an index file", path)
	}
	ix := &segIndex{first: first, size: size}
	est := int(size / 256)
	ix.recs = make([]byte, 0, est*indexRecord)
	ids := make([]idEntry, 0, est)
	byName := map[string]int{}
	var nextRev []uint64
	r := frameReader{f: f, size: size, buf: make([]byte, 0, 4<<20+frameHeader+maxPayload)}
	var (
		appendStream = -1 // stream of the unfinished append, -1 between appends
		appendStart  int64
		h            header
		err          error
	)
	for r.pos < size {
		start := r.pos
		h, err = r.next()
		if err != nil {
			if err == errShort && r.readErr != nil {
				return nil, fmt.Errorf("eventstore: read %s: %w", path, r.readErr)
			}
			return nil, &CorruptError{File: path, Offset: start, Reason: err.Error()}
		}
		sn, ok := byName[string(h.stream)]
		if !ok {
			sn = len(ix.streams)
			byName[string(h.stream)] = sn
			ix.streams = append(ix.streams, ixStream{name: string(h.stream), firstRev: h.rev})
			nextRev = append(nextRev, h.rev)
		}
		var reason string
		switch {
		case h.pos != first+uint64(ix.count):
			reason = fmt.Sprintf("record has position %d, expected %d", h.pos, first+uint64(ix.count))
		case appendStream >= 0 && sn != appendStream:
			reason = fmt.Sprintf("one append spans streams %q and %q", ix.streams[appendStream].name, h.stream)
		case h.rev != nextRev[sn]:
			reason = fmt.Sprintf("record of %q has revision %d, expected %d", h.stream, h.rev, nextRev[sn])
		}
		if reason != "" {
			return nil, &CorruptError{File: path, Offset: start, Reason: reason}
		}
		if ix.count == 0 {
			ix.firstCRC = h.crc
		}
		ix.lastCRC = h.crc
		nextRev[sn]++
		ix.streams[sn].count++
		ix.recs = binary.LittleEndian.AppendUint32(ix.recs, uint32(start))
		ix.recs = binary.LittleEndian.AppendUint32(ix.recs, uint32(sn))
		ids = append(ids, idEntry{h: hashID(h.id), id: h.id, rel: uint32(ix.count)})
		ix.count++
		if appendStream < 0 {
			appendStart = start
		}
		appendStream = sn
		if h.flags&flagLast != 0 {
			appendStream = -1
		}
	}
	if appendStream >= 0 {
		return nil, &CorruptError{File: path, Offset: appendStart, Reason: "the segment ends inside an append"}
	}
	ix.segCRC = r.crc
	ix.ids = buildIDTable(ids)
	return ix, nil
}

// frameReader reads a segment's frames in order, in large chunks.
type frameReader struct {
	f       File
	size    int64 // bytes to read
	buf     []byte
	bufOff  int64 // file offset of buf[0]
	pos     int64 // file offset of the next frame
	readErr error
	crc     uint32 // CRC-32C of the bytes read so far (from offset 0, in order)
}

// next returns the frame at r.pos and moves past it. errShort means the
// frame runs past r.size (or the file ended early: see r.readErr).
func (r *frameReader) next() (header, error) {
	for {
		rel := int(r.pos - r.bufOff)
		h, err := parseHeader(r.buf[rel:])
		if err == errShort && r.bufOff+int64(len(r.buf)) < r.size {
			n := copy(r.buf[:cap(r.buf)], r.buf[rel:])
			want := min(cap(r.buf), n+4<<20)
			if rest := r.size - r.pos; int64(want) > rest {
				want = int(rest)
			}
			m, err := r.f.ReadAt(r.buf[n:want], r.pos+int64(n))
			// Each read continues where the last ended.
			r.crc = crc32.Update(r.crc, castagnoli, r.buf[n:n+m])
			r.buf, r.bufOff = r.buf[:n+m], r.pos
			if m < want-n {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF // the file is shorter than its size
				}
				r.readErr = err
				r.size = r.bufOff + int64(len(r.buf))
			}
			continue
		}
		if err == nil {
			r.pos += int64(h.size)
		}
		return h, err
	}
}

// readIndexFile reads and checks an index file on its own; check then
// compares it with its segment.
func readIndexFile(path string) (*segIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	total := fi.Size()
	var hdr [indexHeader]byte
	if total < indexHeader+4 {
		return nil, errors.New("shorter than its header")
	}
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if string(hdr[:8]) != indexMagic {
		return nil, errors.New("not an index file of this version")
	}
	ix := &segIndex{
		first:    le.Uint64(hdr[8:]),
		size:     int64(le.Uint64(hdr[16:])),
		count:    int(le.Uint32(hdr[24:])),
		firstCRC: le.Uint32(hdr[32:]),
		lastCRC:  le.Uint32(hdr[36:]),
		segCRC:   le.Uint32(hdr[40:]),
	}
	nstreams := int(le.Uint32(hdr[28:]))
	idBytes := int64(ix.count) * idEntrySize
	restStart := total - 4 - idBytes
	if ix.count == 0 || restStart < indexHeader+int64(ix.count)*indexRecord || nstreams == 0 || nstreams > ix.count {
		return nil, fmt.Errorf("%d bytes do not fit %d records of %d streams", total, ix.count, nstreams)
	}
	// The ID table is read into its own buffer: it stays in memory, the
	// rest does not.
	head := make([]byte, restStart)
	ids := make([]byte, idBytes)
	var tail [4]byte
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, err
	}
	if _, err := f.ReadAt(ids, restStart); err != nil {
		return nil, err
	}
	if _, err := f.ReadAt(tail[:], total-4); err != nil {
		return nil, err
	}
	crc := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, ids)
	if crc != le.Uint32(tail[:]) {
		return nil, errors.New("checksum mismatch")
	}
	if err := ix.parseStreams(head[indexHeader:], nstreams); err != nil {
		return nil, err
	}
	var ok bool
	if ix.ids, ok = newIDTable(ids, ix.count); !ok {
		return nil, errors.New("the ID table is not a sorted list of the segment's records")
	}
	return ix, nil
}

// parseStreams reads the stream and record sections (b) and checks that
// they describe count records at increasing offsets, each of a listed
// stream, as many per stream as the stream says.
func (ix *segIndex) parseStreams(b []byte, nstreams int) error {
	le := binary.LittleEndian
	byName := make(map[string]bool, nstreams)
	sum := 0
	for range nstreams {
		if len(b) < 14 {
			return errors.New("stream section cut short")
		}
		st := ixStream{firstRev: le.Uint64(b), count: int(le.Uint32(b[8:]))}
		n := int(le.Uint16(b[12:]))
		if len(b) < 14+n {
			return errors.New("stream section cut short")
		}
		st.name = string(b[14 : 14+n])
		b = b[14+n:]
		if byName[st.name] || st.count == 0 {
			return fmt.Errorf("stream %q listed twice or without records", st.name)
		}
		byName[st.name] = true
		sum += st.count
		ix.streams = append(ix.streams, st)
	}
	if sum != ix.count || len(b) != ix.count*indexRecord {
		return fmt.Errorf("the streams hold %d records and the record section %d bytes, for %d records", sum, len(b), ix.count)
	}
	ix.recs = b
	counts := make([]int, nstreams)
	prev := int64(-1)
	for i := range ix.count {
		off, sn := ix.rec(i)
		if i == 0 && off != 0 || off <= prev || off >= ix.size || sn >= nstreams {
			return fmt.Errorf("record %d: bad offset %d or stream %d", i, off, sn)
		}
		counts[sn]++
		prev = off
	}
	for k, c := range counts {
		if c != ix.streams[k].count {
			return fmt.Errorf("stream %q has %d records, listed with %d", ix.streams[k].name, c, ix.streams[k].count)
		}
	}
	return nil
}

// check compares an index read from a file with its segment: the same
// size, and the same first and last frames (position, checksum, stream,
// revision). It reads two frames, not the segment.
func (ix *segIndex) check(f File, first uint64, fileSize int64) error {
	if ix.first != first {
		return fmt.Errorf("index of position %d, segment of %d", ix.first, first)
	}
	if fileSize != ix.size {
		return fmt.Errorf("segment is %d bytes, its index covers %d", fileSize, ix.size)
	}
	end := ix.size
	if ix.count > 1 {
		end, _ = ix.rec(1)
	}
	if err := ix.checkFrame(f, 0, end, ix.firstCRC); err != nil {
		return fmt.Errorf("first record: %w", err)
	}
	last, _ := ix.rec(ix.count - 1)
	if err := ix.checkFrame(f, ix.count-1, ix.size, ix.lastCRC); err != nil {
		return fmt.Errorf("last record (offset %d): %w", last, err)
	}
	return nil
}

// checkFrame compares the frame of record i (the first or the last), which
// ends at end, with the index.
func (ix *segIndex) checkFrame(f File, i int, end int64, crc uint32) error {
	off, sn := ix.rec(i)
	buf := make([]byte, end-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return err
	}
	h, err := parseHeader(buf)
	if err != nil {
		return err
	}
	// Only the first and last records are checked: the first is its
	// stream's first in the segment, the last its stream's last.
	st := ix.streams[sn]
	rev := st.firstRev
	if i > 0 {
		rev += uint64(st.count) - 1
	}
	if i == ix.count-1 && h.flags&flagLast == 0 {
		return errors.New("not the last record of an append")
	}
	if h.size != len(buf) || h.crc != crc || h.pos != ix.first+uint64(i) || string(h.stream) != st.name || h.rev != rev {
		return fmt.Errorf("frame differs: position %d, stream %q, revision %d", h.pos, h.stream, h.rev)
	}
	return nil
}

// writeFile writes the index to path atomically: a temporary file, synced,
// renamed over path, and the directory synced. A crash leaves either the
// old file, the new one, or a stray temporary file, never a torn index
// (and a torn one would fail its checksum).
func (ix *segIndex) writeFile(path string) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	sum := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, sum), 1<<20)
	le := binary.LittleEndian
	hdr := make([]byte, 0, indexHeader)
	hdr = append(hdr, indexMagic...)
	hdr = le.AppendUint64(hdr, ix.first)
	hdr = le.AppendUint64(hdr, uint64(ix.size))
	hdr = le.AppendUint32(hdr, uint32(ix.count))
	hdr = le.AppendUint32(hdr, uint32(len(ix.streams)))
	hdr = le.AppendUint32(hdr, ix.firstCRC)
	hdr = le.AppendUint32(hdr, ix.lastCRC)
	hdr = le.AppendUint32(hdr, ix.segCRC)
	w.Write(hdr)
	for _, st := range ix.streams {
		b := le.AppendUint64(nil, st.firstRev)
		b = le.AppendUint32(b, uint32(st.count))
		b = le.AppendUint16(b, uint16(len(st.name)))
		w.Write(append(b, st.name...))
	}
	w.Write(ix.recs)
	w.Write(ix.ids.ents)
	if err := w.Flush(); err != nil {
		return err
	}
	if _, err := f.Write(le.AppendUint32(nil, sum.Sum32())); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// lookupID returns the position of the record with the given ID, newest
// segment first (mu held).
func (s *Store) lookupID(id uuid.UUID) (uint64, bool) {
	h := hashID(id)
	// Without a filter (not built yet), every table is searched.
	inTables := s.filter == nil || s.filter.mayContain(h)
	for i := len(s.segments) - 1; i >= 0; i-- {
		seg := s.segments[i]
		if p, ok := seg.ids[id]; ok {
			return p, true
		}
		if !inTables {
			continue
		}
		if rel, ok := seg.tab.find(id, h); ok {
			return seg.first + uint64(rel), true
		}
	}
	return 0, false
}

// segmentCRC is the CRC-32C of the first size bytes of f, read in large
// chunks into buf.
func segmentCRC(f File, size int64, buf []byte) (uint32, error) {
	var crc uint32
	for off := int64(0); off < size; {
		n := int(min(int64(len(buf)), size-off))
		m, err := f.ReadAt(buf[:n], off)
		crc = crc32.Update(crc, castagnoli, buf[:m])
		off += int64(m)
		if m < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
	return crc, nil
}

// sealedCheck is a sealed segment loaded from its index file, whose bytes
// are still to be compared with the index's segCRC.
type sealedCheck struct {
	seg *segment
	ix  *segIndex
}

// verifySealed compares every listed segment's bytes with its index's
// segCRC, on as many goroutines as there are CPUs. A segment that differs
// is scanned frame by frame, which names the damaged record (a
// *CorruptError); if the scan finds nothing, the index file was wrong,
// and it is rewritten.
func (s *Store) verifySealed(checks []sealedCheck) error {
	if len(checks) == 0 {
		return nil
	}
	errs := make([]error, len(checks))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(checks)) {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(checks) {
					return
				}
				c := checks[i]
				crc, err := segmentCRC(c.seg.f, c.ix.size, buf)
				switch {
				case err != nil:
					errs[i] = fmt.Errorf("eventstore: read %s: %w", c.seg.path, err)
				case crc != c.ix.segCRC:
					ix, err := buildSegIndex(c.seg.f, c.seg.path, c.seg.first, c.ix.size)
					if err != nil {
						errs[i] = err
					} else if !s.opts.ReadOnly {
						s.idx.add(c.seg, ix)
					}
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
