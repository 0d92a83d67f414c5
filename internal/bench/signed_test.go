package bench

import (
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/ledger/ledgertest"
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
