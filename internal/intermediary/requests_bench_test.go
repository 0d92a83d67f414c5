package intermediary_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/specie/specie/roles"
)

// BenchmarkRequestPay is what paying a request costs against a plain
// payment of the same amount between the same wallets, one caller at a
// time, on the real ledger and Pebble: "pay" is a plain payment, "pay-key"
// one with an idempotency key (the path an accept pays by), "accept" the
// accept of a request made beforehand (outside the timing), "create+accept"
// both. Same bank and across banks (the request offered to, claimed
// from and marked paid at the payee's intermediary in process, without
// HTTP). Figures: ns/op and cpu-µs/op for the whole process (less the
// making of the requests for "accept").
func BenchmarkRequestPay(b *testing.B) {
	for _, payerBank := range []string{"bank-a", "bank-b"} {
		for _, kind := range []string{"pay", "pay-key", "accept", "create+accept"} {
			b.Run(fmt.Sprintf("%s/%s", map[string]string{"bank-a": "same-bank", "bank-b": "cross-bank"}[payerBank], kind), func(b *testing.B) {
				e := newEnv(b, "bank-a", "bank-b")
				payee := e.wallet("bank-a", "shop", 0)
				payer := e.wallet(payerBank, "alice", uint64(b.N)+1_000)
				pb := e.bank(payerBank)
				exp := time.Now().Add(time.Hour)
				create := func() string {
					r, err := e.bank("bank-a").CreateRequest(as("bank-a"), roles.RequestSpec{Payee: payee, Payer: payer, Amount: 1, Reference: "r", Expires: exp})
					if err != nil {
						b.Fatal(err)
					}
					return r.ID
				}
				cpu0 := cpuTime()
				var setup time.Duration // CPU of the requests made outside the timing
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var err error
					switch kind {
					case "pay":
						_, err = pb.Pay(as(payerBank), roles.Payment{From: payer, To: payee, Amount: 1, Reference: "r"})
					case "pay-key":
						_, err = pb.Pay(as(payerBank), roles.Payment{From: payer, To: payee, Amount: 1, Reference: "r", IdempotencyKey: fmt.Sprint("k", i)})
					case "accept":
						b.StopTimer()
						c := cpuTime()
						id := create()
						setup += cpuTime() - c
						b.StartTimer()
						_, err = pb.AcceptRequest(as(payerBank), id, payer, 0)
					case "create+accept":
						_, err = pb.AcceptRequest(as(payerBank), create(), payer, 0)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-cpu0-setup).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}
