package filestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

var errLocked = eventstore.ErrLocked

var _ eventstore.Store = (*Store)(nil)

// Options tune a Store. The zero value is the production default.
type Options struct {
	// ReadOnly opens the log without the writer lock, for reading while a
	// server has it open (audit replay). It never modifies files: a torn
	// tail is ignored rather than cut, and subscriptions poll for records
	// the writer adds. A read-only view may show a record a moment before
	// the writer acknowledges it.
	ReadOnly bool
	// Repair cuts the log at the first damaged record instead of refusing
	// to open, losing everything after it. Off by default: damage before
	// the tail means a disk problem an operator must look at.
	Repair bool
	// SegmentSize is the size at which a new segment file starts. Zero
	// means 64 MiB.
	SegmentSize int64
	// MaxBatchBytes bounds one group commit. Zero means 8 MiB.
	MaxBatchBytes int
	// CacheRecords is how many of the newest records are kept decoded in
	// memory for subscribers following the head. Zero means 16384.
	CacheRecords int
	// PollInterval is how often a read-only store looks for new records.
	// Zero means 100 ms.
	PollInterval time.Duration
	// WrapFile, if set, wraps every segment file (tests inject faults).
	WrapFile func(File) File
	// Logger receives what the store does on its own and an operator
	// should know: an index file ignored or not written, a repair's cut.
	// Nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.SegmentSize <= 0 {
		o.SegmentSize = 64 << 20
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 8 << 20
	}
	if o.CacheRecords <= 0 {
		o.CacheRecords = 16384
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// segment is one file of the log.
type segment struct {
	first   uint64 // position of its first record
	path    string
	f       File
	offsets []int64 // offsets[i]: where the record at position first+i starts
	size    int64   // bytes of complete appends
	// alloc is where the file ends (the newest segment, writer only): at
	// least size, more while space is preallocated ahead of the writes.
	alloc int64
	// The record IDs, by position: tab, built in bulk when the log was
	// opened or the segment sealed, covers its records then; ids those
	// indexed one by one since (appends; a read-only view's refresh).
	tab idTable
	ids map[uuid.UUID]uint64
}

type stream struct {
	name      string
	positions []uint64 // positions[rev]
}

// Store is the embedded event log: segment files of checksummed records
// under one directory, group-committed with fdatasync, indexed in memory
// (and, per sealed segment, in an index file: see index.go).
//
// Lock order: writeMu (held by the single writer) before mu. mu guards the
// index (segments and their IDs, streams, filter, cache) and head; readers
// copy what they need under mu.RLock and do file I/O without it, so a
// reader never holds up a commit for the length of a disk read.
type Store struct {
	dir  string
	opts Options
	lock *os.File

	mu       sync.RWMutex
	segments []*segment
	streams  map[string]*stream
	filter   *idFilter // over the segments' tables; nil until built
	head     uint64
	notify   chan struct{} // closed and replaced after every commit
	cache    recordCache
	failed   error // set when the writer can no longer be trusted

	reqs    chan *appendReq
	closing chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	once    sync.Once

	// writer-owned state
	batchBuf     []byte
	allocRetryAt time.Time // no preallocation before (after a failure)

	idx indexer // writes the index files of sealed segments

	// fromIndex counts the sealed segments Open loaded from their index
	// files (the rest it scanned).
	fromIndex int
}

// Open opens (creating if needed) the log in dir.
func Open(dir string, opts Options) (*Store, error) {
	opts.defaults()
	s := &Store{
		dir:     dir,
		opts:    opts,
		streams: make(map[string]*stream),
		notify:  make(chan struct{}),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.cache.init(opts.CacheRecords)
	if !opts.ReadOnly {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("eventstore: create %s: %w", dir, err)
		}
		l, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		s.lock = l
	}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if opts.ReadOnly {
		close(s.done)
		return s, nil
	}
	s.reqs = make(chan *appendReq, 1024)
	go s.writer()
	s.idx.start(s)
	return s, nil
}

func (s *Store) openFile(path string, flag int) (File, error) {
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	var file File = osFile{f}
	if s.opts.WrapFile != nil {
		file = s.opts.WrapFile(file)
	}
	return file, nil
}

// load rebuilds the index: each sealed segment from its index file if it
// has a valid one, else by scanning it and checking every record; the
// newest segment always by scanning it, cutting a torn tail back to the
// last complete append. Repair scans every segment.
func (s *Store) load() error {
	firsts, err := listSegments(s.dir)
	if err != nil {
		if s.opts.ReadOnly && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("eventstore: no log in %s", s.dir)
		}
		return err
	}
	if len(firsts) == 0 {
		if s.opts.ReadOnly {
			return nil
		}
		return s.newSegment(1)
	}
	if !s.opts.ReadOnly {
		// Index files a crash left half written.
		tmps, _ := filepath.Glob(filepath.Join(s.dir, "*.idx.tmp"))
		for _, tmp := range tmps {
			os.Remove(tmp)
		}
	}
	flag := os.O_RDWR
	if s.opts.ReadOnly {
		flag = os.O_RDONLY
	}
	var checks []sealedCheck
	for i, first := range firsts {
		path := filepath.Join(s.dir, segmentName(first))
		f, err := s.openFile(path, flag)
		if err != nil {
			return fmt.Errorf("eventstore: open %s: %w", path, err)
		}
		seg := &segment{first: first, path: path, f: f}
		s.segments = append(s.segments, seg)
		if first != s.head+1 {
			return &CorruptError{File: path, Offset: 0, Reason: fmt.Sprintf("segment starts at position %d, expected %d", first, s.head+1)}
		}
		last := i == len(firsts)-1
		if !last && !s.opts.Repair {
			if err := s.loadSealed(seg, &checks); err != nil {
				return err
			}
			continue
		}
		if err := s.scanAll(seg, last); err != nil {
			return err
		}
		if !last && !s.opts.ReadOnly {
			s.idx.add(seg, nil)
		}
	}
	// Damage anywhere stops the open (the segments scanned above were
	// checked frame by frame; those loaded from index files are checked
	// here as a whole).
	return s.verifySealed(checks)
}

// loadSealed indexes a sealed segment: from its index file if that agrees
// with the segment and with the segments before it (adding the segment to
// checks, whose bytes verifySealed compares with the index), else by
// reading the segment (and, unless read-only, writing a new index file
// later).
func (s *Store) loadSealed(seg *segment, checks *[]sealedCheck) error {
	size, err := fileLen(seg.f)
	if err != nil {
		return fmt.Errorf("eventstore: size of %s: %w", seg.path, err)
	}
	if size > math.MaxUint32 {
		// Offsets do not fit an index file.
		return s.scanAll(seg, false)
	}
	path := filepath.Join(s.dir, indexName(seg.first))
	ix, err := readIndexFile(path)
	if err == nil {
		err = ix.check(seg.f, seg.first, size)
	}
	if err == nil {
		if err = s.applyIndex(seg, ix); err == nil {
			s.fromIndex++
			*checks = append(*checks, sealedCheck{seg, ix})
			return nil
		}
		// The index, not the log, is wrong.
		var ce *CorruptError
		if errors.As(err, &ce) {
			err = fmt.Errorf("record at offset %d: %s", ce.Offset, ce.Reason)
		}
	}
	if !errors.Is(err, os.ErrNotExist) {
		s.opts.Logger.Warn("eventstore: index file ignored; scanning its segment", "file", path, "err", err)
	}
	ix, err = buildSegIndex(seg.f, seg.path, seg.first, size)
	if err != nil {
		return err
	}
	if err := s.applyIndex(seg, ix); err != nil {
		return err
	}
	if !s.opts.ReadOnly {
		s.idx.add(seg, ix)
	}
	return nil
}

// applyIndex adds a sealed segment's index to the store's. If the index
// does not continue the log indexed so far (a stream's first revision in
// the segment is not the stream's next), it changes nothing and returns a
// *CorruptError naming that record.
func (s *Store) applyIndex(seg *segment, ix *segIndex) error {
	sts := make([]*stream, len(ix.streams))
	for k, xs := range ix.streams {
		st := s.streams[xs.name]
		var next uint64
		if st != nil {
			next = uint64(len(st.positions))
		}
		if xs.firstRev != next {
			off := int64(0)
			for i := range ix.count {
				if o, sn := ix.rec(i); sn == k {
					off = o
					break
				}
			}
			return &CorruptError{File: seg.path, Offset: off, Reason: fmt.Sprintf("record of %q has revision %d, expected %d", xs.name, xs.firstRev, next)}
		}
		sts[k] = st
	}
	for k, st := range sts {
		if st == nil {
			st = &stream{name: ix.streams[k].name}
			s.streams[st.name] = st
			sts[k] = st
		}
		st.positions = slices.Grow(st.positions, ix.streams[k].count)
	}
	seg.offsets = make([]int64, ix.count)
	for i := range ix.count {
		off, sn := ix.rec(i)
		seg.offsets[i] = off
		st := sts[sn]
		st.positions = append(st.positions, seg.first+uint64(i))
	}
	seg.size = ix.size
	seg.tab = ix.ids
	s.head = seg.first + uint64(ix.count) - 1
	return nil
}

// scanAll indexes seg by scanning it whole, collecting its IDs into a
// table.
func (s *Store) scanAll(seg *segment, last bool) error {
	fileSize, err := fileLen(seg.f)
	if err != nil {
		return fmt.Errorf("eventstore: size of %s: %w", seg.path, err)
	}
	// Size the index from the records seen so far (no growth by doubling).
	avg := int64(256)
	if s.head > 0 {
		var total int64
		for _, sg := range s.segments {
			total += sg.size
		}
		avg = max(total/int64(s.head), frameHeader+fixedPayload)
	}
	est := int(fileSize/avg) + 16
	seg.offsets = make([]int64, 0, est)
	ids := make([]idEntry, 0, est)
	if err := s.scan(seg, 0, last, &ids); err != nil {
		return err
	}
	seg.tab = buildIDTable(ids)
	return nil
}

// scan indexes seg from offset off. last says whether seg is the newest
// segment, where a torn tail is expected after a crash. The IDs go to ids
// if it is not nil (to be sorted into a table), else to seg.ids.
func (s *Store) scan(seg *segment, off int64, last bool, ids *[]idEntry) error {
	fileSize, err := fileLen(seg.f)
	if err != nil {
		return fmt.Errorf("eventstore: size of %s: %w", seg.path, err)
	}
	const chunk = 4 << 20
	buf := make([]byte, 0, chunk+frameHeader+maxPayload)
	// The records of the append being read; they enter the index only with
	// its last record. One append always targets one stream.
	var (
		pending      []header
		pendingSt    *stream
		pendingName  []byte
		pendingStart = off
	)
	bufOff := off // file offset of buf[0]
	pos := off
	// Reads start small and double: a read-only view's refresh usually
	// finds a few new records, or none before preallocated zeros.
	step := 64 << 10
	for {
		rel := int(pos - bufOff)
		h, perr := parseHeader(buf[rel:])
		if perr == errShort && bufOff+int64(len(buf)) < fileSize {
			// Refill: keep the unread part, read more.
			n := copy(buf[:cap(buf)], buf[rel:])
			want := min(cap(buf), n+step)
			step = min(2*step, chunk)
			m, rerr := seg.f.ReadAt(buf[n:want], pos+int64(n))
			if rerr != nil && rerr != io.EOF {
				return fmt.Errorf("eventstore: read %s: %w", seg.path, rerr)
			}
			buf = buf[:n+m]
			bufOff = pos
			if m == 0 {
				fileSize = pos + int64(n) // the file shrank under us
			}
			continue
		}
		if perr == errShort && len(buf[rel:]) == 0 {
			break // clean end
		}
		if perr == nil {
			if len(pending) == 0 {
				pendingSt = s.streams[string(h.stream)]
				pendingName = append(pendingName[:0], h.stream...)
			}
			var want uint64
			if pendingSt != nil {
				want = uint64(len(pendingSt.positions))
			}
			want += uint64(len(pending))
			switch {
			case h.pos != s.head+uint64(len(pending))+1:
				perr = fmt.Errorf("record has position %d, expected %d", h.pos, s.head+uint64(len(pending))+1)
			case !bytes.Equal(h.stream, pendingName):
				perr = fmt.Errorf("one append spans streams %q and %q", pendingName, h.stream)
			case h.rev != want:
				perr = fmt.Errorf("record of %q has revision %d, expected %d", h.stream, h.rev, want)
			}
		}
		if perr != nil {
			// A read-only view may catch the writer mid-write: whatever
			// follows the last complete append of the newest segment is
			// not there yet. The writer itself checks the tail strictly.
			torn := last && (perr == errShort || s.opts.ReadOnly || s.isTail(seg, pos, fileSize))
			if torn || s.opts.Repair {
				if !torn && !s.opts.ReadOnly {
					s.opts.Logger.Warn("eventstore: repair: cutting the log", "file", seg.path, "offset", pendingStart, "err", perr)
				}
				break
			}
			return &CorruptError{File: seg.path, Offset: pos, Reason: perr.Error()}
		}
		h.stream = nil // aliases buf, which the next read overwrites
		pending = append(pending, h)
		pos += int64(h.size)
		if h.flags&flagLast != 0 {
			if pendingSt == nil {
				pendingSt = &stream{name: string(pendingName)}
				s.streams[pendingSt.name] = pendingSt
			}
			s.indexScanned(seg, pendingSt, pendingStart, pending, ids)
			pending = pending[:0]
			pendingStart = pos
		}
	}
	seg.size = pendingStart
	if seg.size < fileSize && !s.opts.ReadOnly {
		if err := seg.f.Truncate(seg.size); err != nil {
			return fmt.Errorf("eventstore: cut torn tail of %s: %w", seg.path, err)
		}
		if err := seg.f.Sync(); err != nil {
			return fmt.Errorf("eventstore: cut torn tail of %s: %w", seg.path, err)
		}
		// An index file of the segment no longer matches it. It would be
		// refused on load anyway (its size is wrong); this keeps the
		// directory tidy.
		os.Remove(filepath.Join(s.dir, indexName(seg.first)))
	}
	seg.alloc = seg.size
	return nil
}

// isTail reports whether damage at off can be the torn end of an
// interrupted write rather than damage to committed data: apart from
// zeros at the end of the file (space preallocated ahead of the writes,
// or a size extended before its data reached the disk), nothing follows
// the damaged frame, or nothing at all is there.
func (s *Store) isTail(seg *segment, off, fileSize int64) bool {
	var head [frameHeader]byte
	end := off // the end of the last nonzero byte from off on
	buf := make([]byte, min(fileSize-off, 1<<20))
	for at := off; at < fileSize; {
		n, err := seg.f.ReadAt(buf[:min(int64(len(buf)), fileSize-at)], at)
		if err != nil && err != io.EOF || n == 0 {
			return false
		}
		if at == off {
			copy(head[:], buf[:n])
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				end = at + int64(i) + 1
				break
			}
		}
		at += int64(n)
	}
	rest := end - off
	if rest < frameHeader {
		return true // nothing, or a header cut short
	}
	n := int64(binary.LittleEndian.Uint32(head[:]))
	return n >= fixedPayload && n <= maxPayload && frameHeader+n >= rest
}

// indexScanned adds one complete append found on disk to the index: its
// IDs to ids, or to seg.ids if ids is nil.
func (s *Store) indexScanned(seg *segment, st *stream, start int64, hs []header, ids *[]idEntry) {
	off := start
	for _, h := range hs {
		rel := len(seg.offsets)
		seg.offsets = append(seg.offsets, off)
		off += int64(h.size)
		st.positions = append(st.positions, h.pos)
		if ids != nil && rel < math.MaxUint32 {
			*ids = append(*ids, idEntry{h: hashID(h.id), id: h.id, rel: uint32(rel)})
		} else {
			seg.addID(h.id, h.pos)
		}
		s.head = h.pos
	}
}

func (seg *segment) addID(id uuid.UUID, pos uint64) {
	if seg.ids == nil {
		seg.ids = make(map[uuid.UUID]uint64)
	}
	seg.ids[id] = pos
}

func fileLen(f File) (int64, error) {
	if st, ok := f.(interface{ Stat() (os.FileInfo, error) }); ok {
		fi, err := st.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	// Wrapped files: find the size by reading.
	var size int64
	buf := make([]byte, 1<<20)
	for {
		n, err := f.ReadAt(buf, size)
		size += int64(n)
		if err == io.EOF {
			return size, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// newSegment creates the segment whose first record will be at first and
// makes it the active one.
func (s *Store) newSegment(first uint64) error {
	path := filepath.Join(s.dir, segmentName(first))
	f, err := s.openFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("eventstore: create %s: %w", path, err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("eventstore: sync %s: %w", s.dir, err)
	}
	s.mu.Lock()
	s.segments = append(s.segments, &segment{first: first, path: path, f: f})
	s.mu.Unlock()
	return nil
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close stops the writer after the appends already queued, and closes the
// files. It is safe to call more than once.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.closing)
		<-s.done
		s.idx.wait()
		// A clean close leaves the newest segment ending with its last
		// record; if the trim fails, the next open cuts the zeros off.
		if !s.opts.ReadOnly && len(s.segments) > 0 {
			if err := s.trim(s.segments[len(s.segments)-1]); err != nil {
				s.opts.Logger.Warn("eventstore: close", "err", err)
			}
		}
		s.mu.Lock()
		s.failed = eventstore.ErrClosed
		close(s.notify)
		s.notify = make(chan struct{})
		s.mu.Unlock()
		s.closeFiles()
	})
	return nil
}

func (s *Store) closeFiles() {
	for _, seg := range s.segments {
		if seg.f != nil {
			seg.f.Close()
		}
	}
	if s.lock != nil {
		s.lock.Close()
	}
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, eventstore.ErrClosed
	}
	if s.opts.ReadOnly {
		if err := s.refresh(); err != nil {
			return 0, err
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head, nil
}

// Streams calls fn for every stream name (in no particular order) with its
// record count; for operators' tools.
func (s *Store) Streams(fn func(name string, records int)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for name, st := range s.streams {
		fn(name, len(st.positions))
	}
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int) ([]eventstore.Record, error) {
	return s.readAll(ctx, from, limit, nil)
}

// readAll is ReadAll; records read from the tail cache go into dst's
// array (a subscription's, reused from one read to the next).
func (s *Store) readAll(ctx context.Context, from uint64, limit int, dst []eventstore.Record) ([]eventstore.Record, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from == 0 {
		from = 1
	}
	if limit <= 0 {
		return nil, nil
	}
	s.mu.RLock()
	head := s.head
	if from > head {
		s.mu.RUnlock()
		return nil, nil
	}
	to := head
	if uint64(limit) < to-from+1 {
		to = from + uint64(limit) - 1
	}
	if recs, ok := s.cache.rangeCopy(from, to, dst); ok {
		s.mu.RUnlock()
		return recs, nil
	}
	// From disk: one contiguous read per segment touched.
	type span struct {
		seg        *segment
		start, end int64
		count      int
	}
	var spans []span
	for p := from; p <= to; {
		seg := s.segmentOf(p)
		i := int(p - seg.first)
		j := len(seg.offsets) - 1
		if last := int(to - seg.first); last < j {
			j = last
		}
		end := seg.size
		if j+1 < len(seg.offsets) {
			end = seg.offsets[j+1]
		}
		// Keep one read under 16 MiB; the caller asks again for the rest.
		for j > i && end-seg.offsets[i] > 16<<20 {
			j = i + (j-i)/2
			end = seg.offsets[j+1]
		}
		spans = append(spans, span{seg, seg.offsets[i], end, j - i + 1})
		p = seg.first + uint64(j) + 1
		if j < len(seg.offsets)-1 {
			break
		}
	}
	s.mu.RUnlock()
	out := make([]eventstore.Record, 0, to-from+1)
	for _, sp := range spans {
		buf := make([]byte, sp.end-sp.start)
		if _, err := sp.seg.f.ReadAt(buf, sp.start); err != nil && err != io.EOF {
			return nil, s.readErr(sp.seg, err)
		}
		for k, off := 0, 0; k < sp.count; k++ {
			r, n, err := decodeRecord(buf[off:], s.intern)
			if err != nil {
				return nil, &CorruptError{File: sp.seg.path, Offset: sp.start + int64(off), Reason: err.Error()}
			}
			out = append(out, r)
			off += n
		}
	}
	return out, nil
}

func (s *Store) readErr(seg *segment, err error) error {
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	return fmt.Errorf("%w: read %s: %v", eventstore.ErrUnavailable, seg.path, err)
}

// intern returns the canonical string of a stream name or type, avoiding
// an allocation per decoded record for the common names.
func (s *Store) intern(b []byte) string {
	s.mu.RLock()
	st, ok := s.streams[string(b)]
	s.mu.RUnlock()
	if ok {
		return st.name
	}
	if v, ok := internedTypes.Load(string(b)); ok {
		return v.(string)
	}
	str := string(b)
	if len(str) <= eventstore.MaxTypeLength {
		internedTypes.LoadOrStore(str, str)
	}
	return str
}

var internedTypes sync.Map

// segmentOf returns the segment holding position p (mu held).
func (s *Store) segmentOf(p uint64) *segment {
	i := sort.Search(len(s.segments), func(i int) bool { return s.segments[i].first > p }) - 1
	return s.segments[i]
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, name string, dir eventstore.Direction, from uint64, limit int) ([]eventstore.Record, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStreamName(name); err != nil {
		return nil, err
	}
	if s.opts.ReadOnly {
		if err := s.refresh(); err != nil {
			return nil, err
		}
	}
	if limit <= 0 {
		return nil, nil
	}
	s.mu.RLock()
	st := s.streams[name]
	if st == nil {
		s.mu.RUnlock()
		return nil, nil
	}
	n := uint64(len(st.positions))
	var positions []uint64
	switch dir {
	case eventstore.Forwards:
		for r := from; r < n && len(positions) < limit; r++ {
			positions = append(positions, st.positions[r])
		}
	case eventstore.Backwards:
		if from >= n {
			from = n - 1
		}
		for r := int64(from); r >= 0 && len(positions) < limit; r-- {
			positions = append(positions, st.positions[r])
		}
	default:
		s.mu.RUnlock()
		return nil, fmt.Errorf("eventstore: invalid direction %d", dir)
	}
	s.mu.RUnlock()
	return s.readPositions(positions)
}

// readPositions reads the records at the given positions, in that order.
func (s *Store) readPositions(positions []uint64) ([]eventstore.Record, error) {
	out := make([]eventstore.Record, 0, len(positions))
	for i := 0; i < len(positions); {
		p := positions[i]
		s.mu.RLock()
		if r, ok := s.cache.get(p); ok {
			s.mu.RUnlock()
			r.Data = append(json.RawMessage(nil), r.Data...)
			out = append(out, r)
			i++
			continue
		}
		seg := s.segmentOf(p)
		k := int(p - seg.first)
		start := seg.offsets[k]
		// Extend over a run of adjacent positions in the same segment.
		j := i + 1
		for j < len(positions) && positions[j] == positions[j-1]+1 && int(positions[j]-seg.first) < len(seg.offsets) {
			j++
		}
		last := int(positions[j-1] - seg.first)
		end := seg.size
		if last+1 < len(seg.offsets) {
			end = seg.offsets[last+1]
		}
		s.mu.RUnlock()
		buf := make([]byte, end-start)
		if _, err := seg.f.ReadAt(buf, start); err != nil && err != io.EOF {
			return nil, s.readErr(seg, err)
		}
		for off := 0; i < j; i++ {
			r, n, err := decodeRecord(buf[off:], s.intern)
			if err != nil {
				return nil, &CorruptError{File: seg.path, Offset: start + int64(off), Reason: err.Error()}
			}
			out = append(out, r)
			off += n
		}
	}
	return out, nil
}

// Subscribe implements eventstore.Store.
func (s *Store) Subscribe(ctx context.Context, after uint64) (eventstore.Subscription, error) {
	if s.closed.Load() {
		return nil, eventstore.ErrClosed
	}
	return &subscription{s: s, next: after + 1, closed: make(chan struct{})}, nil
}

type subscription struct {
	s      *Store
	next   uint64
	buf    []eventstore.Record
	i      int
	closed chan struct{}
	once   sync.Once
}

func (sub *subscription) Next(ctx context.Context) (eventstore.Record, error) {
	for {
		select {
		case <-sub.closed:
			return eventstore.Record{}, eventstore.ErrClosed
		default:
		}
		if sub.s.closed.Load() {
			return eventstore.Record{}, eventstore.ErrClosed
		}
		if sub.i < len(sub.buf) {
			r := sub.buf[sub.i]
			sub.i++
			sub.next = r.Position + 1
			return r, nil
		}
		s := sub.s
		s.mu.RLock()
		wait := s.notify
		s.mu.RUnlock()
		// The records returned so far were copies: a small array is
		// reused (a large one, of a catch-up read, would keep its old
		// records' data alive).
		dst := sub.buf[:0]
		if cap(dst) > 64 {
			dst = nil
		}
		recs, err := s.readAll(ctx, sub.next, 1024, dst)
		if err != nil {
			return eventstore.Record{}, err
		}
		if len(recs) > 0 {
			sub.buf, sub.i = recs, 0
			continue
		}
		if err := sub.wait(ctx, wait); err != nil {
			return eventstore.Record{}, err
		}
		if s.closed.Load() {
			return eventstore.Record{}, eventstore.ErrClosed
		}
	}
}

// wait blocks until the writer commits (notify closes), or, for a
// read-only store, until the next poll finds nothing or something new.
func (sub *subscription) wait(ctx context.Context, notify <-chan struct{}) error {
	var poll <-chan time.Time
	if sub.s.opts.ReadOnly {
		t := time.NewTimer(sub.s.opts.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	select {
	case <-notify:
		return nil
	case <-poll:
		return sub.s.refresh()
	case <-sub.closed:
		return eventstore.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (sub *subscription) Close() error {
	sub.once.Do(func() { close(sub.closed) })
	return nil
}

// refresh picks up what the writer added since the last look (read-only
// stores only).
func (s *Store) refresh() error {
	if !s.opts.ReadOnly {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.head
	if len(s.segments) > 0 {
		seg := s.segments[len(s.segments)-1]
		if err := s.scan(seg, seg.size, true, nil); err != nil {
			return err
		}
	}
	firsts, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	for _, first := range firsts {
		if len(s.segments) > 0 && first <= s.segments[len(s.segments)-1].first {
			continue
		}
		if first != s.head+1 {
			break // the writer is between segments; look again later
		}
		path := filepath.Join(s.dir, segmentName(first))
		f, err := s.openFile(path, os.O_RDONLY)
		if err != nil {
			return err
		}
		seg := &segment{first: first, path: path, f: f}
		s.segments = append(s.segments, seg)
		if err := s.scan(seg, 0, true, nil); err != nil {
			return err
		}
	}
	if s.head != before {
		close(s.notify)
		s.notify = make(chan struct{})
	}
	return nil
}
