package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// shop and buyer wallets for refund and dispute tests on the real
// network: the shop at bank-a, the buyer at the bank named (bank-b:
// across intermediaries, bank-a: the same one), funded with fund.
func (e *realEnv) shopAndBuyer(t *testing.T, buyerBank string, fund uint64) (shop, buyer string) {
	t.Helper()
	ctx := context.Background()
	s, err := e.bankC.Intermediary("bank-a").OpenWallet(ctx, unlimited("shop"))
	noErr(t, err)
	bank := e.client(buyerBank)
	b, err := bank.OpenWallet(ctx, unlimited("buyer"))
	noErr(t, err)
	e.issueTo(t, buyerBank, fund)
	_, err = bank.Pay(ctx, roles.Payment{From: buyerBank + ".treasury", To: b.ID, Amount: fund})
	noErr(t, err)
	return s.ID, b.ID
}

// client is bank's own client, its credential.
func (e *realEnv) client(bank string) roles.Intermediary {
	if bank == "bank-b" {
		return e.bankBC.Intermediary(bank)
	}
	return e.bankC.Intermediary(bank)
}

// payDelivered pays and waits until the payee's history has the payment.
func (e *realEnv) payDelivered(t *testing.T, from, to string, amount uint64, ref string) money.TxID {
	t.Helper()
	ctx := context.Background()
	r, err := e.client(roles.IntermediaryOf(from)).Pay(ctx, roles.Payment{From: from, To: to, Amount: amount, Reference: ref})
	noErr(t, err)
	e.waitLine(t, to, r.TxID, "in")
	return r.TxID
}

// waitLine waits until wallet's history has txid's line in direction dir,
// and returns it.
func (e *realEnv) waitLine(t *testing.T, wallet string, txid money.TxID, dir string) roles.Entry {
	t.Helper()
	var line roles.Entry
	eventually(t, "history line "+txid.String()+" of "+wallet, func() error {
		h, err := e.client(roles.IntermediaryOf(wallet)).History(context.Background(), wallet)
		if err != nil {
			return err
		}
		for _, l := range h {
			if l.TxID == txid && l.Direction == dir {
				line = l
				return nil
			}
		}
		return fmt.Errorf("not yet in %d lines", len(h))
	})
	return line
}

// books is what a user could notice of wallets: balances, pending and
// history lengths.
func (e *realEnv) books(t *testing.T, wallets ...string) string {
	t.Helper()
	out := ""
	for _, w := range wallets {
		bank := e.client(roles.IntermediaryOf(w))
		wl, err := bank.Wallet(context.Background(), w)
		noErr(t, err)
		h, err := bank.History(context.Background(), w)
		noErr(t, err)
		out += fmt.Sprintf("%s: %d+%d pending, %d lines; ", w, wl.Balance, wl.Pending, len(h))
	}
	return out
}
