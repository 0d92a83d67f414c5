package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// fillTables writes rounds x perRound keys (SHA-256 of a counter, as the
// intermediary's txid-keyed records are) and flushes after each round, so
// reads go through that many tables as in a store that has run a while.
func fillTables(tb testing.TB, db *DB, rounds, perRound int) {
	tb.Helper()
	n := uint64(0)
	for range rounds {
		for done := 0; done < perRound; {
			b := db.NewBatch()
			for j := 0; j < 1000 && done < perRound; j, done = j+1, done+1 {
				k := sha256.Sum256(binary.BigEndian.AppendUint64(nil, n))
				n++
				b.Set(k[:], k[:8])
			}
			if err := b.Commit(false); err != nil {
				tb.Fatal(err)
			}
		}
		if err := db.db.Flush(); err != nil {
			tb.Fatal(err)
		}
	}
}

// absentKey is a key fillTables never writes.
func absentKey(i uint64) []byte {
	k := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("absent"), i))
	return k[:]
}

// With or without Bloom filters, a store answers the same: every key
// written reads back, and no absent key is found.
func TestBloomFiltersAnswerTheSame(t *testing.T) {
	for _, bits := range []int{0, 10} {
		t.Run(fmt.Sprintf("bits=%d", bits), func(t *testing.T) {
			db, err := Open(t.TempDir(), Options{CacheBytes: 1 << 20, BloomBitsPerKey: bits})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			fillTables(t, db, 3, 2000)
			for i := uint64(0); i < 6000; i++ {
				k := sha256.Sum256(binary.BigEndian.AppendUint64(nil, i))
				if ok, err := db.Has(k[:]); err != nil || !ok {
					t.Fatalf("key %d written, Has = %v, %v", i, ok, err)
				}
				if ok, err := db.Has(absentKey(i)); err != nil || ok {
					t.Fatalf("absent key %d: Has = %v, %v", i, ok, err)
				}
			}
		})
	}
}

// BenchmarkHasAbsent is a point read of an absent key in a store of four
// flushed tables of 200,000 keys each (after its compactions have ended),
// without and with Bloom filters.
func BenchmarkHasAbsent(b *testing.B) {
	for _, bits := range []int{0, 10} {
		b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) {
			db, err := Open(b.TempDir(), Options{BloomBitsPerKey: bits})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			fillTables(b, db, 4, 200_000)
			for idle := 0; idle < 50; time.Sleep(2 * time.Millisecond) { // no compaction competes with the reads
				if m := db.db.Metrics(); m.Flush.NumInProgress == 0 && m.Compact.NumInProgress == 0 {
					idle++
				} else {
					idle = 0
				}
			}
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if ok, err := db.Has(absentKey(uint64(i))); err != nil || ok {
					b.Fatalf("absent key %d: Has = %v, %v", i, ok, err)
				}
			}
			b.StopTimer()
			// CPU of the process per read: steadier than ns/op on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
