package api_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// overHTTP makes the intermediaries reach each other through the API
// server, each with its own credential, as in a real deployment.
func (e *realEnv) overHTTP() {
	e.setPeer("bank-b", e.bankC.Intermediary("bank-b"))  // bank-a reaches bank-b
	e.setPeer("bank-a", e.bankBC.Intermediary("bank-a")) // bank-b reaches bank-a
}

// refundLines sums the lines of wallet's history that refund payment of.
func (e *realEnv) refundLines(t *testing.T, wallet string, of money.TxID) (in, out uint64) {
	t.Helper()
	h, err := e.client(roles.IntermediaryOf(wallet)).History(context.Background(), wallet)
	noErr(t, err)
	for _, l := range h {
		switch {
		case l.RefundOf != of:
		case l.Direction == "in":
			in += l.Amount
		default:
			out += l.Amount
		}
	}
	return in, out
}

// A shop refunds a paid order in full, or in parts, to the wallet that
// paid, at its own intermediary or across intermediaries over HTTP: the
// money goes back, both history lines name the original payment, and a
// refund of more than is left is refused with conflict, changing nothing.
func TestRefundsOverHTTP(t *testing.T) {
	for _, c := range []struct {
		name      string
		buyerBank string
		parts     []uint64 // refunds of the 10.00 order, in turn
	}{
		{"full, same bank", "bank-a", []uint64{10_00}},
		{"full, across banks", "bank-b", []uint64{10_00}},
		{"partial, same bank", "bank-a", []uint64{3_00, 5_00, 2_00}},
		{"partial, across banks", "bank-b", []uint64{5_00, 4_99, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newRealEnv(t)
			e.overHTTP()
			ctx := context.Background()
			shop, buyer := e.shopAndBuyer(t, c.buyerBank, 50_00)
			order := e.payDelivered(t, buyer, shop, 10_00, "order 1042")
			shopBank := e.bankC.Intermediary("bank-a")
			for i, part := range c.parts {
				r, err := shopBank.Pay(ctx, roles.Payment{From: shop, Amount: part, Reference: "refund 1042", RefundOf: order})
				noErr(t, err)
				if r.To != buyer || r.Amount != part {
					t.Fatalf("refund %d: %+v", i, r)
				}
				out := e.waitLine(t, shop, r.TxID, "out")
				in := e.waitLine(t, buyer, r.TxID, "in")
				if out.RefundOf != order || in.RefundOf != order || in.Counterparty != shop || in.Reference != "refund 1042" || in.Amount != part {
					t.Fatalf("refund %d lines: shop %+v, buyer %+v", i, out, in)
				}
			}
			if in, _ := e.refundLines(t, buyer, order); in != 10_00 {
				t.Fatalf("buyer got back %d of 10.00", in)
			}
			w, err := shopBank.Wallet(ctx, shop)
			noErr(t, err)
			if w.Balance != 0 {
				t.Fatalf("shop holds %d after refunding everything", w.Balance)
			}
			// The raw history names the refunded payment too.
			raw := rawURL(t, "GET", e.srv.URL+"/v1/intermediaries/bank-a/wallets/"+shop+"/history", bankATok, nil)
			if raw.status != 200 || strings.Count(string(raw.body), `"refund_of":"`+order.String()+`"`) != len(c.parts) {
				t.Fatalf("history JSON: %d %s", raw.status, raw.body)
			}

			// Nothing is left to refund: refused, nothing changes.
			e.issueTo(t, "bank-a", 5_00)
			_, err = shopBank.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: shop, Amount: 5_00})
			noErr(t, err)
			before := e.books(t, shop, buyer)
			_, err = shopBank.Pay(ctx, roles.Payment{From: shop, Amount: 1, RefundOf: order})
			wantCode(t, "refund beyond the order", err, errcode.Conflict, 409)
			if after := e.books(t, shop, buyer); after != before {
				t.Fatalf("a refused refund changed the books:\n%s\n%s", before, after)
			}
		})
	}
}

// Refunds the shop's intermediary must refuse, each with its code, each
// leaving every wallet as it was.
func TestRefundRefusedOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	e.overHTTP()
	ctx := context.Background()
	shop, buyer := e.shopAndBuyer(t, "bank-b", 50_00)
	order := e.payDelivered(t, buyer, shop, 10_00, "order 7")
	other, err := e.bankC.Intermediary("bank-a").OpenWallet(ctx, unlimited("other shop"))
	noErr(t, err)
	stranger, err := e.bankBC.Intermediary("bank-b").OpenWallet(ctx, unlimited("stranger"))
	noErr(t, err)
	partial, err := e.bankC.Intermediary("bank-a").Pay(ctx, roles.Payment{From: shop, Amount: 4_00, RefundOf: order})
	noErr(t, err)
	e.waitLine(t, buyer, partial.TxID, "in")
	funding := firstIn(t, e, buyer) // the buyer's own funding, at bank-b

	for _, c := range []struct {
		name   string
		p      roles.Payment
		code   errcode.Code
		status int
	}{
		{"more than the order", roles.Payment{From: shop, Amount: 10_01, RefundOf: order}, errcode.Conflict, 409},
		{"more than is left", roles.Payment{From: shop, Amount: 6_01, RefundOf: order}, errcode.Conflict, 409},
		{"to another wallet than the payer", roles.Payment{From: shop, To: stranger.ID, Amount: 1_00, RefundOf: order}, errcode.Malformed, 400},
		{"of a payment another wallet received", roles.Payment{From: other.ID, Amount: 1_00, RefundOf: order}, errcode.NotFound, 404},
		{"of an unknown payment", roles.Payment{From: shop, Amount: 1_00, RefundOf: money.TxID{7}}, errcode.NotFound, 404},
		{"of a payment the wallet made", roles.Payment{From: shop, Amount: 1_00, RefundOf: partial.TxID}, errcode.NotFound, 404},
		{"by a wallet of another intermediary", roles.Payment{From: buyer, Amount: 1_00, RefundOf: funding}, errcode.Unauthorized, 403},
		{"zero", roles.Payment{From: shop, Amount: 0, RefundOf: order}, errcode.Malformed, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.books(t, shop, buyer, other.ID, stranger.ID)
			_, err := e.bankC.Intermediary("bank-a").Pay(ctx, c.p)
			wantCode(t, c.name, err, c.code, c.status)
			if after := e.books(t, shop, buyer, other.ID, stranger.ID); after != before {
				t.Fatalf("refused, yet the books changed:\n%s\n%s", before, after)
			}
		})
	}
	// The buyer's bank refuses to refund the refund it received.
	_, err = e.bankBC.Intermediary("bank-b").Pay(ctx, roles.Payment{From: buyer, Amount: 1, RefundOf: partial.TxID})
	wantCode(t, "refund of a refund", err, errcode.Conflict, 409)
}

// firstIn is the txid of the first line of wallet's history.
func firstIn(t *testing.T, e *realEnv, wallet string) money.TxID {
	t.Helper()
	h, err := e.client(roles.IntermediaryOf(wallet)).History(context.Background(), wallet)
	noErr(t, err)
	if len(h) == 0 {
		t.Fatalf("%s has no history", wallet)
	}
	return h[0].TxID
}

// Two refunds of 60% of one payment sent at once over HTTP, with
// different idempotency keys: exactly one commits, the other is refused
// with conflict; each retried with its key answers as it first did.
func TestConcurrentRefundsOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	e.overHTTP()
	ctx := context.Background()
	shop, buyer := e.shopAndBuyer(t, "bank-b", 50_00)
	order := e.payDelivered(t, buyer, shop, 10_00, "order 9")
	var wg sync.WaitGroup
	res := make([]roles.PaymentResult, 2)
	errs := make([]error, 2)
	refund := func(i int) roles.Payment {
		return roles.Payment{From: shop, Amount: 6_00, RefundOf: order, IdempotencyKey: []string{"r-1", "r-2"}[i]}
	}
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = e.bankC.Intermediary("bank-a").Pay(ctx, refund(i))
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case err == nil:
			t.Fatalf("both refunds of 60%% committed: %+v", res)
		default:
			wantCode(t, "the losing refund", err, errcode.Conflict, 409)
		}
	}
	if won < 0 {
		t.Fatalf("neither refund committed: %v", errs)
	}
	again, err := e.bankC.Intermediary("bank-a").Pay(ctx, refund(won))
	if err != nil || again.TxID != res[won].TxID {
		t.Fatalf("the winner retried: %+v %v, first %s", again, err, res[won].TxID)
	}
	e.waitLine(t, buyer, res[won].TxID, "in")
	if in, _ := e.refundLines(t, buyer, order); in != 6_00 {
		t.Fatalf("buyer got back %d, want 6.00", in)
	}
	if _, out := e.refundLines(t, shop, order); out != 6_00 {
		t.Fatalf("shop refunded %d, want 6.00", out)
	}
}
