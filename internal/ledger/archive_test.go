package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
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

// TestArchiveHoldsEveryLoggedBatchAfterAFailedCommit fails each operation
// on the log of one commit in turn, with the archive on. The archive entry
// is written (synced) before the log record, so whatever a crash right
// after leaves, every batch the log holds is served in full; and a batch
// refused after its entry was written is served, once it commits on the
// second try, with what committed, never the leftover.
func TestArchiveHoldsEveryLoggedBatchAfterAFailedCommit(t *testing.T) {
	for target := 0; ; target++ {
		n := ledgertest.New()
		cfg := n.TestConfig()
		cfg.Archive = true
		cfg.SnapshotEvery = 1 << 40
		d := newFaultDisk(vfs.NewCrashableMem())
		l := openOn(t, cfg, d.fs)
		k := ledgertest.MustKey()
		mint := n.Mint([]int{0, 1}, ledgertest.To(k, 100))
		mustSubmit(t, l, mint)
		pay := n.Spend(money.Transfer, n.Notes(mint), []*crypto.PrivateKey{k}, ledgertest.To(ledgertest.MustKey(), 100))
		d.arm(inLog, target)
		_, err := l.Submit(ctx, pay)
		_, injected := d.disarm()
		servedInFull := func(l *ledger.Ledger, what string) {
			t.Helper()
			sup, serr := l.Supply(ctx)
			if serr != nil {
				t.Fatal(serr)
			}
			for seq := uint64(1); seq <= sup.Batches; seq++ {
				b, berr := l.Batch(ctx, seq)
				if berr != nil {
					t.Fatalf("op %d, %s: batch %d: %v", target, what, seq, berr)
				}
				ids := make([]money.Hash, len(b.Txs))
				for i, raw := range b.Txs {
					var tx money.Tx
					if err := tx.UnmarshalBinary(raw); err != nil {
						t.Fatalf("op %d, %s: batch %d tx %d: %v", target, what, seq, i, err)
					}
					ids[i] = n.Network.TxID(&tx)
				}
				if money.MerkleRoot(ids) != b.Header.TxRoot {
					t.Fatalf("op %d, %s: batch %d is served with other transactions than it committed", target, what, seq)
				}
			}
		}
		l2 := crashAndReopen(t, cfg, d, fmt.Sprintf("op %d", target))
		servedInFull(l2, "after a crash")
		l2.Close()
		if errcode.Is(err, errcode.Unavailable) {
			other := n.Mint([]int{0, 1}, ledgertest.To(k, 7))
			mustSubmit(t, l, other)
			servedInFull(l, "the next batch after a refusal")
		}
		l.Close()
		if !injected {
			return // every operation of the commit has been failed once
		}
	}
}
