package intermediary_test

import (
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// Closing a wallet ends its aliases: a lookup then answers not_found and
// the alias can be bound to another wallet. An alias removed before, or
// moved to another wallet, stays as it is.
func TestClosingAWalletUnbindsItsAliases(t *testing.T) {
	ae := newAliasEnv(t)
	const phone, mail, moved = "+15551234567", "alice@example.com", "+15550001111"
	alice := ae.wallet("bank-a", "Alice Smith", 0)
	bob := ae.wallet("bank-a", "Bob Jones", 0)
	ae.register("bank-a", alice, phone, false)
	ae.register("bank-a", alice, mail, false)
	ae.register("bank-a", alice, moved, false)
	ae.register("bank-a", bob, moved, true) // moves to bob
	if err := ae.bank("bank-a").RemoveAlias(as("bank-a"), alice, mail); err != nil {
		t.Fatal(err)
	}

	if _, err := ae.bank("bank-a").CloseWallet(as("bank-a"), alice, "customer left"); err != nil {
		t.Fatal(err)
	}
	_, err := ae.book("bank-a").LookupAlias(as("bank-a"), phone)
	wantCode(t, err, errcode.NotFound, 404)
	if e, err := ae.book("bank-a").LookupAlias(as("bank-a"), moved); err != nil || e.Wallet != bob {
		t.Fatalf("the alias moved to bob: %+v, %v", e, err)
	}
	if got, want := ae.dirState(phone, mail, moved), "+15551234567: none\nalice@example.com: none\n+15550001111: "+bob+" \"Bob J.\"\nbindings: 1\n"; got != want {
		t.Fatalf("directory after the close:\n%s\nwant\n%s", got, want)
	}
	if n, err := intermediary.UnbindClosedAliases(ae.bank("bank-a")); err != nil || n != 0 {
		t.Fatalf("unbindings still owed after the close: %d, %v", n, err)
	}
	ae.register("bank-a", bob, phone, false) // free for anyone now
}

// A close while the alias directory cannot be reached closes the wallet
// (the directory is not the wallet's record) and owes the unbinding
// durably: after a restart, once the directory answers, the background
// loop's round unbinds it.
func TestClosingAWalletWhileTheDirectoryIsDown(t *testing.T) {
	ae := newAliasEnv(t)
	const phone = "+15551234567"
	alice := ae.wallet("bank-a", "Alice Smith", 0)
	ae.register("bank-a", alice, phone, false)
	before := ae.dirState(phone)

	ae.dir.down.Store(true)
	w, err := ae.bank("bank-a").CloseWallet(as("bank-a"), alice, "customer left")
	if err != nil || w.State != roles.WalletClosed {
		t.Fatalf("close with the directory down: %+v, %v", w, err)
	}
	if n, err := intermediary.UnbindClosedAliases(ae.bank("bank-a")); err != nil || n != 1 {
		t.Fatalf("unbindings owed while the directory is down: %d, %v", n, err)
	}
	if after := ae.dirState(phone); after != before {
		t.Fatalf("the directory changed while down:\n%s\n%s", before, after)
	}

	ae.close("bank-a")
	ae.openWith(ae.config("bank-a"))
	ae.dir.down.Store(false)
	if n, err := intermediary.UnbindClosedAliases(ae.bank("bank-a")); err != nil || n != 0 {
		t.Fatalf("unbindings owed once the directory is back: %d, %v", n, err)
	}
	_, err = ae.book("bank-a").LookupAlias(as("bank-a"), phone)
	wantCode(t, err, errcode.NotFound, 404)
}
