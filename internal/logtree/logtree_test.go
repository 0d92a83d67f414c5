package logtree

import (
	"crypto/sha256"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
)

func leaves(n int) []money.Hash {
	out := make([]money.Hash, n)
	for i := range out {
		out[i] = sha256.Sum256([]byte{byte(i), byte(i >> 8)})
	}
	return out
}

// TestTreeRootsAndConsistencyProofs: the tree's root of every size is the
// RFC 9162 root over the header hashes (money.MerkleRoot), every
// consistency proof between two sizes verifies, and a proof against a
// different history does not.
func TestTreeRootsAndConsistencyProofs(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testTree(t, &Tree{}) })
	t.Run("file", func(t *testing.T) {
		tr, err := NewFileTree(t.TempDir() + "/tree")
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		testTree(t, tr)
	})
}

func testTree(t *testing.T, tr *Tree) {
	ls := leaves(40)
	for _, l := range ls {
		if err := tr.Append(l); err != nil {
			t.Fatal(err)
		}
	}
	other := append(append([]money.Hash(nil), ls[:17]...), leaves(100)[70:93]...)
	for to := uint64(1); to <= 40; to++ {
		root, err := tr.Root(to)
		if err != nil || root != RootOf(ls[:to]) {
			t.Fatalf("root of %d: %v, %v", to, root, err)
		}
		for from := uint64(1); from <= to; from++ {
			p, err := tr.Consistency(from, to)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(p, from, RootOf(ls[:from]), to, root); err != nil {
				t.Fatalf("consistency %d to %d: %v", from, to, err)
			}
			// A split view: a log that agrees up to 17 and differs after.
			if from > 17 && from < to {
				if VerifyConsistency(p, from, RootOf(other[:from]), to, root) == nil {
					t.Fatalf("consistency %d to %d verified against another history", from, to)
				}
			}
		}
	}
	if _, err := tr.Consistency(3, 41); err == nil {
		t.Fatal("a proof past the tree's size")
	}
}

// TestCheckpointSignedAndOpened: a signed checkpoint opens with the log's
// key to the same statement, and not with another key or once changed.
func TestCheckpointSignedAndOpened(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 7))
	s, err := NewSigner("specie-test-log", ledgertest.KeyFrom(rng))
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{Origin: "specie/test", Size: 12, Root: leaves(1)[0], Time: time.Unix(1764646800, 0).UTC()}
	msg, err := s.Sign(&c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(msg, s.VerifierKey())
	if err != nil || got != c {
		t.Fatalf("opened %+v, %v; signed %+v", got, err, c)
	}
	other, err := NewSigner("specie-test-log", ledgertest.KeyFrom(rng))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(msg, other.VerifierKey()); err == nil {
		t.Fatal("opened with another key")
	}
	changed := strings.Replace(string(msg), "\n12\n", "\n13\n", 1)
	if _, err := Open([]byte(changed), s.VerifierKey()); err == nil {
		t.Fatal("opened a changed checkpoint")
	}
}

// FuzzParseCheckpoint: a checkpoint's text comes from the ledger, trusted
// by nobody; whatever parses re-renders to the same text.
func FuzzParseCheckpoint(f *testing.F) {
	c := Checkpoint{Origin: "specie/x", Size: 3, Root: leaves(1)[0], Time: time.Unix(5, 0).UTC()}
	f.Add(c.Text())
	f.Add("a\n1\nAAAA\ntime 1\n")
	f.Add("specie/x\n01\n\ntime -0\n")
	f.Fuzz(func(t *testing.T, text string) {
		got, err := ParseText(text)
		if err != nil {
			return
		}
		if again := got.Text(); again != text {
			t.Fatalf("checkpoint re-renders as %q, parsed from %q", again, text)
		}
	})
}

// TestCosignedCheckpointNeedsEnoughWitnesses: a checkpoint counts with
// the log's signature and as many witness cosignatures as asked for;
// cosignatures of unknown witnesses do not count, and a witness cannot
// cosign what the log did not sign.
func TestCosignedCheckpointNeedsEnoughWitnesses(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(8, 8))
	log, _ := NewSigner("specie/test", ledgertest.KeyFrom(rng))
	w1, _ := NewSigner("witness-bank-a", ledgertest.KeyFrom(rng))
	w2, _ := NewSigner("witness-auditor", ledgertest.KeyFrom(rng))
	stranger, _ := NewSigner("witness-stranger", ledgertest.KeyFrom(rng))
	c := Checkpoint{Origin: "specie/test", Size: 4, Root: leaves(1)[0], Time: time.Unix(9, 0).UTC()}
	msg, err := log.Sign(&c)
	if err != nil {
		t.Fatal(err)
	}
	ws := []string{w1.VerifierKey(), w2.VerifierKey()}
	one, err := Cosign(msg, log.VerifierKey(), w1)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Cosign(one, log.VerifierKey(), w2, ws...)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenCosigned(one, log.VerifierKey(), ws, 2); err == nil {
		t.Fatal("one cosignature passed for two")
	}
	got, by, err := OpenCosigned(two, log.VerifierKey(), ws, 2)
	if err != nil || got != c || len(by) != 2 {
		t.Fatalf("two cosignatures: %+v by %v, %v", got, by, err)
	}
	odd, err := Cosign(msg, log.VerifierKey(), stranger)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenCosigned(odd, log.VerifierKey(), ws, 1); err == nil {
		t.Fatal("a stranger's cosignature counted")
	}
	forged, err := stranger.Sign(&c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Cosign(forged, log.VerifierKey(), w1); err == nil {
		t.Fatal("cosigned a checkpoint the log did not sign")
	}
}
