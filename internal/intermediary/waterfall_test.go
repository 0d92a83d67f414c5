package intermediary_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// account returns the balance of the deposit account linked to wallet id
// and its history.
func (te *tierEnv) account(id string) (uint64, []roles.AccountEntry) {
	te.t.Helper()
	bank := roles.IntermediaryOf(id)
	a, es, err := te.bank(bank).Account(as(bank), id)
	if err != nil {
		te.t.Fatalf("account of %s: %v", id, err)
	}
	return a.Balance, es
}

func (te *tierEnv) linkAccount(id, account string) {
	te.t.Helper()
	bank := roles.IntermediaryOf(id)
	if _, err := te.bank(bank).Link(as(bank), id, account, "customer asked"); err != nil {
		te.t.Fatal(err)
	}
}

// lastIn is the amount of the newest "in" line of wallet id's history.
func (te *tierEnv) lastIn(id string) uint64 {
	te.t.Helper()
	h := te.history(id)
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Direction == "in" {
			return h[i].Amount
		}
	}
	return 0
}

func TestWaterfall(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b")
	tests := []struct {
		name      string
		payeeBank string
		held      uint64 // the payee's balance before, of a holding limit of 100.00
		amount    uint64
		link      bool
		code      errcode.Code
		toWallet  uint64
		toAccount uint64
	}{
		{"fits: no waterfall", "bank-a", 40 * usd, 60 * usd, true, "", 60 * usd, 0},
		{"over, unlinked", "bank-a", 40 * usd, 61 * usd, false, errcode.LimitExceeded, 0, 0},
		{"over, linked", "bank-a", 40 * usd, 150 * usd, true, "", 60 * usd, 90 * usd},
		{"at the limit, linked", "bank-a", 100 * usd, 30 * usd, true, "", 0, 30 * usd},
		{"across, unlinked", "bank-b", 40 * usd, 61 * usd, false, errcode.LimitExceeded, 0, 0},
		{"across, linked", "bank-b", 40 * usd, 150 * usd, true, "", 60 * usd, 90 * usd},
		{"across, at the limit", "bank-b", 100 * usd, 30 * usd, true, "", 0, 30 * usd},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payer := te.walletAt("bank-a", unlimited("payer"), tc.amount)
			bob := te.walletAt(tc.payeeBank, tier(5, phone), tc.held)
			if tc.link {
				te.linkAccount(bob, "ACC-"+string(rune('a'+i)))
			}
			treasury := tc.payeeBank + roles.TreasurySuffix
			tBefore := te.balance(treasury)
			if tc.code != "" {
				te.reject(t, payer, bob, tc.amount, tc.code, "holding limit 100.00")
				return
			}
			if err := te.pay(payer, bob, tc.amount); err != nil {
				t.Fatal(err)
			}
			if err := te.bank("bank-a").RetryDeliveries(as("bank-a")); err != nil {
				t.Fatal(err)
			}
			if got := te.balance(bob); got != tc.held+tc.toWallet {
				t.Fatalf("bob holds %d, want %d", got, tc.held+tc.toWallet)
			}
			if got := te.balance(treasury); got != tBefore+tc.toAccount {
				t.Fatalf("the treasury holds %d more, want %d more", got-tBefore, tc.toAccount)
			}
			if !tc.link {
				return
			}
			bal, es := te.account(bob)
			if bal != tc.toAccount {
				t.Fatalf("account holds %d, want %d (history %+v)", bal, tc.toAccount, es)
			}
			wallet := uint64(0)
			if tc.toWallet > 0 {
				wallet = te.lastIn(bob)
			}
			if wallet+bal != tc.amount {
				t.Fatalf("wallet's line %d and account's %d do not add up to the payment %d", wallet, bal, tc.amount)
			}
		})
	}
}

func TestReverseWaterfall(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b")
	shop := te.walletAt("bank-b", unlimited("shop"), 0)
	alice := te.walletAt("bank-a", tier(5, phone), 100*usd)
	te.linkAccount(alice, "ACC-ALICE")
	payer := te.walletAt("bank-a", unlimited("payer"), 300*usd)
	if err := te.pay(payer, alice, 300*usd); err != nil { // all of it into the account
		t.Fatal(err)
	}
	if bal, _ := te.account(alice); bal != 300*usd {
		t.Fatalf("account %d", bal)
	}

	// More than the wallet and the account hold together: refused, and
	// nothing changes, the account included.
	before := te.snapshot(alice, shop)
	err := te.pay(alice, shop, 401*usd)
	wantCode(t, err, errcode.InsufficientFunds, 422)
	te.unchanged(t, before, alice, shop)
	if bal, _ := te.account(alice); bal != 300*usd {
		t.Fatalf("account %d after a refused payment", bal)
	}

	// A draw the ledger rejects releases the wallet's and the treasury's
	// notes and gives the account its money back.
	te.link.tamper.Store(true)
	err = te.pay(alice, shop, 250*usd)
	te.link.tamper.Store(false)
	wantCode(t, err, errcode.BadSignature, 0)
	te.unchanged(t, before, alice, shop)
	if bal, es := te.account(alice); bal != 300*usd || len(es) != 1 {
		t.Fatalf("account %d, %+v after a rejected draw", bal, es)
	}

	treasury := te.balance("bank-a.treasury")
	if err := te.pay(alice, shop, 250*usd); err != nil {
		t.Fatal(err)
	}
	if err := te.bank("bank-a").RetryDeliveries(as("bank-a")); err != nil {
		t.Fatal(err)
	}
	bal, es := te.account(alice)
	if te.balance(alice) != 0 || bal != 150*usd || te.balance(shop) != 250*usd || te.balance("bank-a.treasury") != treasury-150*usd {
		t.Fatalf("alice %d, account %d, shop %d, treasury %d (was %d)", te.balance(alice), bal, te.balance(shop), te.balance("bank-a.treasury"), treasury)
	}
	h := te.history(alice)
	out, draw := h[len(h)-1], es[len(es)-1]
	if out.Direction != "out" || draw.Direction != "out" || out.TxID != draw.TxID || out.Amount+draw.Amount != 250*usd {
		t.Fatalf("wallet line %+v and account line %+v: want both sides of the 250.00 payment", out, draw)
	}
	for _, pend := range []*intermediary.Intermediary{te.bank("bank-a")} {
		if p, _ := pend.Pending(); len(p) != 0 {
			t.Fatalf("pending spends left: %v", p)
		}
	}
}

// TestDailySweep pins that a merchant wallet's excess over the tier's
// SweepAbove goes to its linked account once a day.
func TestDailySweep(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a")
	a := te.bank("bank-a")
	shop := te.walletAt("bank-a", unlimited("shop"), 12_000*usd)
	te.linkAccount(shop, "ACC-SHOP")
	unlinked := te.walletAt("bank-a", unlimited("other shop"), 11_000*usd)

	intermediary.Sweep(a)
	if bal, es := te.account(shop); bal != 2_000*usd || te.balance(shop) != 10_000*usd || len(es) != 1 || !strings.Contains(es[0].Reference, "swept") {
		t.Fatalf("after the sweep: wallet %d, account %d %+v", te.balance(shop), bal, es)
	}
	if te.balance(unlinked) != 11_000*usd {
		t.Fatalf("a wallet without an account was swept: %d", te.balance(unlinked))
	}
	te.fund(shop, 500*usd)
	te.clock.set(jan31.Add(time.Hour)) // the same day
	intermediary.Sweep(a)
	if te.balance(shop) != 10_500*usd {
		t.Fatalf("swept twice in a day: %d", te.balance(shop))
	}
	te.clock.set(jan31.Add(3 * time.Hour)) // the next day
	intermediary.Sweep(a)
	if bal, _ := te.account(shop); bal != 2_500*usd || te.balance(shop) != 10_000*usd {
		t.Fatalf("the next day: wallet %d, account %d", te.balance(shop), bal)
	}
}

// blindPeer is an intermediary reached without ReceiveFor, as one that
// does not check amounts: its payers ask only for the lock.
type blindPeer struct {
	roles.Intermediary
}

func (p blindPeer) DeliverBatch(ctx context.Context, ds []roles.Delivery) ([]error, error) {
	return p.Intermediary.(roles.BatchDeliverer).DeliverBatch(ctx, ds)
}

// TestLateWaterfallOnDelivery pins that a delivery that takes a linked
// wallet over its holding limit (its payer did not ask with the amount)
// moves the excess into the account at once, without counting it against
// the wallet's outgoing limits.
func TestLateWaterfallOnDelivery(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b")
	bob := te.walletAt("bank-b", tier(5, phone), 40*usd)
	te.linkAccount(bob, "ACC-BOB")
	te.mu.Lock()
	te.peers["bank-b"] = blindPeer{te.banks["bank-b"]}
	te.mu.Unlock()
	payer := te.walletAt("bank-a", unlimited("payer"), 150*usd)
	if err := te.pay(payer, bob, 150*usd); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		bal, _ := te.account(bob)
		if bal == 90*usd && te.balance(bob) == 100*usd {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob holds %d, his account %d; want 100.00 and 90.00", te.balance(bob), bal)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d, m := te.outgoing(bob); d != 0 || m != 0 {
		t.Fatalf("moving the excess counted as bob's payments: %d/%d", d, m)
	}
}
