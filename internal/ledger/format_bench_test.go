package ledger

import (
	"encoding/binary"
	"testing"

	"github.com/specie/specie/money"
)

// benchRecord is the record of a full batch: 1024 transfers, each
// spending one note and creating two.
func benchRecord() record {
	const n = 1024
	r := record{header: money.BatchHeader{Seq: 9, TxCount: n}, unspent: 1 << 20, unspentSum: 1 << 40}
	for i := range n {
		var h money.Hash
		binary.BigEndian.PutUint64(h[:], uint64(i)*0x9e3779b97f4a7c15)
		r.ids = append(r.ids, h)
		r.kinds = append(r.kinds, money.Transfer)
		r.outputs = append(r.outputs, 2)
		r.dels = append(r.dels, h)
		r.puts = append(r.puts, created{h, 100}, created{h, 200})
	}
	return r
}

// BenchmarkEncodeFormats is the encoding the commit path does for a full
// batch: the batch body, the log record, every txid's location and the
// meta (the store writes and the fsync are not in it).
func BenchmarkEncodeFormats(b *testing.B) {
	r := benchRecord()
	var buf []byte
	locs := make([][txLocSize]byte, len(r.ids))
	m := meta{seq: 9}
	for b.Loop() {
		r.body = appendBatch(r.body[:0], &r.header, r.ids)
		buf = r.appendTo(buf[:0])
		for i := range r.ids {
			loc := txLoc{seq: r.header.Seq, index: uint32(i), kind: r.kinds[i], outputs: r.outputs[i]}
			loc.put(&locs[i])
		}
		_ = m.encode()
	}
	b.SetBytes(int64(len(buf)))
}
