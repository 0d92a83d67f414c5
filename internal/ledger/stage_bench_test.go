package ledger

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/specie/specie/money"
)

// BenchmarkStageShard measures copying one shard for its snapshot at 50M
// notes over 16 shards (3.1M notes in the shard). The commit loop spreads
// the copy over batches, SnapshotSlice bytes each; slice_us is that pause.
func BenchmarkStageShard(b *testing.B) {
	const notes = 50_000_000 / 16
	set, err := newNoteSet(1)
	if err != nil {
		b.Fatal(err)
	}
	defer set.close()
	l := &Ledger{cfg: Config{Shards: 1}, notes: set}
	for i := uint64(0); i < notes; i++ {
		var id money.NoteID
		binary.BigEndian.PutUint64(id[:], i*0x9E3779B97F4A7C15)
		binary.BigEndian.PutUint64(id[8:], i)
		set.shards[0].put(&id, 100)
	}
	var img int
	for b.Loop() {
		j, err := l.stage(set, 0, 1)
		if err != nil {
			b.Fatal(err)
		}
		img = len(j.img)
	}
	syscall.Munmap(l.snapBuf)
	perByte := float64(b.Elapsed().Microseconds()) / float64(b.N) / float64(img)
	b.ReportMetric(perByte*float64(4<<20), "slice_us")
}
