package filestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/google/uuid"

	"switchboard/eventstore"
)

// On-disk format.
//
// The log is a sequence of segment files named by the position of their
// first record (%020d.seg). A segment is a sequence of frames, one record
// per frame:
//
//	frame   = length u32 | crc u32 | payload          (little endian)
//	crc     = CRC-32C (Castagnoli) of payload
//	payload = flags u8 | position u64 | revision u64 | committed i64 (Unix ns)
//	        | id [16] | corr [16] | cause [16] | time i64 (Unix ns, 0 = none)
//	        | streamLen u16 | typeLen u16 | userLen u16 | dataLen u32
//	        | stream | type | user | data
//
// flagLast marks the last record of one Append: an append is durable only
// with its last record, so on open an unfinished append at the tail is cut
// away whole (all or nothing).
//
// Sealed segments also have index files: see index.go.
const (
	frameHeader  = 8
	fixedPayload = 1 + 8 + 8 + 8 + 16 + 16 + 16 + 8 + 2 + 2 + 2 + 4
	// maxPayload bounds a sane frame: a larger length field is damage.
	maxPayload = fixedPayload + eventstore.MaxStreamNameLength + eventstore.MaxTypeLength +
		eventstore.MaxStreamNameLength + eventstore.MaxRecordSize

	flagLast    = 1 << 0
	flagHasTime = 1 << 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameSize is the encoded size of a record.
func frameSize(stream string, p *eventstore.Proposed) int {
	return frameHeader + fixedPayload + len(stream) + len(p.Type) + len(p.Metadata.User) + len(p.Data)
}

// appendFrame encodes one record onto buf.
func appendFrame(buf []byte, stream string, p *eventstore.Proposed, pos, rev uint64, committed int64, last bool) []byte {
	start := len(buf)
	n := frameSize(stream, p)
	buf = append(buf, make([]byte, n)...)
	b := buf[start:]
	payload := b[frameHeader:]
	var flags byte
	if last {
		flags |= flagLast
	}
	var mt int64
	if !p.Metadata.Time.IsZero() {
		flags |= flagHasTime
		mt = p.Metadata.Time.UnixNano()
	}
	payload[0] = flags
	le := binary.LittleEndian
	le.PutUint64(payload[1:], pos)
	le.PutUint64(payload[9:], rev)
	le.PutUint64(payload[17:], uint64(committed))
	copy(payload[25:41], p.ID[:])
	copy(payload[41:57], p.Metadata.CorrelationID[:])
	copy(payload[57:73], p.Metadata.CausationID[:])
	le.PutUint64(payload[73:], uint64(mt))
	le.PutUint16(payload[81:], uint16(len(stream)))
	le.PutUint16(payload[83:], uint16(len(p.Type)))
	le.PutUint16(payload[85:], uint16(len(p.Metadata.User)))
	le.PutUint32(payload[87:], uint32(len(p.Data)))
	o := fixedPayload
	o += copy(payload[o:], stream)
	o += copy(payload[o:], p.Type)
	o += copy(payload[o:], p.Metadata.User)
	copy(payload[o:], p.Data)
	le.PutUint32(b[0:], uint32(len(payload)))
	le.PutUint32(b[4:], crc32.Checksum(payload, castagnoli))
	return buf
}

// header is the part of a record the index needs.
type header struct {
	flags    byte
	pos, rev uint64
	id       uuid.UUID
	stream   []byte // aliases the frame
	size     int    // whole frame, header included
	crc      uint32 // the frame's checksum
}

var (
	errShort  = errors.New("incomplete frame")
	errFrame  = errors.New("bad frame length")
	errCRC    = errors.New("checksum mismatch")
	errFields = errors.New("field lengths do not fit the frame")
)

// parseHeader checks the frame at the start of b and returns its header.
// errShort means b ends inside the frame.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < frameHeader {
		return h, errShort
	}
	le := binary.LittleEndian
	n := int(le.Uint32(b))
	if n < fixedPayload || n > maxPayload {
		return h, errFrame
	}
	if len(b) < frameHeader+n {
		return h, errShort
	}
	payload := b[frameHeader : frameHeader+n]
	if crc32.Checksum(payload, castagnoli) != le.Uint32(b[4:]) {
		return h, errCRC
	}
	sl, tl, ul, dl := int(le.Uint16(payload[81:])), int(le.Uint16(payload[83:])), int(le.Uint16(payload[85:])), int(le.Uint32(payload[87:]))
	if fixedPayload+sl+tl+ul+dl != n {
		return h, errFields
	}
	h.flags = payload[0]
	h.pos = le.Uint64(payload[1:])
	h.rev = le.Uint64(payload[9:])
	copy(h.id[:], payload[25:41])
	h.stream = payload[fixedPayload : fixedPayload+sl]
	h.size = frameHeader + n
	h.crc = le.Uint32(b[4:])
	return h, nil
}

// decodeRecord decodes a whole frame. Data aliases b; strings are copied
// (or taken from intern, which may be nil).
func decodeRecord(b []byte, intern func([]byte) string) (eventstore.Record, int, error) {
	var r eventstore.Record
	if _, err := parseHeader(b); err != nil {
		return r, 0, err
	}
	le := binary.LittleEndian
	n := int(le.Uint32(b))
	p := b[frameHeader : frameHeader+n]
	r.Position = le.Uint64(p[1:])
	r.Revision = le.Uint64(p[9:])
	r.Committed = time.Unix(0, int64(le.Uint64(p[17:])))
	copy(r.ID[:], p[25:41])
	copy(r.Metadata.CorrelationID[:], p[41:57])
	copy(r.Metadata.CausationID[:], p[57:73])
	if p[0]&flagHasTime != 0 {
		r.Metadata.Time = time.Unix(0, int64(le.Uint64(p[73:])))
	}
	sl, tl, ul, dl := int(le.Uint16(p[81:])), int(le.Uint16(p[83:])), int(le.Uint16(p[85:])), int(le.Uint32(p[87:]))
	o := fixedPayload
	if intern != nil {
		r.Stream = intern(p[o : o+sl])
		r.Type = intern(p[o+sl : o+sl+tl])
	} else {
		r.Stream = string(p[o : o+sl])
		r.Type = string(p[o+sl : o+sl+tl])
	}
	o += sl + tl
	if ul > 0 {
		r.Metadata.User = string(p[o : o+ul])
	}
	o += ul
	r.Data = p[o : o+dl : o+dl]
	return r, frameHeader + n, nil
}

// CorruptError names where the log is damaged.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("eventstore: log corrupt: %s at offset %d: %s (the log is damaged before its tail; restore the file from a backup, or cut it there with 'switchboard repair' if losing what follows is acceptable)", e.File, e.Offset, e.Reason)
}

func (e *CorruptError) Is(target error) bool { return target == eventstore.ErrCorrupt }
