package intermediary

import "testing"

// A keySet counts the keys of each hash, so deleting one of two keys that
// share a hash (here: one key added twice, as a collision would) still
// finds the other; and a full set answers "maybe" to everything rather
// than "no" to a key it dropped.
func TestKeySetNeverForgetsAKeyStillThere(t *testing.T) {
	s := newKeySet()
	if s.mayHaveString("a") {
		t.Fatal("empty set: maybe has a")
	}
	s.addString("a")
	s.add([]byte("a")) // the same hash, as a second key colliding with it
	s.removeString("a")
	if !s.mayHaveString("a") {
		t.Fatal("one of two keys of a hash removed: the other reads as absent")
	}
	s.removeString("a")
	if s.mayHaveString("a") {
		t.Fatal("both removed: still maybe")
	}
	s.removeString("a") // more removes than adds change nothing
	s.addString("a")
	if !s.mayHaveString("a") {
		t.Fatal("added again after extra removes: absent")
	}

	s.max = 100
	for i := 0; i <= s.max; i++ {
		s.addHash(uint64(i) + 1<<40)
	}
	if !s.isFull() || !s.mayHaveString("never added") {
		t.Fatalf("past %d keys: full %v, maybe has a key never added: %v", s.max, s.isFull(), s.mayHaveString("never added"))
	}
	s.removeString("a")
	if !s.mayHaveString("a") {
		t.Fatal("full set answered no")
	}
}
