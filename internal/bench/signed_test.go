package bench

import (
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
)

// TestSignedRoundTrip: the pre-signed encodings decode to the transactions
// sign built, in order, with valid signatures, and one submission's
// transactions do not share writable backing arrays.
func TestSignedRoundTrip(t *testing.T) {
	n := ledgertest.New()
	owners := []*crypto.PrivateKey{ledgertest.MustKey(), ledgertest.MustKey(), ledgertest.MustKey()}
	o := Options{Inputs: 2, Outputs: 3}
	notes := make([]money.Note, 20)
	owner := make([]int, len(notes))
	for i := range notes {
		notes[i] = money.Note{TxID: money.TxID{byte(i)}, Index: uint32(i), Output: money.Output{Value: 100 + uint64(i), Lock: money.KeyLock(owners[i%3].Public())}}
		owner[i] = i % 3
	}
	s, err := sign(n.Network, notes, owner, owners, o)
	if err != nil {
		t.Fatal(err)
	}
	if s.len() != 10 {
		t.Fatalf("%d transactions, want 10", s.len())
	}
	txs, err := s.decode(3, 8)
	if err != nil {
		t.Fatal(err)
	}
	for k, tx := range txs {
		i := 3 + k
		if tx.Nonce != uint64(i) || tx.Inputs[0] != notes[2*i] || tx.Inputs[1] != notes[2*i+1] || len(tx.Outputs) != 3 {
			t.Fatalf("tx %d decoded as %+v", i, tx)
		}
		if in, out := tx.Sums(); in != out {
			t.Fatalf("tx %d: in %d out %d", i, in, out)
		}
		id := n.Network.TxID(tx)
		for j := range tx.Inputs {
			if !crypto.Verify(crypto.PublicKey(tx.Inputs[j].Lock.Key), crypto.Spend, n.Network.ID, id, tx.InputSigs[j]) {
				t.Fatalf("tx %d input %d: bad signature", i, j)
			}
		}
	}
	for _, tx := range txs {
		if cap(tx.Inputs) != 2 || cap(tx.InputSigs) != 2 || cap(tx.Outputs) != 3 {
			t.Fatalf("shared arrays not capped: %d %d %d", cap(tx.Inputs), cap(tx.InputSigs), cap(tx.Outputs))
		}
	}
}

// TestSpanShapesTheLoad: for a sharded target, --span single signs
// transactions whose inputs and outputs all live in one group, --span
// cross ones whose inputs and every output but the first live in one group
// and the first output in another; signatures still verify.
func TestSpanShapesTheLoad(t *testing.T) {
	n := ledgertest.New()
	owners := []*crypto.PrivateKey{ledgertest.MustKey(), ledgertest.MustKey()}
	notes := make([]money.Note, 64)
	owner := make([]int, len(notes))
	for i := range notes {
		notes[i] = money.Note{TxID: money.TxID{byte(i), 1}, Index: uint32(i), Output: money.Output{Value: 100, Lock: money.KeyLock(owners[i%2].Public())}}
		owner[i] = i % 2
	}
	for _, span := range []string{SpanSingle, SpanCross} {
		o := Options{Inputs: 2, Outputs: 2, Groups: 3, Span: span}
		ns, ow := byGroup(n.Network, notes, owner, o)
		s, err := sign(n.Network, ns, ow, owners, o)
		if err != nil {
			t.Fatal(err)
		}
		txs, err := s.decode(0, s.len())
		if err != nil {
			t.Fatal(err)
		}
		if len(txs) < 8 {
			t.Fatalf("%s: only %d transactions", span, len(txs))
		}
		for i, tx := range txs {
			home := shard.GroupOf(n.Network.NoteID(&tx.Inputs[0]), 3)
			if g := shard.GroupOf(n.Network.NoteID(&tx.Inputs[1]), 3); g != home {
				t.Fatalf("%s tx %d: inputs in groups %d and %d", span, i, home, g)
			}
			id := n.Network.TxID(tx)
			for j, out := range tx.OutputNotes(id) {
				away := shard.GroupOf(n.Network.NoteID(&out), 3) != home
				if away != (span == SpanCross && j == 0) {
					t.Fatalf("%s tx %d: output %d away from home: %v", span, i, j, away)
				}
			}
			if !crypto.Verify(crypto.PublicKey(tx.Inputs[0].Lock.Key), crypto.Spend, n.Network.ID, id, tx.InputSigs[0]) {
				t.Fatalf("%s tx %d: bad signature", span, i)
			}
		}
	}
}
