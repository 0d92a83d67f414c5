package ledger

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/specie/specie/money"
)

// TestNoteSetAgainstMap drives one shard of the index with random inserts
// and deletes (through growth and wrap-around) and compares it with a map.
func TestNoteSetAgainstMap(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 7))
	s, err := newNoteSet(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	sh := &s.shards[0]
	model := map[money.NoteID]uint64{}
	var ids []money.NoteID
	for step := 0; step < 200_000; step++ {
		if len(ids) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(ids))
			id := ids[i]
			ids[i] = ids[len(ids)-1]
			ids = ids[:len(ids)-1]
			if !sh.del(&id) {
				t.Fatalf("seed %d step %d: delete of present note failed", seed, step)
			}
			delete(model, id)
			continue
		}
		var id money.NoteID
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 && len(ids) > 0 {
			// Crowd one probe run: same home slot as an existing note.
			copy(id[:10], ids[rng.IntN(len(ids))][:10])
		}
		v := 1 + rng.Uint64N(1000)
		if err := sh.put(&id, v); err != nil {
			t.Fatal(err)
		}
		model[id] = v
		ids = append(ids, id)
	}
	if sh.count != len(model) {
		t.Fatalf("seed %d: count %d, model %d", seed, sh.count, len(model))
	}
	for id, v := range model {
		if got := s.get(0, &id); got != v {
			t.Fatalf("seed %d: note %x = %d, want %d", seed, id[:4], got, v)
		}
	}
	var absent money.NoteID
	absent[0] = 0xAA
	if s.get(0, &absent) != 0 || sh.del(&absent) {
		t.Fatal("absent note found")
	}
}

// TestSnapshotCopyIsExact starts a shard's snapshot copy, keeps changing
// the shard (inserts, deletes with backward shifts, growth) while the copy
// goes on in small slices, and checks that the finished image holds exactly
// the notes of the moment the copy started.
func TestSnapshotCopyIsExact(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 11))
	for round := 0; round < 20; round++ {
		s, err := newNoteSet(1)
		if err != nil {
			t.Fatal(err)
		}
		sh := &s.shards[0]
		var ids []money.NoteID
		add := func() {
			var id money.NoteID
			for i := range id {
				id[i] = byte(rng.Uint32())
			}
			if err := sh.put(&id, 1+rng.Uint64N(1000)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		for i := rng.IntN(20_000); i >= 0; i-- {
			add()
		}
		want := map[[24]byte]uint64{}
		for _, id := range ids {
			want[key24(&id)] = sh.getKey(key24(&id))
		}
		buf, err := mapBytes(len(sh.slots) * slotSize)
		if err != nil {
			t.Fatal(err)
		}
		c := sh.startCopy(buf)
		for !sh.copySome(c, 1+rng.IntN(3)*cowChunk*slotSize) {
			for k := rng.IntN(200); k > 0; k-- {
				if rng.IntN(2) == 0 && len(ids) > 0 {
					i := rng.IntN(len(ids))
					sh.del(&ids[i])
					ids[i] = ids[len(ids)-1]
					ids = ids[:len(ids)-1]
				} else {
					add() // may grow the table, which finishes the copy
				}
			}
		}
		got := map[[24]byte]uint64{}
		for _, sl := range imageSlots(c.img) {
			if sl.value != 0 {
				got[sl.key] = sl.value
			}
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d round %d: image holds %d notes, the shard held %d", seed, round, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("seed %d round %d: note %x is %d in the image, was %d", seed, round, k[:4], got[k], v)
			}
		}
		if sh.cow != nil {
			t.Fatalf("seed %d round %d: copy finished but the shard still copies on write", seed, round)
		}
		syscall.Munmap(buf)
		s.close()
	}
}
