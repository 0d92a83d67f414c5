package intermediary_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// disputeState is dispute id as each side sees it: "payer-state/merchant-state".
func (e *env) disputeState(t *testing.T, id string, payer, merchant string) string {
	t.Helper()
	var out []string
	for _, w := range []string{payer, merchant} {
		name := roles.IntermediaryOf(w)
		d, err := e.bank(name).Dispute(as(name), id)
		if err != nil {
			t.Fatalf("dispute %s at %s: %v", id, name, err)
		}
		out = append(out, string(d.State))
	}
	return out[0] + "/" + out[1]
}

// paid makes a delivered payment from payer to merchant.
func (e *env) paid(t *testing.T, from, to string, amount uint64) money.TxID {
	t.Helper()
	bank := roles.IntermediaryOf(from)
	r, err := e.bank(bank).Pay(as(bank), roles.Payment{From: from, To: to, Amount: amount})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.bank(bank).RetryDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r.TxID
}

// A dispute whose merchant's intermediary cannot be reached stays open at
// the payer's, is handed over by the background retry once it can, and
// then both sides follow it to its end; a refund of a dispute made while
// the ledger's answer is lost is finished, once, by the retry.
func TestDisputeHandOverAndRetry(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	shop := e.wallet("bank-a", "shop", 0)
	buyer := e.wallet("bank-b", "buyer", 5000)
	tx := e.paid(t, buyer, shop, 1000)

	noDisputes := &flakyPeer{Intermediary: e.bank("bank-a")} // takes no disputes
	e.mu.Lock()
	e.peers["bank-a"] = noDisputes
	e.mu.Unlock()
	d, err := e.bank("bank-b").OpenDispute(as("bank-b"), roles.DisputeRequest{Wallet: buyer, TxID: tx, Reason: "not delivered", Evidence: "tracking says lost"})
	if err != nil || d.State != roles.DisputeOpen || d.Merchant != shop || d.Amount != 1000 {
		t.Fatalf("dispute %+v %v", d, err)
	}
	_, err = e.bank("bank-a").Dispute(as("bank-a"), d.ID)
	wantCode(t, err, errcode.NotFound, 404)
	e.mu.Lock()
	delete(e.peers, "bank-a")
	e.mu.Unlock()
	if err := e.bank("bank-b").RetryDisputes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := e.disputeState(t, d.ID, buyer, shop); s != "with_merchant/with_merchant" {
		t.Fatalf("after the retry: %s", s)
	}

	e.link.lostReply.Store(true)
	_, err = e.bank("bank-a").RefundDispute(as("bank-a"), d.ID, 0, "")
	wantCode(t, err, errcode.Unavailable, 503)
	e.link.lostReply.Store(false)
	if s := e.disputeState(t, d.ID, buyer, shop); s != "with_merchant/with_merchant" {
		t.Fatalf("while the refund's outcome is unknown: %s", s)
	}
	_, err = e.bank("bank-a").RejectDispute(as("bank-a"), d.ID, "changed my mind")
	wantCode(t, err, errcode.Conflict, 409)
	if err := e.bank("bank-a").RetryDisputes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.bank("bank-a").RetryDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := e.disputeState(t, d.ID, buyer, shop); s != "refunded/refunded" {
		t.Fatalf("after the retry: %s", s)
	}
	if in, _ := e.refunds(buyer, tx); in != 1000 || e.balance(shop) != 0 || e.balance(buyer) != 5000 {
		t.Fatalf("buyer refunded %d; shop %d, buyer %d", in, e.balance(shop), e.balance(buyer))
	}
}

// The merchant's intermediary crashes at each store operation of a
// dispute's refund in turn: after the restart the background retry (or
// the merchant asking again) ends the dispute refunded, with the money
// moved exactly once.
func TestDisputeRefundCrash(t *testing.T) {
	seed := crashtest.Seed(t)
	setup := func(t *testing.T) (*env, *crashtest.Disk, string, string, roles.Dispute) {
		disk := crashtest.NewDisk(t)
		e := newSeededEnv(t, seed, "bank-b")
		e.openOn("bank-a", disk.FS)
		shop := e.wallet("bank-a", "shop", 0)
		buyer := e.wallet("bank-b", "buyer", 5000)
		tx := e.paid(t, buyer, shop, 1000)
		d, err := e.bank("bank-b").OpenDispute(as("bank-b"), roles.DisputeRequest{Wallet: buyer, TxID: tx, Reason: "broken"})
		if err != nil || d.State != roles.DisputeWithMerchant {
			t.Fatalf("dispute %+v %v", d, err)
		}
		return e, disk, shop, buyer, d
	}
	e, disk, _, _, d := setup(t)
	disk.Count()
	if _, err := e.bank("bank-a").RefundDispute(as("bank-a"), d.ID, 600, ""); err != nil {
		t.Fatal(err)
	}
	ops := disk.Ops()
	t.Logf("a dispute's refund takes %d store operations at the merchant's bank", ops)
	for crashAt := range ops + 1 {
		t.Run(fmt.Sprint(crashAt), func(t *testing.T) {
			e, disk, shop, buyer, d := setup(t)
			disk.Arm(-1, nil, crashAt, rand.New(rand.NewPCG(seed, uint64(crashAt))))
			_, ferr := e.bank("bank-a").RefundDispute(as("bank-a"), d.ID, 600, "")
			disk = disk.Restart()
			e.openOn("bank-a", disk.FS)
			a := e.bank("bank-a")
			if err := a.ResolvePending(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := a.RetryDisputes(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, err := a.Dispute(as("bank-a"), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == roles.DisputeWithMerchant {
				// The crash came before the refund was asked for: ask again.
				if got, err = a.RefundDispute(as("bank-a"), d.ID, 600, ""); err != nil {
					t.Fatalf("refund asked again (first answer %v): %v", ferr, err)
				}
			}
			again, err := a.RefundDispute(as("bank-a"), d.ID, 600, "")
			if err != nil || got.State != roles.DisputeRefunded || again.Refund != got.Refund || got.RefundAmount != 600 {
				t.Fatalf("after the crash at %d (first answer %v): %+v, asked again %+v %v", crashAt, ferr, got, again, err)
			}
			if err := a.RetryDeliveries(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, out := e.refunds(shop, d.TxID); out != 600 {
				t.Fatalf("shop refunded %d, want 600 once", out)
			}
			if e.balance(shop) != 400 || e.balance(buyer) != 4600 {
				t.Fatalf("shop %d, buyer %d", e.balance(shop), e.balance(buyer))
			}
			if s := e.disputeState(t, d.ID, buyer, shop); s != "refunded/refunded" {
				t.Fatalf("states %s", s)
			}
		})
	}
}

// FuzzExchangeDispute hands bank-a arbitrary disputes as bank-b (JSON,
// as the API decodes them) for a shop that received one payment from a
// buyer at bank-b. Whatever comes, no panic; a refusal carries a stable
// code and stores nothing; a dispute taken is the real payment's, with
// the merchant, and handing it over again answers the same.
func FuzzExchangeDispute(f *testing.F) {
	e := newEnv(f, "bank-a", "bank-b")
	shop := e.wallet("bank-a", "shop", 0)
	buyer := e.wallet("bank-b", "buyer", 5000)
	r, err := e.bank("bank-b").Pay(as("bank-b"), roles.Payment{From: buyer, To: shop, Amount: 1000})
	if err != nil {
		f.Fatal(err)
	}
	if err := e.bank("bank-b").RetryDeliveries(context.Background()); err != nil {
		f.Fatal(err)
	}
	valid, _ := json.Marshal(roles.Dispute{ID: "bank-b.dseed", TxID: r.TxID, Payer: buyer, Merchant: shop, Amount: 1000, Reason: "broken", State: roles.DisputeOpen})
	f.Add(valid)
	f.Add([]byte(strings.Replace(string(valid), `"open"`, `"refunded"`, 1)))
	f.Add([]byte(strings.Replace(string(valid), buyer, "bank-b.other", 1)))
	f.Add([]byte(strings.Replace(string(valid), `bank-b.dseed`, `bank-a.dseed`, 1)))
	f.Add([]byte(`{"id":"bank-b.d\u0000","state":"open"}`))
	a := e.bank("bank-a")
	f.Fuzz(func(t *testing.T, b []byte) {
		var d roles.Dispute
		if json.Unmarshal(b, &d) != nil {
			return
		}
		got, err := a.ExchangeDispute(as("bank-b"), d)
		if err != nil {
			switch errcode.Of(err) {
			case errcode.Malformed, errcode.NotFound, errcode.Conflict, errcode.Unauthorized:
			default:
				t.Fatalf("%s: refused with %v", b, err)
			}
			if d.ID != "" && !strings.ContainsRune(d.ID, 0) {
				if _, gerr := a.Dispute(as("bank-a"), d.ID); gerr == nil && d.ID != "bank-b.dseed" && errcode.Is(err, errcode.Malformed) {
					t.Fatalf("%s: refused as malformed, yet dispute %s is stored", b, d.ID)
				}
			}
			return
		}
		if got.TxID != r.TxID || got.Payer != buyer || got.Merchant != shop || got.Amount != 1000 || got.State != roles.DisputeWithMerchant {
			t.Fatalf("%s: taken as %+v", b, got)
		}
		again, err := a.ExchangeDispute(as("bank-b"), d)
		if err != nil || again.ID != got.ID || again.State != got.State {
			t.Fatalf("%s handed over again: %+v %v", b, again, err)
		}
	})
}

// When the merchant's intermediary cannot find the disputed payment as
// paid by the payer (here it was delivered without its memo, so the shop's
// history names no payer), it refuses the hand-over for good: the payer's
// intermediary ends the dispute rejected with the refusal as the reason,
// does not retry, and no money moves. The shop's intermediary then has no
// dispute to resolve, and no refund of that payment to make either.
func TestDisputeRefusedByMerchantBank(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	shop := e.wallet("bank-a", "shop", 0)
	buyer := e.wallet("bank-b", "buyer", 5000)
	noMemos := &flakyPeer{Intermediary: e.bank("bank-a")} // delivers with Deliver: no memo
	e.mu.Lock()
	e.peers["bank-a"] = noMemos
	e.mu.Unlock()
	tx := e.paid(t, buyer, shop, 1000)
	e.mu.Lock()
	delete(e.peers, "bank-a")
	e.mu.Unlock()

	before := e.snapshot(shop, buyer)
	d, err := e.bank("bank-b").OpenDispute(as("bank-b"), roles.DisputeRequest{Wallet: buyer, TxID: tx, Reason: "never arrived"})
	if err != nil {
		t.Fatal(err)
	}
	if d.State != roles.DisputeRejected || !strings.Contains(d.Resolution, "refused by bank-a") || !strings.Contains(d.Resolution, "not_found") {
		t.Fatalf("dispute %+v", d)
	}
	_, err = e.bank("bank-a").Dispute(as("bank-a"), d.ID)
	wantCode(t, err, errcode.NotFound, 404)
	if err := e.bank("bank-b").RetryDisputes(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = e.bank("bank-a").Dispute(as("bank-a"), d.ID)
	wantCode(t, err, errcode.NotFound, 404)
	_, err = e.bank("bank-a").Pay(as("bank-a"), roles.Payment{From: shop, Amount: 1000, RefundOf: tx})
	wantCode(t, err, errcode.Conflict, 409)
	e.unchanged(t, before, shop, buyer)
}
