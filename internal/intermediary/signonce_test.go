package intermediary_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/roles"
)

// countingSigner is a treasury key that counts its signatures and can be
// made to refuse, as a token that was removed does.
type countingSigner struct {
	*crypto.PrivateKey
	signs  atomic.Int64
	refuse atomic.Bool
}

func (s *countingSigner) TrySign(d crypto.Domain, network string, hash [32]byte) ([64]byte, error) {
	if s.refuse.Load() {
		return [64]byte{}, errors.New("token removed")
	}
	s.signs.Add(1)
	return s.PrivateKey.TrySign(d, network, hash)
}

// TestPaymentFromManyNotesSignsOnce: a payment spending three of the
// treasury's notes asks its key for one signature, and the ledger takes
// the transaction; a payment whose key cannot sign is unavailable and
// changes nothing.
func TestPaymentFromManyNotesSignsOnce(t *testing.T) {
	key := &countingSigner{PrivateKey: ledgertest.MustKey()}
	e := newEnv(t)
	cfg := e.config("bank-a")
	cfg.TreasuryKey = key
	a := e.openWith(cfg)
	for range 3 {
		e.issue("bank-a", 10_00) // three notes of 10.00
	}
	alice := e.wallet("bank-a", "alice", 0)
	treasury := a.Treasury()

	before := key.signs.Load()
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: treasury, To: alice, Amount: 25_00}); err != nil {
		t.Fatalf("paying 25.00 from three notes of 10.00: %v", err)
	}
	if n := key.signs.Load() - before; n != 1 {
		t.Fatalf("the key signed %d times for one payment from three notes, want 1", n)
	}
	e.wantWallet(t, alice, 25_00, 0)
	e.checkConservation(treasury, alice)

	key.refuse.Store(true)
	snap := e.snapshot(treasury, alice)
	_, err := a.Pay(as("bank-a"), roles.Payment{From: treasury, To: alice, Amount: 1_00})
	wantCode(t, err, errcode.Unavailable, 503)
	e.unchanged(t, snap, treasury, alice)
}
