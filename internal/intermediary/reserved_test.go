package intermediary_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// A note's record does not say it is reserved: the pending record of the
// spend does (notes.go). So a restart while a payment's outcome is
// unknown must still show its notes as pending, refuse a payment that
// would need them with unavailable (never insufficient_funds), list them
// in the wallet's holdings, and settle them when the ledger is back.
func TestReservedNotesSurviveARestart(t *testing.T) {
	e, a, alice, bob := settlingEnv(t, 100_00)
	all := func() []string { return []string{e.bank("bank-a").Treasury(), e.bank("bank-b").Treasury(), alice, bob} }

	e.link.down.Store(true)
	first := roles.Payment{From: alice, To: bob, Amount: 1_00, Reference: "restart", IdempotencyKey: "restart-1"}
	res, err := a.Pay(as("bank-a"), first)
	wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
	e.wantWallet(t, alice, 0, 100_00)

	e.close("bank-a")
	cfg := e.config("bank-a")
	cfg.RetryInterval = time.Hour
	cfg.SettleAfter = time.Hour
	a = e.openWith(cfg)

	e.wantWallet(t, alice, 0, 100_00)
	_, err = a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 1_00})
	wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
	if !strings.Contains(err.Error(), "held by 1 payment") {
		t.Fatalf("paying after the restart during the outage: %v; want the funds held", err)
	}
	if notes, err := intermediary.HeldNotes(a, alice); err != nil || len(notes) != 1 || notes[0].Value != 100_00 {
		t.Fatalf("alice's holdings after the restart: %+v %v; want her one note of 100.00", notes, err)
	}
	again, err := a.Pay(as("bank-a"), first)
	wantCode(t, err, errcode.Unavailable, 0)
	if again.TxID != res.TxID {
		t.Fatalf("retry after the restart names %s, want %s", again.TxID, res.TxID)
	}

	e.link.down.Store(false)
	e.waitWallet(t, "payment settled after the restart", alice, 99_00, 0)
	got, err := a.Pay(as("bank-a"), first)
	if err != nil || got.TxID != res.TxID {
		t.Fatalf("retry once settled: %+v %v; want committed %s", got, err, res.TxID)
	}
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 99_00}); err != nil {
		t.Fatalf("paying the change: %v", err)
	}
	e.wantWallet(t, alice, 0, 0)
	e.checkConservation(all()...)
}

// A payment the ledger never saw, pending across a restart, is released
// once Config.SettleAfter has passed: the wallet's notes are spendable
// again with the balance it had, and no note is left reserved.
func TestReleasedAfterARestart(t *testing.T) {
	e, a, alice, bob := settlingEnv(t, 10_00)
	e.link.down.Store(true)
	_, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 3_00, IdempotencyKey: "released-1"})
	wantCode(t, err, errcode.Unavailable, 0)
	e.close("bank-a")
	e.link.down.Store(false) // back, never having seen it: Open releases it (SettleAfter -1)
	a = e.open("bank-a")

	e.wantWallet(t, alice, 10_00, 0)
	if p, _ := a.Pending(); len(p) != 0 {
		t.Fatalf("still pending after the restart: %v", p)
	}
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 10_00}); err != nil {
		t.Fatalf("paying the whole balance after the release: %v", err)
	}
	e.wantWallet(t, alice, 0, 0)
	e.checkConservation(a.Treasury(), e.bank("bank-b").Treasury(), alice, bob)
}
