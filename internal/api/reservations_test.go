package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// TestReservationsOverHTTP runs reservations end to end through the API
// and the client, with the two intermediaries reaching each other over
// HTTP too (offer, confirm and settle travel as requests): a capture of
// part across banks, a void at the same bank, and the refusals a customer
// would meet, each with its code and nothing changed.
func TestReservationsOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	e.setPeer("bank-b", e.bankC.Intermediary("bank-b"))  // bank-a reaches bank-b as bank-a
	e.setPeer("bank-a", e.bankBC.Intermediary("bank-a")) // and bank-b reaches bank-a as bank-b
	bankA, bankB := e.bankC.Intermediary("bank-a"), e.bankBC.Intermediary("bank-b")
	ra, rb := bankA.(roles.Reserver), bankB.(roles.Reserver)

	e.issueTo(t, "bank-a", 10_00)
	alice, err := bankA.OpenWallet(ctx, unlimited("Alice"))
	noErr(t, err)
	shop, err := bankA.OpenWallet(ctx, unlimited("Shop"))
	noErr(t, err)
	hotel, err := bankB.OpenWallet(ctx, unlimited("Hotel"))
	noErr(t, err)
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: alice.ID, Amount: 10_00})
	noErr(t, err)

	cross, err := ra.Reserve(ctx, roles.ReservationRequest{From: alice.ID, To: hotel.ID, Amount: 6_00, ExpiresIn: 72 * time.Hour, Reference: "room 12", Key: "room-12"})
	noErr(t, err)
	if cross.ID != "bank-a.room-12" || cross.State != roles.ReservationActive || cross.Side != "payer" || cross.Amount != 6_00 {
		t.Fatalf("reserved %+v", cross)
	}
	same, err := ra.Reserve(ctx, roles.ReservationRequest{From: alice.ID, To: shop.ID, Amount: 3_00, ExpiresIn: time.Hour})
	noErr(t, err)
	w, err := bankA.Wallet(ctx, alice.ID)
	noErr(t, err)
	if w.Balance != 1_00 || w.Reserved != 9_00 {
		t.Fatalf("alice after reserving: %+v", w)
	}
	seen, err := rb.GetReservation(ctx, cross.ID)
	noErr(t, err)
	if seen.Side != "payee" || seen.State != roles.ReservationActive || seen.Payer != alice.ID || seen.Note != cross.Note {
		t.Fatalf("the hotel's bank sees %+v; the payer's %+v", seen, cross)
	}

	// Refusals: exact code, nothing changed.
	before := w
	for _, tc := range []struct {
		name string
		do   func() error
		code errcode.Code
	}{
		{"spend the reserved funds", func() error {
			_, err := bankA.Pay(ctx, roles.Payment{From: alice.ID, To: shop.ID, Amount: 2_00})
			return err
		}, errcode.InsufficientFunds},
		{"capture over the amount", func() error { _, err := rb.Capture(ctx, cross.ID, 6_01); return err }, errcode.InsufficientFunds},
		{"refund before the expiry", func() error { _, err := ra.Refund(ctx, cross.ID); return err }, errcode.Conflict},
		{"capture at the payer's bank", func() error { _, err := ra.Capture(ctx, cross.ID, 1); return err }, errcode.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errcode.Is(err, tc.code) {
				t.Fatalf("%v: want %s", err, tc.code)
			}
			w, err := bankA.Wallet(ctx, alice.ID)
			noErr(t, err)
			if w != before {
				t.Fatalf("alice changed: %+v, was %+v", w, before)
			}
		})
	}

	got, err := rb.Capture(ctx, cross.ID, 4_50)
	noErr(t, err)
	again, err := rb.Capture(ctx, cross.ID, 4_50)
	noErr(t, err)
	if got.State != roles.ReservationCaptured || got.Captured != 4_50 || again.SettleTx != got.SettleTx {
		t.Fatalf("captured %+v, again %+v", got, again)
	}
	if _, err := rb.Void(ctx, cross.ID); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("void after capture: %v", err)
	}
	hw, err := bankB.Wallet(ctx, hotel.ID)
	noErr(t, err)
	if hw.Balance != 4_50 {
		t.Fatalf("hotel %+v", hw)
	}
	// The shop's bank is the payer's: a void there.
	v, err := ra.Void(ctx, same.ID)
	noErr(t, err)
	if v.State != roles.ReservationVoided {
		t.Fatalf("void %+v", v)
	}
	w, err = bankA.Wallet(ctx, alice.ID)
	noErr(t, err)
	if w.Balance != 5_50 || w.Reserved != 0 {
		t.Fatalf("alice at the end: %+v", w)
	}
	list, err := ra.WalletReservations(ctx, alice.ID)
	noErr(t, err)
	if len(list) != 2 || list[0].ID != cross.ID || list[0].State != roles.ReservationCaptured || list[1].State != roles.ReservationVoided {
		t.Fatalf("alice's reservations %+v", list)
	}
}
