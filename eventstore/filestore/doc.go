// Package filestore is Switchboard's embedded event store: an append-only
// log of checksummed records in segment files under one directory,
// group-committed with fdatasync, with its index in memory.
//
// On disk (format.go): segment files %020d.seg, named by the position of
// their first record, a new one every SegmentSize bytes; the writer's LOCK
// file; and, beside each sealed segment (every segment but the newest, the
// one appends go to), an index file %020d.idx (index.go). The newest
// segment may end with space preallocated ahead of the writes (zeros,
// writer.go: preallocate), which a clean close, the sealing of the segment
// and the open after a crash cut off.
//
// In memory: per segment the offsets of its records; per stream the
// positions of its records; and per segment its record IDs, for
// idempotent appends. A segment's IDs are an idTable (sorted by a hash,
// with a directory on the hash's top bits) built in bulk, plus a map of
// the IDs appended since; a filter over all tables spares a new ID (every
// append's) the search of each table. Lookups go from the newest segment
// to the oldest, so that idempotency holds over the whole log.
//
// Opening the log: each sealed segment is loaded from its index file if
// the file is sound (checksum, structure) and agrees with the segment (its
// size, its first and last frames) and with the segments before it (each
// stream continues at its next revision); otherwise the segment is read
// and every record checked, as before index files, and the file rewritten
// in the background. The newest segment is always read and checked frame
// by frame, and a torn tail cut back. A sealed segment loaded from its
// index file is still read whole, to compare its CRC-32C with the one its
// index file holds (all such segments in parallel): damage anywhere in the
// log stops the open (RELIABILITY.md, T3), and the segment is then
// scanned to name the damaged record's file and offset. What the index
// files save is parsing and indexing every record, and building the ID
// index one entry at a time. Repair ignores the index files and checks
// everything. A read-only store uses valid index files and writes nothing.
//
// Index files are written by one background goroutine: when the writer
// seals a segment (read back, checked, indexed; its IDs then move from the
// map to a table), and after an open that had to scan a sealed segment.
// Each is written to a temporary file, synced, renamed into place, and the
// directory synced. Close lets the goroutine finish what is queued.
package filestore
