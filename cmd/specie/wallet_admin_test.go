package main

import (
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// TestWalletAdminCommands runs a tier-0 wallet through the administration
// commands: open with evidence, a payment over its limit, freeze and
// unfreeze, an upgrade, a link, and the audit trail, each with --json
// too, and the refusals with their codes.
func TestWalletAdminCommands(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 10_000_00)
	shop := e.openWallet("bank-a", "shop")

	var w wire.Wallet
	e.mustJSON(&w, "wallet", "open", "--intermediary", "bank-a", "--owner", "carol", "--tier", "0", "--evidence", "phone=+15550001111", "--reason", "signup")
	eq(t, "tier", w.Tier, 0)
	eq(t, "state", w.State, "active")
	eq(t, "holding_limit", w.HoldingLimit, "50000")
	carol := w.ID
	e.pay("bank-a.treasury", carol, 400_00)

	refused := []struct {
		name string
		args []string
		code errcode.Code
		msg  string
	}{
		{"no evidence", []string{"wallet", "open", "--intermediary", "bank-a", "--owner", "dave", "--tier", "1", "--evidence", "phone=+1555"}, errcode.Malformed, "needs identity evidence"},
		{"evidence without a reference", []string{"wallet", "open", "--owner", "dave", "--evidence", "phone"}, errcode.Malformed, "want KIND=REF"},
		{"over the per-payment limit", []string{"wallet", "pay", "--from", carol, "--to", shop, "--amount", "200.01"}, errcode.LimitExceeded, "per-payment limit 200.00 exceeded"},
		{"freeze without a reason", []string{"wallet", "freeze", carol, "--reason", " "}, errcode.Malformed, "reason is required"},
		{"unfreeze an active wallet", []string{"wallet", "unfreeze", carol, "--reason", "x"}, errcode.Conflict, "not frozen"},
		{"close with money in it", []string{"wallet", "close", carol, "--reason", "x"}, errcode.Conflict, "pay it out"},
		{"to the tier it is at", []string{"wallet", "tier", carol, "--tier", "0", "--reason", "x"}, errcode.Conflict, "already at tier 0"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.run(tt.args...)
			if got := errcode.Of(err); got != tt.code || !strings.Contains(oneLine(err), tt.msg) {
				t.Fatalf("%v: want %s, %q", err, tt.code, tt.msg)
			}
		})
	}
	if got := e.balance(carol); got != 400_00 {
		t.Fatalf("carol holds %d after the refusals", got)
	}

	out := e.must("wallet", "freeze", carol, "--reason", "court order")
	eq(t, "freeze", out, "wallet "+carol+" frozen: tier 0 (phone only), frozen, holding limit 500.00\n")
	_, err := e.run("wallet", "pay", "--from", carol, "--to", shop, "--amount", "1.00")
	eq(t, "code paying from a frozen wallet", errcode.Of(err), errcode.Blocked)
	e.must("wallet", "unfreeze", carol, "--reason", "lifted")
	e.mustJSON(&w, "wallet", "tier", carol, "--tier", "1", "--evidence", "identity=P123", "--reason", "kyc")
	eq(t, "tier after the upgrade", w.Tier, 1)
	eq(t, "holding limit after the upgrade", w.HoldingLimit, "300000")
	e.must("wallet", "link", carol, "--account", "ACC-9", "--reason", "waterfall")

	var a wire.Audit
	e.mustJSON(&a, "wallet", "audit", carol)
	var got []string
	for _, x := range a.Entries {
		got = append(got, x.Action+"/"+x.Reason)
	}
	eq(t, "audit trail", strings.Join(got, " "), "open/signup freeze/court order unfreeze/lifted tier/kyc link/waterfall")
	text := e.must("wallet", "audit", carol)
	if n := strings.Count(text, "\n"); n != 5 || !strings.Contains(text, "freeze   by bank-a") {
		t.Fatalf("audit text:\n%s", text)
	}
	var acc wire.Account
	e.mustJSON(&acc, "wallet", "account", carol)
	eq(t, "account", acc.ID, "ACC-9")
	eq(t, "account balance", acc.Balance, "0")
}
