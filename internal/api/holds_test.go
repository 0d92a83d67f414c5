package api_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Concurrent payments from bank-a to a tier-0 wallet at bank-b, asked
// and delivered over HTTP, together over its holding limit: the lock
// route holds each admitted amount until its delivery, so exactly the
// payments that fit commit, and the others are refused with
// limit_exceeded before anything is signed.
func TestHoldsOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	e.setPeer("bank-b", e.bankC.Intermediary("bank-b")) // bank-a reaches bank-b over HTTP, as bank-a
	bankA, bankB := e.bankC.Intermediary("bank-a"), e.bankBC.Intermediary("bank-b")
	e.issueTo(t, "bank-a", 1_000_00)
	bob, err := bankB.OpenWallet(ctx, roles.WalletRequest{Owner: "Bob", Tier: 0,
		Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550100002"}}})
	noErr(t, err)

	const n, each = 8, 100_00 // 800.00 asked, 500.00 fit
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: each, Reference: fmt.Sprint("p", i)})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if !errcode.Is(err, errcode.LimitExceeded) {
				t.Errorf("payment %d: %v, want success or limit_exceeded", i, err)
			}
		}()
	}
	wg.Wait()
	if ok != 5 {
		t.Fatalf("%d payments of 100.00 passed a holding limit of 500.00", ok)
	}
	eventually(t, "bob credited", func() error {
		w, err := bankB.Wallet(ctx, bob.ID)
		if err == nil && w.Balance != 500_00 {
			err = fmt.Errorf("bob holds %d", w.Balance)
		}
		return err
	})
	tr, err := bankA.Wallet(ctx, "bank-a.treasury")
	noErr(t, err)
	if tr.Balance != 500_00 {
		t.Fatalf("bank-a's treasury holds %d, want 500.00: a refused payment moved money", tr.Balance)
	}
	pend, err := e.banks["bank-a"].Pending()
	noErr(t, err)
	if len(pend) != 0 {
		t.Fatalf("pending spends at bank-a: %v", pend)
	}
	// Nothing more fits, and the lock route says so with the exact code.
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: 1})
	wantCode(t, "over the limit", err, errcode.LimitExceeded, 422)
	// Every hold became its credit (delivered with its memo over HTTP):
	// once bob pays 100.00 out, 100.00 fits again, and no more.
	_, err = bankB.Pay(ctx, roles.Payment{From: bob.ID, To: "bank-a.treasury", Amount: 100_00})
	noErr(t, err)
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: 100_00 + 1})
	wantCode(t, "over the limit", err, errcode.LimitExceeded, 422)
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: 100_00})
	noErr(t, err)
}
