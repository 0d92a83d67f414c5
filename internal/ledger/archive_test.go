package ledger_test

import (
	"context"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
)

// TestArchiveServesEveryBatchInFull: with Config.Archive, Batch returns each
// committed transaction in its canonical encoding, in commit order, so
// that the txids rebuild the header's Merkle root; the genesis batch too,
// and across a restart. Without the archive, Batch is not_found.
func TestArchiveServesEveryBatchInFull(t *testing.T) {
	ctx := context.Background()
	n := ledgertest.New()
	dir := t.TempDir()
	cfg := n.TestConfig()
	cfg.Archive = true
	l, err := ledger.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := ledgertest.MustKey()
	if err := l.Genesis(70, func(uint64) money.Output { return ledgertest.To(g, 2) }, nil); err != nil {
		t.Fatal(err)
	}
	alice := ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 500))
	if _, err := l.Submit(ctx, mint); err != nil {
		t.Fatal(err)
	}
	pay := n.Spend(money.Transfer, n.Notes(mint), []*crypto.PrivateKey{alice}, ledgertest.To(g, 500))
	if _, err := l.Submit(ctx, pay); err != nil {
		t.Fatal(err)
	}
	check := func(l *ledger.Ledger) {
		t.Helper()
		for seq := uint64(1); seq <= 3; seq++ {
			b, err := l.Batch(ctx, seq)
			if err != nil {
				t.Fatalf("batch %d: %v", seq, err)
			}
			if int(b.Header.TxCount) != len(b.Txs) || b.Header.Seq != seq {
				t.Fatalf("batch %d: header %+v with %d transactions", seq, b.Header, len(b.Txs))
			}
			ids := make([]money.Hash, len(b.Txs))
			for i, raw := range b.Txs {
				var tx money.Tx
				if err := tx.UnmarshalBinary(raw); err != nil {
					t.Fatalf("batch %d tx %d: %v", seq, i, err)
				}
				ids[i] = n.Network.TxID(&tx)
			}
			if money.MerkleRoot(ids) != b.Header.TxRoot {
				t.Fatalf("batch %d: archived txids do not rebuild the root", seq)
			}
		}
		if _, err := l.Batch(ctx, 4); errcode.Of(err) != errcode.NotFound {
			t.Fatalf("batch past the head: %v, want not_found", err)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = ledger.Open(dir, cfg); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check(l)

	plain, err := ledger.Open(t.TempDir(), n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Submit(ctx, n.Mint([]int{0, 1}, ledgertest.To(alice, 5))); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Batch(ctx, 1); errcode.Of(err) != errcode.NotFound {
		t.Fatalf("a ledger without its archive: %v, want not_found", err)
	}
}
