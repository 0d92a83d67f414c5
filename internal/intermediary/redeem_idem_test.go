package intermediary_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// Redeeming twice with one idempotency key redeems once: the retry, also
// after a restart, answers the first redemption (same txid and receipt)
// and moves neither the treasury, the reserve nor the supply; the key with
// another amount, or a key a payment used, is a conflict that changes
// nothing; a rejection (insufficient funds) is answered again even once
// the treasury could pay.
func TestIdempotentRedeem(t *testing.T) {
	e := newEnv(t, "bank-a")
	a := e.bank("bank-a")
	tr := a.Treasury()
	e.issue("bank-a", 1000)
	alice := e.wallet("bank-a", "alice", 0)
	reserve := func() uint64 {
		r, ok := e.issuer.Reserve("bank-a")
		if !ok {
			t.Fatal("bank-a has no reserve account")
		}
		return r
	}
	redeemed := func() uint64 {
		s, err := e.ledger.Supply(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.Redeemed
	}
	type world struct {
		wallets          string
		reserve, redeems uint64
	}
	now := func() world {
		return world{fmt.Sprint(e.snapshot(tr, alice)), reserve(), redeemed()}
	}

	r := roles.RedeemRequest{Amount: 300, IdempotencyKey: "eod-2026-12-02"}
	first, err := a.Redeem(as("bank-a"), r)
	if err != nil {
		t.Fatal(err)
	}
	if first.Amount != 300 || first.Intermediary != "bank-a" || first.Receipt.Batch == 0 {
		t.Fatalf("first redemption %+v", first)
	}
	after1 := now()
	if after1.redeems != 300 || e.balance(tr) != 700 {
		t.Fatalf("after the first redemption: %+v, treasury %d", after1, e.balance(tr))
	}
	again, err := a.Redeem(as("bank-a"), r)
	if err != nil || again != first {
		t.Fatalf("retry answered %+v, %v; the first answer was %+v", again, err, first)
	}
	if got := now(); got != after1 {
		t.Fatalf("the retry changed the state:\n%+v\n%+v", after1, got)
	}

	// The same key for another amount, or for a payment, and a payment's
	// key for a redemption: conflicts that change nothing.
	_, err = a.Redeem(as("bank-a"), roles.RedeemRequest{Amount: 200, IdempotencyKey: r.IdempotencyKey})
	wantCode(t, err, errcode.Conflict, http.StatusConflict)
	_, err = a.Pay(as("bank-a"), roles.Payment{From: tr, To: alice, Amount: 300, IdempotencyKey: r.IdempotencyKey})
	wantCode(t, err, errcode.Conflict, http.StatusConflict)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: tr, To: alice, Amount: 100, IdempotencyKey: "pay-1"}); err != nil {
		t.Fatal(err)
	}
	after2 := now()
	_, err = a.Redeem(as("bank-a"), roles.RedeemRequest{Amount: 100, IdempotencyKey: "pay-1"})
	wantCode(t, err, errcode.Conflict, http.StatusConflict)
	if got := now(); got != after2 {
		t.Fatalf("a conflict changed the state:\n%+v\n%+v", after2, got)
	}

	// A malformed key is refused before anything is looked at.
	_, err = a.Redeem(as("bank-a"), roles.RedeemRequest{Amount: 1, IdempotencyKey: "tab\tkey"})
	wantCode(t, err, errcode.Malformed, http.StatusBadRequest)

	// Insufficient funds is the answer to that key from then on.
	big := roles.RedeemRequest{Amount: 1000, IdempotencyKey: "too-much"}
	_, err = a.Redeem(as("bank-a"), big)
	wantCode(t, err, errcode.InsufficientFunds, http.StatusUnprocessableEntity)
	e.issue("bank-a", 1000)
	after3 := now()
	_, err = a.Redeem(as("bank-a"), big)
	wantCode(t, err, errcode.InsufficientFunds, http.StatusUnprocessableEntity)
	if got := now(); got != after3 {
		t.Fatalf("a remembered rejection changed the state:\n%+v\n%+v", after3, got)
	}

	// After a restart the key still answers the first redemption.
	e.close("bank-a")
	a = e.open("bank-a")
	if again, err := a.Redeem(as("bank-a"), r); err != nil || again != first {
		t.Fatalf("retry after a restart answered %+v, %v; the first answer was %+v", again, err, first)
	}
	if got := now(); got != after3 {
		t.Fatalf("the retry after a restart changed the state:\n%+v\n%+v", after3, got)
	}
	e.checkConservation(tr, alice)
}
