package ledger

import (
	"math/rand/v2"
	"testing"

	"github.com/specie/specie/internal/money"
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
