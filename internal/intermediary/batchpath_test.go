package intermediary_test

import (
	"testing"

	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

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
