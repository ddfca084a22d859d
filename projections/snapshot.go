package projections

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
)

// A snapshot file, <dir>/<name>.snap, holds one projection's state at a log
// position:
//
//	magic      8 bytes  "SBPROJ\x00\x01"
//	version    u16      snapshotFormat
//	name len   u16, then the projection's name
//	position   u64      the last position applied (0: none)
//	last ID    16 bytes the ID of the record at position (zero at 0)
//	length     u64      payload length
//	crc        u32      CRC-32C of everything above and the payload
//	payload             the projection's MarshalSnapshot
//
// Integers are little-endian. The last ID ties the snapshot to one log: a
// snapshot whose position is beyond the log's head, or whose record at that
// position has another ID (the data directory was replaced or the log cut
// by repair), is refused, and the projection replays from zero.
//
// Files are replaced atomically: written to a temporary file in the same
// directory, fsynced, renamed over the old one, and the directory fsynced.
// A crash at any point leaves either the old snapshot or the new one, never
// a torn one; a stray temporary file is ignored (and removed once old). The
// server and the `projections rebuild` tool may both write snapshots:
// every write is a whole-file rename, so readers always see a complete
// snapshot of some position, and whichever is renamed last wins.

const (
	snapshotMagic  = "SBPROJ\x00\x01"
	snapshotFormat = 1
	snapshotExt    = ".snap"
	// staleTemp is how old a temporary snapshot file must be before a
	// starting Runner removes it as left over by a crash.
	staleTemp = 10 * time.Minute
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBadSnapshot is wrapped by the errors of ReadSnapshot for a file that is
// damaged, truncated, of another format, or of another projection.
var ErrBadSnapshot = errors.New("projections: bad snapshot")

// SnapshotHeader says what a snapshot is of.
type SnapshotHeader struct {
	Name     string
	Position uint64
	// LastID is the ID of the record at Position; the zero UUID at 0.
	LastID uuid.UUID
}

// SnapshotDir returns the directory of the projections' snapshots under
// the data directory of the embedded store.
func SnapshotDir(dataDir string) string { return filepath.Join(dataDir, "projections") }

// SnapshotPath returns the file of the named projection's snapshot in dir.
func SnapshotPath(dir, name string) string { return filepath.Join(dir, name+snapshotExt) }

// EncodeSnapshot returns the file contents of a snapshot.
func EncodeSnapshot(h SnapshotHeader, payload []byte) []byte {
	b := make([]byte, 0, 8+2+2+len(h.Name)+8+16+8+4+len(payload))
	b = append(b, snapshotMagic...)
	b = binary.LittleEndian.AppendUint16(b, snapshotFormat)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h.Name)))
	b = append(b, h.Name...)
	b = binary.LittleEndian.AppendUint64(b, h.Position)
	b = append(b, h.LastID[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	crc := crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, payload)
	b = binary.LittleEndian.AppendUint32(b, crc)
	return append(b, payload...)
}

// DecodeSnapshot checks and splits the contents of a snapshot file. The
// payload aliases b.
func DecodeSnapshot(b []byte) (SnapshotHeader, []byte, error) {
	var h SnapshotHeader
	bad := func(why string) (SnapshotHeader, []byte, error) {
		return SnapshotHeader{}, nil, fmt.Errorf("%w: %s", ErrBadSnapshot, why)
	}
	if len(b) < 12 || string(b[:8]) != snapshotMagic {
		return bad("not a snapshot file")
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != snapshotFormat {
		return bad(fmt.Sprintf("format version %d, this code reads %d", v, snapshotFormat))
	}
	n := int(binary.LittleEndian.Uint16(b[10:]))
	fixed := 12 + n + 8 + 16 + 8
	if len(b) < fixed+4 {
		return bad("truncated header")
	}
	h.Name = string(b[12 : 12+n])
	h.Position = binary.LittleEndian.Uint64(b[12+n:])
	copy(h.LastID[:], b[12+n+8:])
	length := binary.LittleEndian.Uint64(b[12+n+24:])
	crc := binary.LittleEndian.Uint32(b[fixed:])
	payload := b[fixed+4:]
	if uint64(len(payload)) != length {
		return bad(fmt.Sprintf("payload is %d bytes, header says %d", len(payload), length))
	}
	if got := crc32.Update(crc32.Checksum(b[:fixed], castagnoli), castagnoli, payload); got != crc {
		return bad("checksum mismatch")
	}
	return h, payload, nil
}

// WriteSnapshot atomically replaces the snapshot of h.Name in dir
// (creating dir if needed): when it returns nil the new snapshot is
// durable; if it fails or the process crashes, the previous one is intact.
func WriteSnapshot(dir string, h SnapshotHeader, payload []byte) (err error) {
	if h.Name == "" || strings.ContainsAny(h.Name, `/\`) || len(h.Name) > 255 {
		return fmt.Errorf("projections: invalid snapshot name %q", h.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, h.Name+snapshotExt+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(EncodeSnapshot(h, payload)); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, SnapshotPath(dir, h.Name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadSnapshot reads and checks the snapshot of the named projection in
// dir. A missing file gives an error matching os.ErrNotExist; a damaged one
// or one of another projection, ErrBadSnapshot.
func ReadSnapshot(dir, name string) (SnapshotHeader, []byte, error) {
	b, err := os.ReadFile(SnapshotPath(dir, name))
	if err != nil {
		return SnapshotHeader{}, nil, err
	}
	h, payload, err := DecodeSnapshot(b)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", SnapshotPath(dir, name), err)
	}
	if h.Name != name {
		return SnapshotHeader{}, nil, fmt.Errorf("%s: %w: it is of projection %q", SnapshotPath(dir, name), ErrBadSnapshot, h.Name)
	}
	return h, payload, nil
}

// removeStaleTemps removes temporary snapshot files older than staleTemp:
// left over by a crash mid-write. Younger ones may belong to a writer at
// work (the server, or the rebuild tool) and are left alone.
func removeStaleTemps(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.Contains(e.Name(), snapshotExt+".tmp-") {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleTemp {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// discard is the Logf used when none is given.
func discard(string, ...any) {}
