package api_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// desks are the dispute desks of the payer's bank (bank-b) and the
// merchant's (bank-a), each reached over HTTP with its own credential.
func (e *realEnv) desks() (payer, merchant roles.DisputeDesk) {
	return e.bankBC.Intermediary("bank-b").(roles.DisputeDesk), e.bankC.Intermediary("bank-a").(roles.DisputeDesk)
}

// bothSee fails unless the dispute is in state want at both
// intermediaries, and returns the merchant's view.
func bothSee(t *testing.T, e *realEnv, id string, want roles.DisputeState) roles.Dispute {
	t.Helper()
	payer, merchant := e.desks()
	p, err := payer.Dispute(context.Background(), id)
	noErr(t, err)
	m, err := merchant.Dispute(context.Background(), id)
	noErr(t, err)
	if p.State != want || m.State != want || p.Refund != m.Refund || p.Resolution != m.Resolution || p.RefundAmount != m.RefundAmount {
		t.Fatalf("dispute %s: payer's bank sees %+v, merchant's %+v; want %s at both", id, p, m, want)
	}
	return m
}

// A buyer at bank-b disputes two payments to a shop at bank-a, the banks
// talking over HTTP. Both banks show each state: with the merchant once
// opened; one dispute ends refunded (the money moves back once, however
// often the shop resolves it, concurrently too), the other rejected with
// the shop's reason. What may not be done is refused with its code and
// changes nothing.
func TestDisputeLifecycleOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	e.overHTTP()
	ctx := context.Background()
	payer, merchant := e.desks()
	shop, buyer := e.shopAndBuyer(t, "bank-b", 50_00)
	order1 := e.payDelivered(t, buyer, shop, 10_00, "order 1")
	order2 := e.payDelivered(t, buyer, shop, 7_00, "order 2")

	d1, err := payer.OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: order1, Reason: "never arrived", Evidence: "tracking 1Z999 says returned"})
	noErr(t, err)
	if d1.State != roles.DisputeWithMerchant || d1.Payer != buyer || d1.Merchant != shop || d1.Amount != 10_00 || d1.TxID != order1 {
		t.Fatalf("opened %+v", d1)
	}
	m1 := bothSee(t, e, d1.ID, roles.DisputeWithMerchant)
	if m1.Reason != "never arrived" || m1.Evidence != "tracking 1Z999 says returned" {
		t.Fatalf("the merchant's bank sees %+v", m1)
	}
	d2, err := payer.OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: order2, Reason: "wrong colour"})
	noErr(t, err)
	for _, side := range []struct {
		desk   roles.DisputeDesk
		wallet string
	}{{payer, buyer}, {merchant, shop}} {
		ds, err := side.desk.Disputes(ctx, side.wallet)
		noErr(t, err)
		if len(ds) != 2 || ds[0].ID != d1.ID || ds[1].ID != d2.ID {
			t.Fatalf("disputes of %s: %+v", side.wallet, ds)
		}
	}

	before := e.books(t, shop, buyer)
	for _, c := range []struct {
		name   string
		call   func() error
		code   errcode.Code
		status int
	}{
		{"disputing a payment twice", func() error {
			_, err := payer.OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: order1, Reason: "again"})
			return err
		}, errcode.Conflict, 409},
		{"disputing a payment the wallet did not make", func() error {
			_, err := payer.OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: money.TxID{9}, Reason: "x"})
			return err
		}, errcode.NotFound, 404},
		{"disputing without a reason", func() error {
			_, err := payer.OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: order1})
			return err
		}, errcode.Malformed, 400},
		{"the payer's bank resolving", func() error {
			_, err := payer.RefundDispute(ctx, d1.ID, 0, "")
			return err
		}, errcode.Unauthorized, 403},
		{"the payer's bank rejecting", func() error {
			_, err := payer.RejectDispute(ctx, d1.ID, "no")
			return err
		}, errcode.Unauthorized, 403},
		{"refunding more than was paid", func() error {
			_, err := merchant.RefundDispute(ctx, d1.ID, 10_01, "")
			return err
		}, errcode.Conflict, 409},
		{"rejecting without a reason", func() error {
			_, err := merchant.RejectDispute(ctx, d1.ID, "")
			return err
		}, errcode.Malformed, 400},
		{"an unknown dispute", func() error {
			_, err := merchant.RefundDispute(ctx, "bank-b.dnosuch", 0, "")
			return err
		}, errcode.NotFound, 404},
	} {
		wantCode(t, c.name, c.call(), c.code, c.status)
		if after := e.books(t, shop, buyer); after != before {
			t.Fatalf("%s changed the books:\n%s\n%s", c.name, before, after)
		}
	}
	bothSee(t, e, d1.ID, roles.DisputeWithMerchant)

	// The shop refunds order 1, asked three times at once and once more.
	var wg sync.WaitGroup
	got := make([]roles.Dispute, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = merchant.RefundDispute(ctx, d1.ID, 0, "refund, order 1")
		}()
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil || got[i].State != roles.DisputeRefunded || got[i].Refund != got[0].Refund || got[i].RefundAmount != 10_00 {
			t.Fatalf("resolution %d: %+v %v", i, got[i], errs[i])
		}
	}
	again, err := merchant.RefundDispute(ctx, d1.ID, 0, "")
	if err != nil || again.Refund != got[0].Refund {
		t.Fatalf("resolved again: %+v %v", again, err)
	}
	line := e.waitLine(t, buyer, got[0].Refund, "in")
	if line.RefundOf != order1 || line.Amount != 10_00 || line.Counterparty != shop {
		t.Fatalf("the buyer's refund line %+v", line)
	}
	if in, _ := e.refundLines(t, buyer, order1); in != 10_00 {
		t.Fatalf("buyer got back %d, want 10.00 once", in)
	}
	if _, out := e.refundLines(t, shop, order1); out != 10_00 {
		t.Fatalf("shop refunded %d, want 10.00 once", out)
	}
	r := bothSee(t, e, d1.ID, roles.DisputeRefunded)
	if r.Refund != got[0].Refund || r.Resolution != "refund, order 1" {
		t.Fatalf("refunded dispute %+v", r)
	}
	_, err = merchant.RejectDispute(ctx, d1.ID, "changed my mind")
	wantCode(t, "rejecting a refunded dispute", err, errcode.Conflict, 409)

	// The shop rejects order 2's dispute.
	rej, err := merchant.RejectDispute(ctx, d2.ID, "delivered, signed for on the 30th")
	noErr(t, err)
	if rej.State != roles.DisputeRejected {
		t.Fatalf("rejected %+v", rej)
	}
	r = bothSee(t, e, d2.ID, roles.DisputeRejected)
	if r.Resolution != "delivered, signed for on the 30th" {
		t.Fatalf("rejected dispute %+v", r)
	}
	before = e.books(t, shop, buyer)
	_, err = merchant.RefundDispute(ctx, d2.ID, 0, "")
	wantCode(t, "refunding a rejected dispute", err, errcode.Conflict, 409)
	if _, err = merchant.RejectDispute(ctx, d2.ID, "again"); err != nil {
		t.Fatalf("rejecting again: %v", err)
	}
	if after := e.books(t, shop, buyer); after != before {
		t.Fatalf("resolving a rejected dispute again changed the books:\n%s\n%s", before, after)
	}
	bothSee(t, e, d2.ID, roles.DisputeRejected)
}

// A dispute at one intermediary (payer and shop both at bank-a) is with
// the merchant at once, and its partial refund leaves the rest of the
// payment refundable by an ordinary refund, never more.
func TestDisputeSameBankOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	desk := e.bankC.Intermediary("bank-a").(roles.DisputeDesk)
	shop, buyer := e.shopAndBuyer(t, "bank-a", 20_00)
	order := e.payDelivered(t, buyer, shop, 10_00, "order 5")
	d, err := desk.OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: order, Reason: "one item missing"})
	noErr(t, err)
	if d.State != roles.DisputeWithMerchant {
		t.Fatalf("opened %+v", d)
	}
	d, err = desk.RefundDispute(ctx, d.ID, 4_00, "")
	noErr(t, err)
	if d.State != roles.DisputeRefunded || d.RefundAmount != 4_00 {
		t.Fatalf("refunded %+v", d)
	}
	_, err = e.bankC.Intermediary("bank-a").Pay(ctx, roles.Payment{From: shop, Amount: 6_01, RefundOf: order})
	wantCode(t, "refunding more than the dispute left", err, errcode.Conflict, 409)
	_, err = e.bankC.Intermediary("bank-a").Pay(ctx, roles.Payment{From: shop, Amount: 6_00, RefundOf: order})
	noErr(t, err)
	if in, _ := e.refundLines(t, buyer, order); in != 10_00 {
		t.Fatalf("buyer got back %d, want 10.00", in)
	}
}

// While the merchant's intermediary cannot be reached, a dispute stays
// open at the payer's and unknown at the merchant's; the payer's
// intermediary hands it over once it can, and both show it with the
// merchant.
func TestDisputeHandOverRetriedOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	e.overHTTP()
	ctx := context.Background()
	payer, merchant := e.desks()
	shop, buyer := e.shopAndBuyer(t, "bank-b", 20_00)
	order := e.payDelivered(t, buyer, shop, 10_00, "order 3")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	down := "http://" + ln.Addr().String()
	ln.Close()
	e.setPeer("bank-a", client.New(down, bankBTok).Intermediary("bank-a"))
	d, err := payer.OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: order, Reason: "never arrived"})
	noErr(t, err)
	if d.State != roles.DisputeOpen {
		t.Fatalf("opened while the merchant's bank is down: %+v", d)
	}
	_, err = merchant.Dispute(ctx, d.ID)
	wantCode(t, "the merchant's bank before the hand-over", err, errcode.NotFound, 404)

	e.overHTTP()
	noErr(t, e.banks["bank-b"].RetryDisputes(ctx))
	bothSee(t, e, d.ID, roles.DisputeWithMerchant)
}
