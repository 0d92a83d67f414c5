package intermediary_test

import (
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Concurrent payments from one wallet through the batched path (shared
// submissions to the ledger, shared deliveries): of 64 payments of the
// whole balance exactly one commits; of 64 payments of 1.00 from 32.00
// exactly 32 commit; the others are insufficient_funds, and no note stays
// reserved.
func TestConcurrentPaymentsFromOneWallet(t *testing.T) {
	for _, tc := range []struct {
		name          string
		hold, each    uint64
		wantCommitted int
	}{
		{"whole balance", 32_00, 32_00, 1},
		{"one each", 32_00, 1_00, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "bank-a", "bank-b")
			a := e.bank("bank-a")
			alice := e.wallet("bank-a", "alice", tc.hold)
			bob := e.wallet("bank-b", "bob", 0)
			var wg sync.WaitGroup
			errs := make([]error, 64)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: tc.each})
				}()
			}
			wg.Wait()
			committed := 0
			for _, err := range errs {
				switch {
				case err == nil:
					committed++
				case !errcode.Is(err, errcode.InsufficientFunds):
					t.Fatalf("a payment failed with %v, want only insufficient_funds", err)
				}
			}
			if committed != tc.wantCommitted {
				t.Fatalf("%d committed, want %d", committed, tc.wantCommitted)
			}
			spent := uint64(committed) * tc.each
			e.wantWallet(t, alice, tc.hold-spent, 0)
			if got := e.balance(bob); got != spent {
				t.Fatalf("bob %d, want %d", got, spent)
			}
			if p, _ := a.Pending(); len(p) != 0 {
				t.Fatalf("pending left: %v", p)
			}
			e.checkConservation(a.Treasury(), e.bank("bank-b").Treasury(), alice, bob)
		})
	}
}

// A batch of deliveries that holds the same transaction twice, and one
// already delivered, credits each once, all in one synced write.
func TestDeliverBatchCreditsOnce(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	lock, err := a.ReceiveLock(asIssuer, a.Treasury())
	if err != nil {
		t.Fatal(err)
	}
	m1 := e.mint("bank-a", 5)
	m2 := e.net.Mint([]int{0, 2}, money.Output{Value: 7, Lock: lock})
	if _, err := e.ledger.Submit(asIssuer, m2); err != nil {
		t.Fatal(err)
	}
	errs, err := a.DeliverBatch(asIssuer, []roles.Delivery{{Tx: m2}, {Tx: m1}, {Tx: m2}})
	if err != nil || len(errs) != 3 {
		t.Fatalf("%v %v", errs, err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if got := e.balance(a.Treasury()); got != 12 {
		t.Fatalf("treasury %d, want 12", got)
	}
}
