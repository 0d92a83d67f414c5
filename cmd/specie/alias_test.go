package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// lastCode is the last one-time code bank's devnet "sent" (to otp.log in
// its data directory) for alias and wallet.
func (e *env) lastCode(bank, alias, wallet string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, bank, "otp.log"))
	if err != nil {
		e.t.Fatal(err)
	}
	code := ""
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[1] == alias && f[2] == wallet {
			code = f[3]
		}
	}
	if code == "" {
		e.t.Fatalf("no code for %s on %s in %s's otp.log:\n%s", alias, wallet, bank, b)
	}
	return code
}

// waitBalance waits until wallet id holds want (a payment across
// intermediaries is delivered after it commits).
func (e *env) waitBalance(id string, want uint64) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.balance(id) != want {
		if time.Now().After(deadline) {
			e.t.Fatalf("balance of %s is %d, want %d", id, e.balance(id), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAliasCommands runs README.md's alias steps against `specie up`'s
// network: alice binds her number at bank-b with the code from otp.log,
// carol at bank-a looks it up and pays it with `wallet pay --to`, alice
// moves it to bank-a and the next payment follows, she removes it and it
// is not_found; an email address pays the same way; a wrong code, an
// unknown alias and a duplicate are refused with their codes and move no
// money.
func TestAliasCommands(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 1_000_00)
	alice := e.openWallet("bank-b", "Alice Smith")
	carol := e.openWallet("bank-a", "carol")
	mallory := e.openWallet("bank-a", "mallory")
	e.pay("bank-a.treasury", carol, 100_00)
	const phone = "+15551234567"

	out := e.must("alias", "add", "+1 555 123 4567", "--wallet", alice)
	if !strings.Contains(out, "a one-time code was sent to "+phone+" for "+alice) || !strings.Contains(out, filepath.Join(e.dir, "bank-b", "otp.log")) {
		t.Fatalf("alias add without a code:\n%s", out)
	}
	code := e.lastCode("bank-b", phone, alice)
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	_, err := e.run("alias", "add", phone, "--wallet", alice, "--code", wrong)
	if !errcode.Is(err, errcode.Unauthorized) || !strings.Contains(oneLine(err), "wrong one-time code for "+phone+": 2 tries left") {
		t.Fatalf("wrong code: %v", err)
	}
	out = e.must("alias", "add", phone, "--wallet", alice, "--code", code)
	if want := phone + " now reaches " + alice + " at bank-b, shown to payers as \"Alice S.\"\n"; out != want {
		t.Fatalf("alias add --code: %q, want %q", out, want)
	}
	_, err = e.run("alias", "add", phone, "--wallet", mallory)
	if !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("the same number at bank-a: %v", err)
	}

	out = e.must("alias", "lookup", "+1-555-123-4567")
	if want := phone + " reaches " + alice + " at bank-b: Alice S.\n"; out != want {
		t.Fatalf("lookup: %q, want %q", out, want)
	}
	var entry roles.AliasEntry
	e.mustJSON(&entry, "alias", "lookup", phone, "--intermediary", "bank-b")
	if entry.Wallet != alice || entry.Display != "Alice S." || entry.Kind != roles.AliasPhone {
		t.Fatalf("lookup --json: %+v", entry)
	}

	out = e.must("wallet", "pay", "--from", carol, "--to", phone, "--amount", "12.50")
	if !strings.Contains(out, "paid 12.50 USD from "+carol+" to "+alice+" ("+phone+", Alice S.): committed") {
		t.Fatalf("pay by alias:\n%s", out)
	}
	e.waitBalance(alice, 12_50)
	_, err = e.run("wallet", "pay", "--from", carol, "--to", "+15550000000", "--amount", "1.00")
	if !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("pay an unknown alias: %v", err)
	}
	if got := e.balance(carol); got != 100_00-12_50 {
		t.Fatalf("carol holds %d after a refused payment", got)
	}

	// An email address works the same way, in any case.
	e.must("alias", "add", "Alice@Example.org", "--wallet", alice)
	e.must("alias", "add", "alice@example.org", "--wallet", alice, "--code", e.lastCode("bank-b", "alice@example.org", alice))
	out = e.must("wallet", "pay", "--from", carol, "--to", "ALICE@example.ORG", "--amount", "1.50")
	if !strings.Contains(out, " to "+alice+" (alice@example.org, Alice S.): committed") {
		t.Fatalf("pay by email:\n%s", out)
	}
	e.waitBalance(alice, 14_00)

	// Alice moves her number to a wallet at bank-a.
	moved := e.openWallet("bank-a", "Alice Smith")
	e.must("alias", "move", phone, "--wallet", moved)
	e.must("alias", "move", phone, "--wallet", moved, "--code", e.lastCode("bank-a", phone, moved))
	e.must("wallet", "pay", "--from", carol, "--to", phone, "--amount", "2.00")
	e.waitBalance(moved, 2_00)
	if got := e.balance(alice); got != 14_00 {
		t.Fatalf("the old wallet got %d after the move", got)
	}
	_, err = e.run("alias", "remove", phone, "--wallet", alice)
	if !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("removing from the old wallet: %v", err)
	}
	e.must("alias", "remove", phone, "--wallet", moved)
	_, err = e.run("alias", "lookup", phone)
	if !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("lookup after remove: %v", err)
	}

	// Enumeration stops at the caller's budget (20 in the devnet).
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		_, err := e.run("alias", "lookup", "+1555000"+strings.Repeat("0", 3)+string(rune('0'+i%10)))
		limited = errcode.Is(err, errcode.RateLimited)
	}
	if !limited {
		t.Fatal("40 lookups in a row were never rate_limited")
	}
}
