package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/specie/specie/roles"
)

// A payment across intermediaries, delivered over HTTP, shows the payer's
// wallet and the reference on the payee's history line too: bank-a hands
// the delivery to bank-b through the API with the payment's memo.
func TestPayeeHistoryOverHTTP(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	e.setPeer("bank-b", e.bankC.Intermediary("bank-b")) // bank-a reaches bank-b over HTTP, as bank-a
	bankA, bankB := e.bankC.Intermediary("bank-a"), e.bankBC.Intermediary("bank-b")

	e.issueTo(t, "bank-a", 10_00)
	bob, err := bankB.OpenWallet(ctx, unlimited("Bob"))
	noErr(t, err)
	res, err := bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: 3_00, Reference: "salary"})
	noErr(t, err)
	var h []roles.Entry
	eventually(t, "bob credited", func() error {
		if h, err = bankB.History(ctx, bob.ID); err == nil && len(h) != 1 {
			err = fmt.Errorf("bob's history %+v", h)
		}
		return err
	})
	if h[0].TxID != res.TxID || h[0].Direction != "in" || h[0].Amount != 3_00 ||
		h[0].Counterparty != "bank-a.treasury" || h[0].Reference != "salary" {
		t.Fatalf("bob's line %+v", h[0])
	}
	w, err := bankA.Wallet(ctx, "bank-a.treasury")
	noErr(t, err)
	if w.Balance != 7_00 || w.Pending != 0 {
		t.Fatalf("treasury over HTTP %+v", w)
	}
}
