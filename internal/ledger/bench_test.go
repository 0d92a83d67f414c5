package ledger_test

import (
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
)

// BenchmarkCommit measures the whole path for batches of 2-in 2-out
// transfers: validation with batch signature verification on all cores,
// the shard lookups, the state machine and the fsynced Pebble write.
func BenchmarkCommit(b *testing.B) {
	n := ledgertest.New()
	l, err := ledger.Open(b.TempDir(), n.Config())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const batch = 1024
	k := ledgertest.MustKey()
	total := uint64(b.N+batch) * 2
	var notes []money.Note
	err = l.Genesis(total, func(uint64) money.Output { return ledgertest.To(k, 100) }, func(tx *money.Tx, id money.TxID) {
		notes = append(notes, tx.OutputNotes(id)...)
	})
	if err != nil {
		b.Fatal(err)
	}
	txs := make([]*money.Tx, 0, b.N)
	keys := []*crypto.PrivateKey{k, k}
	for i := 0; i < b.N; i++ {
		txs = append(txs, n.Spend(money.Transfer, notes[2*i:2*i+2], keys, ledgertest.To(k, 150), ledgertest.To(k, 50)))
	}
	b.ResetTimer()
	for s := 0; s < len(txs); s += batch {
		rs, err := l.SubmitBatch(ctx, txs[s:min(s+batch, len(txs))])
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}
