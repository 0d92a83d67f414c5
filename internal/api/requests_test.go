package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// TestRequestsOverHTTP runs request-to-pay across two intermediaries that
// reach each other only over HTTP (offers, answers, the delivery carrying
// the request): the shop's request is shown to the payer at her
// intermediary, paid exactly once however often she accepts, and seen
// paid by both sides; a refused transition changes nothing.
func TestRequestsOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	e.setPeer("bank-b", e.bankC.Intermediary("bank-b"))  // bank-a reaches bank-b over HTTP, as bank-a
	e.setPeer("bank-a", e.bankBC.Intermediary("bank-a")) // and bank-b bank-a, as bank-b
	bankA := e.bankC.Intermediary("bank-a").(roles.Requests)
	bankB := e.bankBC.Intermediary("bank-b").(roles.Requests)
	shop, err := e.bankC.Intermediary("bank-a").OpenWallet(ctx, roles.WalletRequest{Owner: "Shop", Tier: 0,
		Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550100101"}}})
	noErr(t, err)
	alice, err := e.bankBC.Intermediary("bank-b").OpenWallet(ctx, roles.WalletRequest{Owner: "Alice", Tier: 0,
		Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550100102"}}})
	noErr(t, err)
	e.issueTo(t, "bank-b", 100_00)
	_, err = e.bankBC.Intermediary("bank-b").Pay(ctx, roles.Payment{From: "bank-b.treasury", To: alice.ID, Amount: 50_00})
	noErr(t, err)

	r, err := bankA.CreateRequest(ctx, roles.RequestSpec{Payee: shop.ID, Payer: alice.ID, Amount: 12_34, Reference: "order 7", Expires: time.Now().Add(time.Hour)})
	noErr(t, err)
	shown, err := bankB.WalletRequests(ctx, alice.ID, roles.RequestAsPayer)
	noErr(t, err)
	if len(shown) != 1 || shown[0].ID != r.ID || shown[0].Amount != 12_34 || shown[0].State != roles.RequestPending {
		t.Fatalf("alice is shown %+v", shown)
	}
	// Refused before paying: another amount, nothing changes.
	_, err = bankB.AcceptRequest(ctx, r.ID, alice.ID, 12_00)
	wantCode(t, "accept another amount", err, errcode.Conflict, 409)
	_, err = bankA.AcceptRequest(ctx, r.ID, alice.ID, 0) // at the payee's intermediary: not the payer's
	wantCode(t, "accept at the wrong intermediary", err, errcode.Unauthorized, 403)
	if w, _ := e.bankBC.Intermediary("bank-b").Wallet(ctx, alice.ID); w.Balance != 50_00 {
		t.Fatalf("alice holds %d after refused accepts", w.Balance)
	}

	var first roles.PaymentRequest
	for i := range 3 {
		got, err := bankB.AcceptRequest(ctx, r.ID, alice.ID, 0)
		noErr(t, err)
		if i == 0 {
			first = got
		}
		if got.State != roles.RequestPaid || got.TxID != first.TxID || got.Paid != 12_34 {
			t.Fatalf("accept %d: %+v (first %+v)", i, got, first)
		}
	}
	eventually(t, "the shop sees it paid", func() error {
		got, err := bankA.Request(ctx, r.ID)
		if err == nil && (got.State != roles.RequestPaid || got.TxID != first.TxID) {
			err = fmt.Errorf("request at the shop's intermediary: %+v", got)
		}
		return err
	})
	w, err := e.bankC.Intermediary("bank-a").Wallet(ctx, shop.ID)
	noErr(t, err)
	if w.Balance != 12_34 {
		t.Fatalf("shop holds %d, want 12.34 once", w.Balance)
	}
	_, err = bankA.CancelRequest(ctx, r.ID, shop.ID)
	wantCode(t, "cancel paid", err, errcode.Conflict, 409)
	_, err = bankB.DeclineRequest(ctx, r.ID, alice.ID)
	wantCode(t, "decline paid", err, errcode.Conflict, 409)

	// A cancel reaches the payer's side; accepting it then is refused.
	r2, err := bankA.CreateRequest(ctx, roles.RequestSpec{Payee: shop.ID, Payer: alice.ID, Reference: "tip", Expires: time.Now().Add(time.Hour)})
	noErr(t, err)
	_, err = bankA.CancelRequest(ctx, r2.ID, shop.ID)
	noErr(t, err)
	got, err := bankB.Request(ctx, r2.ID)
	noErr(t, err)
	if got.State != roles.RequestCancelled {
		t.Fatalf("alice sees the cancelled request as %s", got.State)
	}
	_, err = bankB.AcceptRequest(ctx, r2.ID, alice.ID, 1_00)
	wantCode(t, "accept cancelled", err, errcode.Conflict, 409)
	list, err := bankA.WalletRequests(ctx, shop.ID, roles.RequestAsPayee)
	noErr(t, err)
	if len(list) != 2 || list[0].State != roles.RequestPaid || list[1].State != roles.RequestCancelled {
		t.Fatalf("the shop's requests: %+v", list)
	}
	if w, _ := e.bankBC.Intermediary("bank-b").Wallet(ctx, alice.ID); w.Balance != 50_00-12_34 {
		t.Fatalf("alice holds %d, want 50.00 - 12.34", w.Balance)
	}
}
