package intermediary_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// A store written before history entries and outbox records were binary
// keeps working: its JSON history reads as it did, and a payment it had
// not yet delivered is delivered from its JSON outbox record, memo and
// all, crediting the payee once.
func TestJSONRecordsOfOlderStoresStillRead(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a := e.bank("bank-a")
	alice := e.wallet("bank-a", "alice", 1000)
	bob := e.wallet("bank-b", "bob", 0)
	b := e.bank("bank-b")
	e.mu.Lock()
	e.peers["bank-b"] = undelivered{b}
	e.mu.Unlock()
	res, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 300, Reference: "from an older store"})
	if err != nil {
		t.Fatal(err)
	}
	before := e.history(alice) // waits for the failed delivery
	beforeT := e.history(a.Treasury())
	if ids, err := a.Outbox(); err != nil || len(ids) != 1 || ids[0] != res.TxID {
		t.Fatalf("outbox %v %v, want the undelivered payment", ids, err)
	}

	n, err := intermediary.RewriteAsJSON(a)
	if want := len(before) + len(beforeT) + 1; err != nil || n != want { // every entry at bank-a, the outbox record
		t.Fatalf("rewrote %d records (%v), want %d", n, err, want)
	}
	if after := e.history(alice); !reflect.DeepEqual(after, before) {
		t.Fatalf("alice's history from JSON:\n%+v\nwant\n%+v", after, before)
	}
	if after := e.history(a.Treasury()); !reflect.DeepEqual(after, beforeT) {
		t.Fatalf("the treasury's history from JSON:\n%+v\nwant\n%+v", after, beforeT)
	}

	e.mu.Lock()
	delete(e.peers, "bank-b")
	e.mu.Unlock()
	for range 2 { // a second retry finds nothing left to deliver
		if err := a.RetryDeliveries(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.balance(bob); got != 300 {
		t.Fatalf("bob holds %d, want 300", got)
	}
	hb := e.history(bob)
	if len(hb) != 1 || hb[0].TxID != res.TxID || hb[0].Counterparty != alice || hb[0].Reference != "from an older store" {
		t.Fatalf("bob's history %+v: want the payment from alice with its reference", hb)
	}
	if ids, err := a.Outbox(); err != nil || len(ids) != 0 {
		t.Fatalf("outbox after delivery %v %v", ids, err)
	}
	e.checkConservation(a.Treasury(), b.Treasury(), alice, bob)
}
