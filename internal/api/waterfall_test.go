package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// A payment across intermediaries over HTTP meets the payee's holding
// limit before anything is signed: refused while the payee has no linked
// account, split by the waterfall once it has one (bank-a asks bank-b
// with the amount, pays the excess to bank-b's treasury, and bank-b
// credits it to the account when the delivery arrives with its memo).
func TestWaterfallOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	e.setPeer("bank-b", e.bankC.Intermediary("bank-b")) // bank-a reaches bank-b over HTTP, as bank-a
	bankA, bankB := e.bankC.Intermediary("bank-a"), e.bankBC.Intermediary("bank-b")
	admin := bankB.(roles.WalletAdmin)

	asIssuer := roles.WithCaller(ctx, issuerP)
	m, err := e.issuer.ProposeMint(asIssuer, "bank-a", 1_000_00)
	noErr(t, err)
	for _, i := range []int{0, 1} {
		k := e.net.Officers[i]
		m, err = e.issuer.ApproveMint(asIssuer, m.ID, k.Public(), k.Sign(crypto.Mint, e.net.Network.ID, m.ID))
		noErr(t, err)
	}
	eventually(t, "mint delivered", func() error {
		w, err := bankA.Wallet(ctx, "bank-a.treasury")
		if err == nil && w.Balance != 1_000_00 {
			err = fmt.Errorf("treasury %d", w.Balance)
		}
		return err
	})
	bob, err := bankB.OpenWallet(ctx, roles.WalletRequest{Owner: "Bob", Tier: 0,
		Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550100002"}}})
	noErr(t, err)
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: 400_00})
	noErr(t, err)

	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: 150_00})
	wantCode(t, "over the holding limit, unlinked", err, errcode.LimitExceeded, 422)
	_, err = admin.Link(ctx, bob.ID, "B-77", "waterfall")
	noErr(t, err)
	_, err = bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: 150_00, Reference: "refund"})
	noErr(t, err)
	eventually(t, "bob and his account credited", func() error {
		w, err := bankB.Wallet(ctx, bob.ID)
		if err != nil {
			return err
		}
		acc, es, err := admin.Account(ctx, bob.ID)
		if err == nil && (w.Balance != 500_00 || acc.Balance != 50_00 || len(es) != 1) {
			err = fmt.Errorf("bob %d, account %d %+v", w.Balance, acc.Balance, es)
		}
		return err
	})
	tr, err := bankB.Wallet(ctx, "bank-b.treasury")
	noErr(t, err)
	if tr.Balance != 50_00 {
		t.Fatalf("bank-b's treasury holds %d, want the account's 50.00", tr.Balance)
	}
}
