package main

import (
	"strings"
	"testing"

	"github.com/specie/specie/emvco"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// TestRequestCommands: a shop at bank-b asks a customer at bank-a to pay;
// she sees the request, pays it (twice: once is paid), and the shop sees
// it paid; refused transitions fail with their code and move nothing; an
// open request is declined.
func TestRequestCommands(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 1_000_00)
	shop := e.openWallet("bank-b", "Corner Cafe")
	cust := e.openWallet("bank-a", "carol")
	e.pay("bank-a.treasury", cust, 100_00)

	var r wire.RequestToPay
	e.mustJSON(&r, "request", "create", "--payee", shop, "--payer", cust, "--amount", "12.50", "--reference", "INV-9", "--expires", "1h")
	if r.State != "pending" || r.Amount != "1250" || r.Payer != cust {
		t.Fatalf("created %+v", r)
	}
	var list wire.RequestsToPay
	e.mustJSON(&list, "request", "list", "--wallet", cust, "--role", "payer")
	if len(list.Requests) != 1 || list.Requests[0].ID != r.ID {
		t.Fatalf("the customer is shown %+v", list)
	}
	var paid, again wire.RequestToPay
	e.mustJSON(&paid, "request", "accept", r.ID, "--payer", cust)
	e.mustJSON(&again, "request", "accept", r.ID, "--payer", cust)
	if paid.State != "paid" || paid.TxID == nil || again.TxID == nil || *again.TxID != *paid.TxID {
		t.Fatalf("accepted %+v, again %+v", paid, again)
	}
	if got := e.balance(shop); got != 12_50 {
		t.Fatalf("shop holds %d after two accepts, want 12.50 once", got)
	}
	var seen wire.RequestToPay
	e.mustJSON(&seen, "request", "show", r.ID)
	if seen.State != "paid" || *seen.TxID != *paid.TxID {
		t.Fatalf("the shop's intermediary shows %+v", seen)
	}
	for _, tc := range []struct {
		args []string
		code errcode.Code
	}{
		{[]string{"request", "cancel", r.ID, "--payee", shop}, errcode.Conflict},
		{[]string{"request", "decline", r.ID, "--payer", cust}, errcode.Conflict},
		{[]string{"request", "accept", r.ID, "--payer", "bank-a.treasury"}, errcode.Unauthorized},
		{[]string{"request", "accept", "bank-b.rqnosuch", "--payer", cust}, errcode.NotFound},
		{[]string{"request", "create", "--payee", shop, "--payer", cust, "--expires", "-1h"}, errcode.Malformed},
		{[]string{"request", "create", "--payee", shop, "--payer", "carol"}, errcode.Malformed},
	} {
		out, err := e.run(tc.args...)
		if !errcode.Is(err, tc.code) {
			t.Errorf("specie %v: %v (%s), want %s", tc.args, err, out, tc.code)
		}
	}
	if got := e.balance(shop); got != 12_50 {
		t.Fatalf("shop holds %d after refused commands", got)
	}

	var open wire.RequestToPay
	e.mustJSON(&open, "request", "create", "--payee", shop, "--payer", cust, "--reference", "tip")
	e.must("request", "decline", open.ID, "--payer", cust)
	e.mustJSON(&list, "request", "list", "--wallet", shop, "--role", "payee")
	if len(list.Requests) != 2 || list.Requests[1].State != "declined" || list.Requests[0].State != "paid" {
		t.Fatalf("the shop's requests %+v", list)
	}
}

// TestRequestEndCommands: decline (by the payer, at its intermediary) and
// cancel (by the payee, at its) end a pending request and print it in its
// new state, as text and as JSON; each asks for its own wallet's flag, and
// the other's is refused before anything is sent.
func TestRequestEndCommands(t *testing.T) {
	e := newEnv(t)
	shop := e.openWallet("bank-b", "Corner Cafe")
	cust := e.openWallet("bank-a", "carol")
	for _, tc := range []struct {
		cmd, flag, wallet, state string
	}{
		{"decline", "--payer", cust, "declined"},
		{"cancel", "--payee", shop, "cancelled"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			var r wire.RequestToPay
			e.mustJSON(&r, "request", "create", "--payee", shop, "--payer", cust, "--amount", "1.00", "--expires", "1h")
			other := map[string]string{"--payer": "--payee", "--payee": "--payer"}[tc.flag]
			if out, err := e.run("request", tc.cmd, r.ID, other, tc.wallet); err == nil {
				t.Fatalf("specie request %s with %s answered %s", tc.cmd, other, out)
			}
			var seen wire.RequestToPay
			e.mustJSON(&seen, "request", "show", r.ID)
			if seen.State != "pending" {
				t.Fatalf("a refused %s left the request %s", tc.cmd, seen.State)
			}
			out := e.must("request", tc.cmd, r.ID, tc.flag, tc.wallet)
			if !strings.Contains(out, tc.state) {
				t.Fatalf("specie request %s printed %q, want it %s", tc.cmd, out, tc.state)
			}
			e.mustJSON(&seen, "request", "show", r.ID)
			if seen.State != tc.state {
				t.Fatalf("after %s the request is %s, want %s", tc.cmd, seen.State, tc.state)
			}
			_, err := e.run("request", tc.cmd, r.ID, tc.flag, tc.wallet)
			if !errcode.Is(err, errcode.Conflict) {
				t.Fatalf("specie request %s again: %v, want conflict", tc.cmd, err)
			}
		})
	}
}

// TestRequestQR: `qr show --request` writes a code carrying the request
// (dynamic with a fixed amount, static for an open one), and `wallet pay
// --qr` of it accepts the request, paying once.
func TestRequestQR(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 1_000_00)
	shop := e.openWallet("bank-b", "Corner Cafe")
	cust := e.openWallet("bank-a", "carol")
	e.pay("bank-a.treasury", cust, 100_00)
	usd := e.node.Config.Network.Currency

	var r wire.RequestToPay
	e.mustJSON(&r, "request", "create", "--payee", shop, "--payer", cust, "--amount", "7.25", "--reference", "INV-10")
	var shown qrShown
	e.mustJSON(&shown, "qr", "show", "--wallet", shop, "--request", r.ID)
	p, err := emvco.Decode(shown.Payload, usd)
	if err != nil {
		t.Fatalf("qr show --request wrote a payload Decode refuses: %v", err)
	}
	if p.Payee != (emvco.Payee{Request: r.ID}) || !p.Dynamic || p.Amount != 7_25 || p.Reference != "INV-10" || shown.Request != r.ID {
		t.Fatalf("the code says %+v (%+v)", p, shown)
	}
	_, err = e.run("wallet", "pay", "--from", cust, "--qr", shown.Payload, "--amount", "1.00")
	if !errcode.Is(err, errcode.Malformed) {
		t.Fatalf("pay a dynamic request code with --amount: %v", err)
	}
	for range 2 {
		var paid wire.RequestToPay
		e.mustJSON(&paid, "wallet", "pay", "--from", cust, "--qr", shown.Payload)
		if paid.State != "paid" || paid.ID != r.ID {
			t.Fatalf("pay --qr answered %+v", paid)
		}
	}
	if got := e.balance(shop); got != 7_25 {
		t.Fatalf("shop holds %d, want 7.25 once", got)
	}
	// A paid request has no code any more.
	if _, err := e.run("qr", "show", "--wallet", shop, "--request", r.ID); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("qr show of a paid request: %v", err)
	}

	var open wire.RequestToPay
	e.mustJSON(&open, "request", "create", "--payee", shop, "--payer", cust)
	e.mustJSON(&shown, "qr", "show", "--wallet", shop, "--request", open.ID)
	if p, err = emvco.Decode(shown.Payload, usd); err != nil || p.Dynamic || p.Payee.Request != open.ID {
		t.Fatalf("open request's code: %+v, %v", p, err)
	}
	if _, err := e.run("wallet", "pay", "--from", cust, "--qr", shown.Payload); !errcode.Is(err, errcode.Malformed) {
		t.Fatalf("pay an open request's code without --amount: %v", err)
	}
	e.must("wallet", "pay", "--from", cust, "--qr", shown.Payload, "--amount", "2.00")
	if got := e.balance(shop); got != 9_25 {
		t.Fatalf("shop holds %d, want 9.25", got)
	}
	if _, err := e.run("qr", "show", "--wallet", shop, "--request", open.ID, "--amount", "1"); !errcode.Is(err, errcode.Malformed) {
		t.Fatalf("qr show --request --amount: %v", err)
	}
}
