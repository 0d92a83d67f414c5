package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// badText is free text encoding/json would rewrite to U+FFFD: raw bytes
// that are not UTF-8, and escapes of unpaired surrogates.
var badText = []string{"\xff\xfe", "caf\xc3", `\ud800`, `x\udfffy`}

// TestInvalidUTF8RefusedAtTheEdge: a wallet owner, a payment reference or
// any other string in a body that is not UTF-8 is 400 malformed, and no
// service is called.
func TestInvalidUTF8RefusedAtTheEdge(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, s := range badText {
		for _, c := range []struct{ path, body string }{
			{"/v1/intermediaries/bank-a/wallets", `{"owner":"` + s + `"}`},
			{"/v1/intermediaries/bank-a/payments", `{"from":"bank-a.w1","to":"bank-b.w2","amount":"1","reference":"` + s + `"}`},
			{"/v1/intermediaries/bank-a/payments", `{"from":"bank-a.w1` + s + `","to":"bank-b.w2","amount":"1"}`},
			{"/v1/issuer/mints", `{"to":"bank-a` + s + `","amount":"1"}`},
		} {
			before := e.totalCalls()
			tok := bankATok
			if c.path == "/v1/issuer/mints" {
				tok = issuerTok
			}
			wantError(t, e.rawS(t, "POST", c.path, tok, c.body), 400, "malformed")
			if e.totalCalls() != before {
				t.Fatalf("%s %q reached a service", c.path, c.body)
			}
		}
	}
}

// TestInvalidUTF8ChangesNothing: on the real network, a payment whose
// reference is not UTF-8 and a wallet whose owner is not are refused
// malformed over HTTP and in process, and balances, history and the log
// are as before.
func TestInvalidUTF8ChangesNothing(t *testing.T) {
	e := newRealEnv(t)
	ctx := context.Background()
	bank := e.banks["bank-a"]
	in := e.bankC.Intermediary("bank-a")
	asIssuer := roles.WithCaller(ctx, issuerP)
	lock, err := bank.ReceiveLock(asIssuer, "bank-a.treasury")
	noErr(t, err)
	mint := e.net.Mint([]int{0, 1}, money.Output{Value: 100000, Lock: lock})
	_, err = e.ledger.Submit(asIssuer, mint)
	noErr(t, err)
	noErr(t, bank.Deliver(asIssuer, mint))
	alice, err := in.OpenWallet(ctx, unlimited("Alice"))
	noErr(t, err)

	state := func() string {
		a, err := in.Wallet(ctx, alice.ID)
		noErr(t, err)
		tr, err := in.Wallet(ctx, "bank-a.treasury")
		noErr(t, err)
		h, err := in.History(ctx, "bank-a.treasury")
		noErr(t, err)
		sup, err := e.ledger.Supply(ctx)
		noErr(t, err)
		return fmt.Sprintf("alice %d, treasury %d, %d entries, %d batches", a.Balance, tr.Balance, len(h), sup.Batches)
	}
	before := state()
	url := e.srv.URL + "/v1/intermediaries/bank-a/payments"
	for _, s := range badText {
		wantError(t, httpPost(t, url, bankATok, `{"from":"bank-a.treasury","to":"`+alice.ID+`","amount":"10.00","reference":"`+s+`"}`), 400, "malformed")
		wantError(t, httpPost(t, e.srv.URL+"/v1/intermediaries/bank-a/wallets", bankATok, `{"owner":"`+s+`"}`), 400, "malformed")
	}
	// In process the service itself refuses raw bytes that are not UTF-8.
	asBank := roles.WithCaller(ctx, bankAP)
	_, err = bank.Pay(asBank, roles.Payment{From: "bank-a.treasury", To: alice.ID, Amount: 1000, Reference: "\xff\xfe"})
	wantCode(t, "in-process payment with a reference that is not UTF-8", err, errcode.Malformed, 400)
	_, err = bank.OpenWallet(asBank, unlimited("Bob\xc3"))
	wantCode(t, "in-process wallet with an owner that is not UTF-8", err, errcode.Malformed, 400)
	if after := state(); after != before {
		t.Fatalf("state changed: %s, before %s", after, before)
	}
	// Valid text outside ASCII goes through unchanged.
	pr, err := in.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: alice.ID, Amount: 1000, Reference: "café 😀"})
	noErr(t, err)
	h, err := in.History(ctx, alice.ID)
	noErr(t, err)
	if len(h) != 1 || h[0].TxID != pr.TxID || h[0].Reference != "café 😀" {
		t.Fatalf("alice's history %+v", h)
	}
}
