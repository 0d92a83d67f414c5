package iso20022

import (
	"fmt"
	"testing"
	"time"

	"github.com/specie/specie/money"
)

// BenchmarkCamt054x100k produces 100,000 camt.054 notifications (one per
// booked entry, each its own document) from entries already read: one op
// is the whole 100,000.
//
//	go test ./internal/iso20022 -run '^$' -bench Camt054x100k -count 5
func BenchmarkCamt054x100k(b *testing.B) {
	g := &Gateway{cfg: Config{Currency: money.Currency{Code: "USD", Exponent: 2}, BICs: map[string]string{"bank-a": "BNKAUS33"}, Now: time.Now}}
	es := make([]booked, 100_000)
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for i := range es {
		es[i] = booked{ref: fmt.Sprintf("%064x", i), credit: i%2 == 0, amount: uint64(100 + i), at: at.Add(time.Duration(i) * time.Millisecond),
			counterparty: "bank-b.k3j9x2", info: fmt.Sprintf("E2E PAY-%d: invoice %d", i, i)}
	}
	b.ReportAllocs()
	for b.Loop() {
		now := isoTime(g.cfg.Now())
		for _, e := range es {
			if _, err := Encode(g.notification("bank-a", "bank-a.k3j9x2", e, now)); err != nil {
				b.Fatal(err)
			}
		}
	}
}
