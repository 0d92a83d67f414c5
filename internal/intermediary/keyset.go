package intermediary

import (
	"hash/maphash"
	"sync"

	"github.com/specie/specie/internal/store"
)

// keySet remembers which store keys under one prefix exist, by a 64-bit
// hash of each, so that looking up a key it has never seen skips the
// store. A new payment's idempotency key and the lock of another
// intermediary's wallet are almost always absent, and an absent key costs
// a seek in every memtable and a filter probe in every table (3 to 5% of
// a payment's CPU each).
//
// It may answer "maybe" for an absent key (two keys sharing a hash, or a
// set grown past maxKeySet, which then answers "maybe" to everything until
// the next Open); the store is then read and stays the truth. It never
// answers "no" for a key in the store, because the set counts the keys of
// each hash: add runs before the write that creates a key commits, remove
// after the write that deletes one, once for each such write, and the
// callers serialise the writes of one key (an idempotency key's lock; a
// lock is written once, with its wallet, and never deleted).
type keySet struct {
	seed maphash.Seed
	mu   sync.Mutex
	n    map[uint64]uint32 // hash -> how many keys in the store have it
	max  int               // maxKeySet; less in tests
	full bool              // past max: every answer is "maybe"
}

// maxKeySet bounds a keySet's memory (about 20 bytes a key); a store with
// more keys under the prefix reads the store for each lookup, as before.
const maxKeySet = 1 << 22

func newKeySet() *keySet {
	return &keySet{seed: maphash.MakeSeed(), n: make(map[uint64]uint32), max: maxKeySet}
}

// load adds every key under prefix in db (the part after the prefix), at
// Open, before any lookup.
func (s *keySet) load(db *store.DB, prefix string) error {
	return db.Scan([]byte(prefix), nil, func(k, _ []byte) error {
		s.add(k[len(prefix):])
		if s.isFull() {
			return store.ErrStop
		}
		return nil
	})
}

func (s *keySet) mayHave(k []byte) bool { return s.mayHaveHash(maphash.Bytes(s.seed, k)) }

func (s *keySet) mayHaveString(k string) bool { return s.mayHaveHash(maphash.String(s.seed, k)) }

func (s *keySet) mayHaveHash(h uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full || s.n[h] > 0
}

func (s *keySet) add(k []byte) { s.addHash(maphash.Bytes(s.seed, k)) }

func (s *keySet) addString(k string) { s.addHash(maphash.String(s.seed, k)) }

func (s *keySet) addHash(h uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return
	}
	s.n[h]++
	if len(s.n) > s.max {
		s.full, s.n = true, nil
	}
}

// removeString undoes one addString of k, after the key's deletion
// committed.
func (s *keySet) removeString(k string) {
	h := maphash.String(s.seed, k)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c := s.n[h]; {
	case s.full || c == 0:
	case c == 1:
		delete(s.n, h)
	default:
		s.n[h] = c - 1
	}
}

func (s *keySet) isFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full
}
