package filestore

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
)

// idSets are the kinds of record IDs a table must handle: random ones,
// time-ordered ones sharing their leading bytes, and plain counters.
func idSets(n int) map[string][]uuid.UUID {
	sets := map[string][]uuid.UUID{}
	for i := range n {
		sets["random"] = append(sets["random"], uuid.New())
		v7 := uuid.Must(uuid.NewV7())
		sets["v7"] = append(sets["v7"], v7)
		var c uuid.UUID
		binary.BigEndian.PutUint64(c[8:], uint64(i))
		sets["counter"] = append(sets["counter"], c)
	}
	return sets
}

func tableOf(ids []uuid.UUID) idTable {
	ents := make([]idEntry, len(ids))
	for i, id := range ids {
		ents[i] = idEntry{h: hashID(id), id: id, rel: uint32(i)}
	}
	return buildIDTable(ents)
}

// TestIDTableFinds: every ID of a table is found at its index, no other ID
// is, for tables of every size and kind of ID; a table rebuilt from its
// bytes (as from an index file) is the same.
func TestIDTableFinds(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 3, 4, 5, 17, 1000, 20000} {
		for kind, ids := range idSets(n) {
			tab := tableOf(ids)
			if tab.len() != n {
				t.Fatalf("%s/%d: table of %d", kind, n, tab.len())
			}
			for i, id := range ids {
				if rel, ok := tab.find(id, hashID(id)); !ok || rel != uint32(i) {
					t.Fatalf("%s/%d: %v found %v at %d, want %d", kind, n, id, ok, rel, i)
				}
			}
			for range 1000 {
				id := uuid.New()
				if _, ok := tab.find(id, hashID(id)); ok {
					t.Fatalf("%s/%d: found %v, which is not in the table", kind, n, id)
				}
			}
			again, ok := newIDTable(tab.ents, n)
			if !ok {
				t.Fatalf("%s/%d: a built table is refused when loaded", kind, n)
			}
			if len(again.dir) != len(tab.dir) || again.shift != tab.shift {
				t.Fatalf("%s/%d: directories differ", kind, n)
			}
			for i := range tab.dir {
				if again.dir[i] != tab.dir[i] {
					t.Fatalf("%s/%d: directory slot %d: %d, built %d", kind, n, i, again.dir[i], tab.dir[i])
				}
			}
		}
	}
}

// TestIDTableLaterWins: an ID that occurs twice (which the writer never
// lets happen) is found at its later record, as with the map it replaces.
func TestIDTableLaterWins(t *testing.T) {
	t.Parallel()
	ids := idSets(50)["random"]
	ids[40] = ids[7]
	tab := tableOf(ids)
	if rel, ok := tab.find(ids[7], hashID(ids[7])); !ok || rel != 40 {
		t.Fatalf("found at %d (%v), want 40", rel, ok)
	}
	if _, ok := newIDTable(tab.ents, len(ids)); !ok {
		t.Fatal("refused a table with a repeated ID")
	}
}

// TestIDTableRefusesBadBytes: a table loaded from a file must be a sorted
// permutation of the segment's records, or it could miss IDs.
func TestIDTableRefusesBadBytes(t *testing.T) {
	t.Parallel()
	ids := idSets(100)["random"]
	good := tableOf(ids).ents
	cases := map[string]func(b []byte) ([]byte, int){
		"swapped": func(b []byte) ([]byte, int) {
			e := make([]byte, idEntrySize)
			copy(e, b[10*idEntrySize:])
			copy(b[10*idEntrySize:11*idEntrySize], b[11*idEntrySize:])
			copy(b[11*idEntrySize:], e)
			return b, 100
		},
		"index out of range": func(b []byte) ([]byte, int) {
			binary.LittleEndian.PutUint32(b[5*idEntrySize+16:], 100)
			return b, 100
		},
		"index twice": func(b []byte) ([]byte, int) {
			copy(b[5*idEntrySize+16:5*idEntrySize+20], b[6*idEntrySize+16:])
			return b, 100
		},
		"short":   func(b []byte) ([]byte, int) { return b[:len(b)-1], 100 },
		"missing": func(b []byte) ([]byte, int) { return b[:len(b)-idEntrySize], 100 },
	}
	for name, damage := range cases {
		b, n := damage(append([]byte(nil), good...))
		if _, ok := newIDTable(b, n); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestIDFilter: no false negatives; few false positives.
func TestIDFilter(t *testing.T) {
	t.Parallel()
	for kind, ids := range idSets(50000) {
		f := newIDFilter(len(ids))
		tab := tableOf(ids)
		f.addTable(&tab)
		for _, id := range ids {
			if !f.mayContain(hashID(id)) {
				t.Fatalf("%s: %v added but not contained", kind, id)
			}
		}
		fp := 0
		for range 100000 {
			if f.mayContain(hashID(uuid.New())) {
				fp++
			}
		}
		if fp > 5000 {
			t.Fatalf("%s: %d false positives in 100000", kind, fp)
		}
		if f.full(0) || !f.full(len(ids)*4) {
			t.Fatalf("%s: full(0)=%v full(4n)=%v", kind, f.full(0), f.full(len(ids)*4))
		}
	}
	if e := newIDFilter(0); e.mayContain(rand.Uint64()) {
		t.Fatal("an empty filter contains something")
	}
}
