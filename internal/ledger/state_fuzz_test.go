package ledger

import (
	"bytes"
	"testing"

	"github.com/specie/specie/money"
)

// FuzzDecodeStateStream: a state stream comes from a peer (MAC'd, but decoded
// strictly all the same): whatever the bytes, decodeState returns an error
// or a state whose notes add up to its totals and whose header chain ends
// at its head; it never panics.
func FuzzDecodeStateStream(f *testing.F) {
	net := money.Network{ID: "fuzz", Currency: money.Currency{Code: "XTS", Exponent: 2}}
	empty := meta{}
	seed := append([]byte{stateVersion}, empty.encode()...)
	seed = append(seed, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	f.Add(seed)
	f.Add(append(bytes.Clone(seed[:len(seed)-1]), 1, 0, 0, 0, 1, 'c', 0, 0, 0, 1, 'x', 0))
	f.Add([]byte{stateVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		var count, sum uint64
		m, err := decodeState(bytes.NewReader(b), net, func(*meta) error { return nil }, func(_ [24]byte, v uint64) error {
			count++
			sum += v
			return nil
		}, func(k, v []byte) error { return nil })
		if err != nil {
			return
		}
		if count != m.unspent || sum != m.unspentSum {
			t.Fatalf("accepted %d notes holding %d; totals say %d holding %d", count, sum, m.unspent, m.unspentSum)
		}
	})
}
