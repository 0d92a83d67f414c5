package ledger

import (
	"encoding/binary"
	"testing"

	"github.com/specie/specie/money"
)

// BenchmarkShardApply measures the state machine step without storage: a
// batch of 1024 two-input, two-output transfers decided against the
// in-memory unspent index (1M notes over 16 shards), then applied to it.
// Spends walk through the genesis notes and on into the notes earlier
// iterations created, so the benchmark runs for any -benchtime.
func BenchmarkShardApply(b *testing.B) {
	const shards, notes, batchSize = 16, 1 << 20, 1024
	set, err := newNoteSet(shards)
	if err != nil {
		b.Fatal(err)
	}
	l := &Ledger{cfg: Config{Shards: shards}, notes: set}
	defer l.notes.close()
	id := func(i uint64) (n money.NoteID) {
		binary.BigEndian.PutUint64(n[:], i*0x9E3779B97F4A7C15)
		binary.BigEndian.PutUint64(n[8:], i)
		return n
	}
	for i := uint64(0); i < notes; i++ {
		n := id(i)
		l.notes.shards[l.shardOf(&n)].put(&n, 100)
	}
	next := uint64(notes)
	batch := make([]*checked, batchSize)
	v := view{unspent: func(n *money.NoteID, value uint64) bool { return l.notes.get(l.shardOf(n), n) == value }}
	spend := uint64(0)
	b.ResetTimer()
	for b.Loop() {
		for k := range batch {
			c := &checked{tx: &money.Tx{Kind: money.Transfer, Inputs: make([]money.Note, 2), Outputs: []money.Output{{Value: 100}, {Value: 100}}}, in: 200, out: 200}
			c.tx.Inputs[0].Value, c.tx.Inputs[1].Value = 100, 100
			c.ins = []money.NoteID{id(spend), id(spend + 1)}
			c.outs = []money.NoteID{id(next), id(next + 1)}
			spend, next = spend+2, next+2
			batch[k] = c
		}
		before := meta{minted: 1 << 40, unspentSum: 1 << 40, unspent: notes}
		out, err := apply(&before, batch, v)
		if err != nil || len(out.ids) != batchSize {
			b.Fatalf("apply: %v, %d committed", err, len(out.ids))
		}
		for _, c := range batch {
			for j := range c.ins {
				l.notes.shards[l.shardOf(&c.ins[j])].del(&c.ins[j])
			}
			for j := range c.outs {
				l.notes.shards[l.shardOf(&c.outs[j])].put(&c.outs[j], c.tx.Outputs[j].Value)
			}
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "tx/s")
}
