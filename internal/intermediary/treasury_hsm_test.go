package intermediary_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/hsm/hsmtest"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestTreasuryKeyOnHSM: an intermediary whose treasury key is on a
// SoftHSM2 token has its treasury locked to that key, receives a mint,
// pays a customer and redeems with spends signed on the token; when the
// token cannot sign (closed), a redeem is unavailable and changes
// nothing; and a treasury cannot move between the store and the HSM.
func TestTreasuryKeyOnHSM(t *testing.T) {
	tok := hsmtest.Open(t, hsmtest.NewToken(t, "bank-a"))
	tk, err := tok.Generate("bank-a-treasury")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	cfg := e.config("bank-a")
	cfg.TreasuryKey = tk
	b := e.openWith(cfg)
	lock, err := b.ReceiveLock(asIssuer, b.Treasury())
	if err != nil || lock != money.KeyLock(tk.Public()) {
		t.Fatalf("treasury lock %v, %v; want the token key %s", lock, err, tk.Public())
	}
	e.issue("bank-a", 5000)
	alice := e.wallet("bank-a", "alice", 1200) // paid from the treasury, signed on the token
	red, err := b.Redeem(as("bank-a"), roles.RedeemRequest{Amount: 800})
	if err != nil || red.Amount != 800 {
		t.Fatalf("redeem from the HSM-held treasury: %+v, %v", red, err)
	}
	treasury := b.Treasury()
	e.checkConservation(treasury, alice)

	// The token stops signing: nothing is reserved or spent.
	before := e.snapshot(treasury, alice)
	tok.Close()
	_, err = b.Redeem(as("bank-a"), roles.RedeemRequest{Amount: 100})
	wantCode(t, err, errcode.Unavailable, 503)
	e.unchanged(t, before, treasury, alice)

	// Restarting without the key, or another intermediary's treasury
	// with one, is refused at open, saying why.
	e.close("bank-a")
	plain := e.config("bank-a")
	if _, err := intermediary.Open(filepath.Join(e.root, "bank-a"), plain, e.link, e.issuer, e.directory); err == nil || !strings.Contains(err.Error(), "none is configured") {
		t.Fatalf("open without the treasury key: %v", err)
	}
	e.open("bank-b")
	e.close("bank-b")
	other := e.config("bank-b")
	other.TreasuryKey = tk
	if _, err := intermediary.Open(filepath.Join(e.root, "bank-b"), other, e.link, e.issuer, e.directory); err == nil || !strings.Contains(err.Error(), "locked to that one") {
		t.Fatalf("open a store-key treasury with an HSM key: %v", err)
	}
}
