package main

import (
	"context"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestRefundAndDisputeCLI: on the devnet (two banks talking over HTTP), a
// shop at bank-a refunds a buyer at bank-b in two parts with
// `specie refund` (the second, without --amount, all that is left), then
// no more; the buyer disputes a second payment with `specie dispute open`,
// the shop's bank refunds part of it (twice: money moves once), and a
// third dispute is rejected; both banks show each state.
func TestRefundAndDisputeCLI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mint("bank-b", 100_00)
	buyer := e.openWallet("bank-b", "buyer")
	shop := e.openWallet("bank-a", "shop")
	e.pay("bank-b.treasury", buyer, 100_00)
	pay := func(amount uint64) money.TxID {
		r, err := e.banks["bank-b"].Pay(ctx, roles.Payment{From: buyer, To: shop, Amount: amount, Reference: "order"})
		if err != nil {
			t.Fatal(err)
		}
		return r.TxID
	}
	order := pay(10_00)

	var part wire.PaymentResult
	e.mustJSON(&part, "refund", "--from", shop, "--txid", order.String(), "--amount", "2.50", "--reference", "one item back")
	if part.To != buyer || part.Amount != "250" {
		t.Fatalf("partial refund %+v", part)
	}
	if out := e.must("refund", "--from", shop, "--txid", order.String()); !strings.Contains(out, "refunded 7.50") || !strings.Contains(out, "to "+buyer) {
		t.Fatalf("refund of the rest:\n%s", out)
	}
	if e.balance(shop) != 0 || e.balance(buyer) != 100_00 {
		t.Fatalf("shop %d, buyer %d after refunding in full", e.balance(shop), e.balance(buyer))
	}
	h, err := e.banks["bank-b"].History(ctx, buyer)
	if err != nil {
		t.Fatal(err)
	}
	refunds := 0
	for _, l := range h {
		if l.RefundOf == order && l.Direction == "in" {
			refunds++
		}
	}
	if refunds != 2 {
		t.Fatalf("buyer's history has %d refund lines, want 2: %+v", refunds, h)
	}

	order2, order3 := pay(5_00), pay(3_00)
	var d wire.Dispute
	e.mustJSON(&d, "dispute", "open", "--wallet", buyer, "--txid", order2.String(), "--reason", "arrived broken", "--evidence", "photo 1")
	if d.State != "with_merchant" || d.Merchant != shop || d.Amount != "500" {
		t.Fatalf("opened %+v", d)
	}
	if out := e.must("dispute", "show", d.ID, "--intermediary", "bank-a"); !strings.Contains(out, "with_merchant") || !strings.Contains(out, "arrived broken") {
		t.Fatalf("the shop's bank shows:\n%s", out)
	}
	if out := e.must("dispute", "list", shop); !strings.Contains(out, d.ID) {
		t.Fatalf("the shop's disputes:\n%s", out)
	}
	var r1, r2 wire.Dispute
	e.mustJSON(&r1, "dispute", "refund", d.ID, "--intermediary", "bank-a", "--amount", "2.00")
	e.mustJSON(&r2, "dispute", "refund", d.ID, "--intermediary", "bank-a", "--amount", "2.00")
	if r1.State != "refunded" || r1.RefundAmount != "200" || r2.Refund != r1.Refund {
		t.Fatalf("refunded %+v, again %+v", r1, r2)
	}
	if e.balance(shop) != 6_00 || e.balance(buyer) != 100_00-8_00+2_00 {
		t.Fatalf("shop %d, buyer %d: the dispute's refund moved money more than once", e.balance(shop), e.balance(buyer))
	}
	if out := e.must("dispute", "show", d.ID); !strings.Contains(out, "refunded 2.00") {
		t.Fatalf("the buyer's bank shows:\n%s", out)
	}

	var d3 wire.Dispute
	e.mustJSON(&d3, "dispute", "open", "--wallet", buyer, "--txid", order3.String(), "--reason", "never came")
	if out := e.must("dispute", "reject", d3.ID, "--intermediary", "bank-a", "--reason", "signed for on the 30th"); !strings.Contains(out, "rejected: signed for") {
		t.Fatalf("reject:\n%s", out)
	}
	var seen wire.Dispute
	e.mustJSON(&seen, "dispute", "show", d3.ID)
	if seen.State != "rejected" || seen.Resolution != "signed for on the 30th" {
		t.Fatalf("the buyer's bank sees %+v", seen)
	}

	before := [2]uint64{e.balance(shop), e.balance(buyer)}
	for _, c := range []struct {
		args []string
		code errcode.Code
	}{
		{[]string{"refund", "--from", shop, "--txid", order.String(), "--amount", "0.01"}, errcode.Conflict},
		{[]string{"refund", "--from", shop, "--txid", order.String()}, errcode.Conflict},
		{[]string{"refund", "--from", shop, "--txid", "zz"}, errcode.Malformed},
		{[]string{"dispute", "open", "--wallet", buyer, "--txid", order2.String(), "--reason", "again"}, errcode.Conflict},
		{[]string{"dispute", "reject", d3.ID, "--intermediary", "bank-b", "--reason", "x"}, errcode.Unauthorized},
		{[]string{"dispute", "refund", d3.ID, "--intermediary", "bank-a"}, errcode.Conflict},
		{[]string{"dispute", "show", "bank-b.dnosuch"}, errcode.NotFound},
	} {
		_, err := e.run(c.args...)
		if !errcode.Is(err, c.code) {
			t.Fatalf("specie %s: %v; want %s", strings.Join(c.args, " "), err, c.code)
		}
		if now := [2]uint64{e.balance(shop), e.balance(buyer)}; now != before {
			t.Fatalf("specie %s changed balances %v -> %v", strings.Join(c.args, " "), before, now)
		}
	}
}
