package intermediary_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// A wallet's note index leaves memory once the wallet has been idle for
// NoteIndexIdle and comes back from the store on its next use: payments
// and balances after it are exactly as if it had stayed. A wallet whose
// notes are held by a payment of unknown outcome keeps its index, so the
// hold survives (its funds stay pending, not spendable twice) until the
// payment settles.
func TestIdleNoteIndexEvicted(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)}
	e := newEnv(t, "bank-a", "bank-b")
	e.now = clock.Now
	e.close("bank-a")
	cfg := e.config("bank-a")
	cfg.RetryInterval = time.Hour // only the settle loop acts; the test evicts
	cfg.SettleAfter = time.Hour
	a := e.openWith(cfg)
	alice := e.wallet("bank-a", "alice", 100_00)
	carol := e.wallet("bank-a", "carol", 50_00)
	bob := e.wallet("bank-b", "bob", 0)
	all := []string{a.Treasury(), e.bank("bank-b").Treasury(), alice, carol, bob}

	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 1_00}); err != nil {
		t.Fatal(err)
	}
	e.link.down.Store(true)
	_, err := a.Pay(as("bank-a"), roles.Payment{From: carol, To: bob, Amount: 1_00})
	wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)

	if n := intermediary.EvictIdleNotes(a); n != 0 {
		t.Fatalf("evicted %d indexes of wallets just used, want 0", n)
	}
	clock.advance(intermediary.NoteIndexIdle)
	// alice's and the treasury's; carol's holds a reserved note.
	if n := intermediary.EvictIdleNotes(a); n != 2 {
		t.Fatalf("evicted %d indexes after %s idle, want 2 (alice, treasury; not carol)", n, intermediary.NoteIndexIdle)
	}
	if n := intermediary.EvictIdleNotes(a); n != 0 {
		t.Fatalf("a second round evicted %d, want 0", n)
	}
	// alice's record and key left memory with her index; carol's stay.
	if rec, key := intermediary.WalletCached(a, alice); rec || key {
		t.Fatalf("alice's record (%v) or key (%v) still cached after eviction", rec, key)
	}
	if rec, key := intermediary.WalletCached(a, carol); !rec || !key {
		t.Fatalf("carol's record (%v) or key (%v) evicted while her payment is in flight", rec, key)
	}

	// carol's funds are still held by the payment in flight.
	e.wantWallet(t, carol, 0, 50_00)
	_, err = a.Pay(as("bank-a"), roles.Payment{From: carol, To: bob, Amount: 1_00})
	wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
	if !strings.Contains(err.Error(), "held by 1 payment") {
		t.Fatalf("carol paying again: %v; want her funds held", err)
	}
	e.link.down.Store(false)

	// alice's index comes back from the store.
	e.wantWallet(t, alice, 99_00, 0)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: carol, Amount: 2_00}); err != nil {
		t.Fatalf("alice paying after her index, record and key were evicted: %v", err)
	}
	if rec, key := intermediary.WalletCached(a, alice); !rec || !key {
		t.Fatalf("alice's record (%v) or key (%v) not read back for her payment", rec, key)
	}
	e.wantWallet(t, alice, 97_00, 0)
	e.waitWallet(t, "carol's payment settled", carol, 51_00, 0) // 50.00 - 1.00 + 2.00
	clock.advance(intermediary.NoteIndexIdle - time.Second)
	if n := intermediary.EvictIdleNotes(a); n != 0 {
		t.Fatalf("evicted %d a second before alice's and carol's indexes were idle long enough, want 0", n)
	}
	clock.advance(time.Second)
	if n := intermediary.EvictIdleNotes(a); n != 2 {
		t.Fatalf("evicted %d once they were, want 2", n)
	}
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: carol, To: alice, Amount: 51_00}); err != nil {
		t.Fatalf("carol paying all she holds: %v", err)
	}
	e.wantWallet(t, carol, 0, 0)
	e.wantWallet(t, alice, 148_00, 0)
	waitFor(t, 3*time.Second, "bob credited", func() error {
		if b := e.balance(bob); b != 2_00 {
			return errcode.New(errcode.Internal, "bob %d", b)
		}
		return nil
	})
	e.checkConservation(all...)
}
