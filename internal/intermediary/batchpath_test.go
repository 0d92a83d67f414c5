package intermediary_test

import (
	"errors"
	"testing"

	"github.com/specie/specie/errcode"

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

// A batch of deliveries is confirmed with the ledger in one call (Locate),
// not one Tx per transaction; one never committed is refused not_found
// and the others are credited; with the ledger unreachable every delivery
// is refused unavailable (to be delivered again) and nothing is credited.
func TestDeliverBatchAsksTheLedgerOnce(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	lock, err := a.ReceiveLock(asIssuer, a.Treasury())
	if err != nil {
		t.Fatal(err)
	}
	var committed []*money.Tx
	for i := range 5 {
		m := e.net.Mint([]int{0, 2}, money.Output{Value: uint64(10 + i), Lock: lock})
		if _, err := e.ledger.Submit(asIssuer, m); err != nil {
			t.Fatal(err)
		}
		committed = append(committed, m)
	}
	never := e.net.Mint([]int{0, 2}, money.Output{Value: 1000, Lock: lock})
	ds := []roles.Delivery{{Tx: committed[0]}, {Tx: never}, {Tx: committed[1]}, {Tx: nil}}

	e.link.down.Store(true)
	l0, t0 := e.link.locates.Load(), e.link.txs.Load()
	errs, err := a.DeliverBatch(asIssuer, ds)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []errcode.Code{errcode.Unavailable, errcode.Unavailable, errcode.Unavailable, errcode.Malformed} {
		if got := errcode.Of(errs[i]); got != want {
			t.Errorf("ledger down, delivery %d: %v, want %s", i, errs[i], want)
		}
	}
	if got := e.balance(a.Treasury()); got != 0 {
		t.Fatalf("treasury %d with the ledger down, want 0", got)
	}
	if l, n := e.link.locates.Load()-l0, e.link.txs.Load()-t0; l != 1 || n != 0 {
		t.Errorf("with the ledger down the batch made %d Locate and %d Tx calls, want 1 and 0", l, n)
	}
	e.link.down.Store(false)

	l0, t0 = e.link.locates.Load(), e.link.txs.Load()
	errs, err = a.DeliverBatch(asIssuer, ds)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []errcode.Code{"", errcode.NotFound, "", errcode.Malformed} {
		if got := errcode.Of(errs[i]); got != want {
			t.Errorf("delivery %d: %v, want %q", i, errs[i], want)
		}
	}
	if l, n := e.link.locates.Load()-l0, e.link.txs.Load()-t0; l != 1 || n != 0 {
		t.Errorf("the batch asked the ledger %d Locate and %d Tx calls, want 1 and 0", l, n)
	}
	if got := e.balance(a.Treasury()); got != 10+11 {
		t.Fatalf("treasury %d, want %d", got, 10+11)
	}
	// The rest, with one delivered before: credited once.
	rest := make([]roles.Delivery, 0, len(committed))
	for _, m := range committed {
		rest = append(rest, roles.Delivery{Tx: m})
	}
	if errs, err = a.DeliverBatch(asIssuer, rest); err != nil || errors.Join(errs...) != nil {
		t.Fatalf("%v %v", errs, err)
	}
	if got := e.balance(a.Treasury()); got != 10+11+12+13+14 {
		t.Fatalf("treasury %d, want %d", got, 10+11+12+13+14)
	}
}
