package main

import (
	"context"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// TestReserveCLI: a guest reserves at a hotel of the other bank and at a
// shop of her own, with the CLI against a real network: the hotel captures
// part (once: the same capture again answers the same, another is
// refused), the shop voids, a third reservation expires and is refunded;
// the wallets (read through the API, not the CLI) show what moved.
func TestReserveCLI(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 1_000_00)
	guest := e.openWallet("bank-a", "guest")
	shop := e.openWallet("bank-a", "shop")
	hotel := e.openWallet("bank-b", "hotel")
	e.pay("bank-a.treasury", guest, 500_00)

	var r wire.FundsReservation
	e.mustJSON(&r, "reserve", "create", "--from", guest, "--to", hotel, "--amount", "300.00", "--expires", "72h", "--reference", "room 12", "--key", "room-12")
	if r.ID != "bank-a.room-12" || r.State != "active" || r.Amount != "30000" {
		t.Fatalf("created %+v", r)
	}
	if out := e.must("reserve", "create", "--from", guest, "--to", shop, "--amount", "50.00", "--expires", "1h", "--key", "basket"); !strings.Contains(out, "bank-a.basket active: 50.00") {
		t.Fatalf("create:\n%s", out)
	}
	ctx := context.Background()
	if w, err := e.banks["bank-a"].Wallet(ctx, guest); err != nil || w.Balance != 150_00 || w.Reserved != 350_00 {
		t.Fatalf("guest after reserving: %+v, %v", w, err)
	}
	if out := e.must("wallet", "balance", guest); !strings.Contains(out, "150.00") || !strings.Contains(out, "350.00 reserved for payees") {
		t.Fatalf("wallet balance:\n%s", out)
	}
	if out := e.must("reserve", "list", "--wallet", hotel); !strings.Contains(out, "bank-a.room-12 active") {
		t.Fatalf("hotel's list:\n%s", out)
	}
	if out := e.must("reserve", "show", "bank-a.room-12", "--intermediary", "bank-b"); !strings.Contains(out, "room 12") {
		t.Fatalf("show at the hotel's bank:\n%s", out)
	}

	e.mustJSON(&r, "reserve", "capture", "bank-a.room-12", "--amount", "240.00", "--intermediary", "bank-b")
	if r.State != "captured" || r.Captured != "24000" || r.SettleTxID == nil {
		t.Fatalf("captured %+v", r)
	}
	var again wire.FundsReservation
	e.mustJSON(&again, "reserve", "capture", "bank-a.room-12", "--amount", "240.00", "--intermediary", "bank-b")
	if *again.SettleTxID != *r.SettleTxID {
		t.Fatalf("capture again: %+v", again)
	}
	if out := e.must("reserve", "void", "bank-a.basket", "--intermediary", "bank-a"); !strings.Contains(out, "voided: bank-a.basket voided") {
		t.Fatalf("void:\n%s", out)
	}
	e.must("reserve", "create", "--from", guest, "--to", hotel, "--amount", "10.00", "--expires", "1ms", "--key", "late")
	for _, c := range []struct {
		args []string
		code errcode.Code
	}{
		{[]string{"reserve", "capture", "bank-a.room-12", "--amount", "1.00", "--intermediary", "bank-b"}, errcode.Conflict},
		{[]string{"reserve", "capture", "bank-a.late", "--amount", "10.01", "--intermediary", "bank-b"}, errcode.InsufficientFunds},
		{[]string{"reserve", "capture", "bank-a.late", "--amount", "1.00"}, errcode.Malformed}, // which bank?
		{[]string{"reserve", "refund", "bank-a.basket"}, errcode.Conflict},
		{[]string{"reserve", "show", "bank-a.nosuch"}, errcode.NotFound},
		{[]string{"reserve", "create", "--from", guest, "--to", hotel, "--amount", "1000.00", "--expires", "1h"}, errcode.InsufficientFunds},
		{[]string{"reserve", "create", "--from", guest, "--to", hotel, "--amount", "1.00", "--expires", "soon"}, errcode.Malformed},
	} {
		if _, err := e.run(c.args...); !errcode.Is(err, c.code) {
			t.Fatalf("specie %s: %v; want %s", strings.Join(c.args, " "), err, c.code)
		}
	}
	for range 3 { // the ledger moves past the expiry batch
		e.pay("bank-a.treasury", shop, 1)
	}
	if out := e.must("reserve", "refund", "bank-a.late"); !strings.Contains(out, "bank-a.late refunded") {
		t.Fatalf("refund:\n%s", out)
	}
	if w, err := e.banks["bank-a"].Wallet(ctx, guest); err != nil || w.Balance != 260_00 || w.Reserved != 0 {
		t.Fatalf("guest at the end: %+v, %v", w, err)
	}
	if w, err := e.banks["bank-b"].Wallet(ctx, hotel); err != nil || w.Balance != 240_00 {
		t.Fatalf("hotel at the end: %+v, %v", w, err)
	}
}
