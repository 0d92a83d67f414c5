package intermediary

import (
	"math/rand/v2"
	"testing"

	"github.com/specie/specie/money"
)

// TestWindowSumsMatchARecount drives one window with a seeded mix of
// payments, cancellations and a clock moving forward, and checks after
// every step that its running count, sum and just-under count equal a
// recount of the live events, and that the queue does not keep what has
// left the window (it is compacted).
func TestWindowSumsMatchARecount(t *testing.T) {
	const seed = 42
	r := rand.New(rand.NewPCG(seed, 1))
	w := &window{byTx: map[money.TxID]*event{}}
	var now int64
	const span = 1000
	var all []*event
	for i := range 20_000 {
		now += int64(r.IntN(20))
		switch r.IntN(10) {
		case 0, 1: // a payment that fails: taken out again
			if len(all) > 0 {
				w.remove(all[r.IntN(len(all))])
			}
		default:
			var id money.TxID
			id[0], id[1], id[2] = byte(i), byte(i>>8), byte(i>>16)
			e := &event{txid: id, bound: true, nanos: now, amount: uint64(r.IntN(100) + 1), under: r.IntN(3) == 0}
			w.add(e)
			all = append(all, e)
		}
		w.expire(now - span)
		var n, under int
		var sum uint64
		for _, e := range w.q[w.head:] {
			if e.gone {
				continue
			}
			if e.nanos <= now-span {
				t.Fatalf("seed %d step %d: event at %d still live at %d", seed, i, e.nanos, now)
			}
			n, sum = n+1, sum+e.amount
			if e.under {
				under++
			}
		}
		if n != w.count || sum != w.sum || under != w.under || len(w.byTx) != n {
			t.Fatalf("seed %d step %d: window count %d sum %d under %d byTx %d; recount %d %d %d",
				seed, i, w.count, w.sum, w.under, len(w.byTx), n, sum, under)
		}
		if w.head > 64 && 2*w.head >= len(w.q) {
			t.Fatalf("seed %d step %d: queue not compacted (head %d of %d)", seed, i, w.head, len(w.q))
		}
	}
}
