package intermediary_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// wantWallet fails t unless wallet id shows balance and pending.
func (e *env) wantWallet(t *testing.T, id string, balance, pending uint64) {
	t.Helper()
	name := roles.IntermediaryOf(id)
	w, err := e.bank(name).Wallet(as(name), id)
	if err != nil || w.Balance != balance || w.Pending != pending {
		t.Fatalf("wallet %s: %+v %v; want balance %d, pending %d", id, w, err, balance, pending)
	}
}

// waitWallet waits up to 3 s until wallet id shows balance and pending
// (what names the wait), and returns how long it took.
func (e *env) waitWallet(t *testing.T, what, id string, balance, pending uint64) time.Duration {
	t.Helper()
	return waitFor(t, 3*time.Second, what, func() error {
		w, err := e.bank(roles.IntermediaryOf(id)).Wallet(as(roles.IntermediaryOf(id)), id)
		if err == nil && (w.Balance != balance || w.Pending != pending) {
			err = fmt.Errorf("%s %+v", id, w)
		}
		return err
	})
}

// waitFor polls cond every 5 ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settlingEnv is bank-a and bank-b with alice at bank-a holding amount and
// bob at bank-b, bank-a running its settle loop (and no other background
// work) with a SettleAfter too long to matter.
func settlingEnv(t *testing.T, amount uint64) (e *env, a *intermediary.Intermediary, alice, bob string) {
	t.Helper()
	e = newEnv(t, "bank-a", "bank-b")
	alice = e.wallet("bank-a", "alice", amount)
	bob = e.wallet("bank-b", "bob", 0)
	e.close("bank-a")
	cfg := e.config("bank-a")
	cfg.RetryInterval = time.Hour // only the settle loop acts
	cfg.SettleAfter = time.Hour   // "never heard of it" is not what settles it
	return e, e.openWith(cfg), alice, bob
}

// While the ledger cannot be reached, a wallet whose notes are held by a
// payment of unknown outcome shows them as pending, not as gone, and
// further payments are refused with unavailable, never with a wrong
// insufficient_funds; once the ledger is back the settle loop finishes the
// payment within a second or two (not after Config.SettleAfter), the
// wallet's change is spendable again, a retry of the key returns the
// original outcome, and the payee across banks is credited.
func TestOutageIsNotAnEmptyWallet(t *testing.T) {
	e, a, alice, bob := settlingEnv(t, 100_00)
	all := []string{a.Treasury(), e.bank("bank-b").Treasury(), alice, bob}

	e.link.down.Store(true)
	first := roles.Payment{From: alice, To: bob, Amount: 1_00, Reference: "coffee", IdempotencyKey: "outage-1"}
	res, err := a.Pay(as("bank-a"), first)
	wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
	e.wantWallet(t, alice, 0, 100_00)

	// Funds held by the payment in flight: unavailable, saying why.
	for _, amount := range []uint64{1_00, 100_00} {
		_, err = a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: amount})
		wantCode(t, err, errcode.Unavailable, http.StatusServiceUnavailable)
		if !strings.Contains(err.Error(), "held by 1 payment") {
			t.Fatalf("paying %d during the outage: %v; want the message to say the funds are held", amount, err)
		}
	}
	// More than the wallet holds at all is still insufficient_funds.
	_, err = a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 100_01})
	wantCode(t, err, errcode.InsufficientFunds, http.StatusUnprocessableEntity)
	// A retry of the key during the outage: unavailable, same txid.
	again, err := a.Pay(as("bank-a"), first)
	wantCode(t, err, errcode.Unavailable, 0)
	if again.TxID != res.TxID {
		t.Fatalf("retry during the outage names %s, want %s", again.TxID, res.TxID)
	}
	e.wantWallet(t, alice, 0, 100_00)

	e.link.down.Store(false)
	took := e.waitWallet(t, "payment settled after the outage", alice, 99_00, 0)
	t.Logf("settled %s after the ledger came back", took)
	if p, _ := a.Pending(); len(p) != 0 {
		t.Fatalf("still pending: %v", p)
	}
	got, err := a.Pay(as("bank-a"), first)
	if err != nil || got.TxID != res.TxID || got.Receipt.Batch == 0 {
		t.Fatalf("retry after the outage %+v %v; want committed txid %s", got, err, res.TxID)
	}
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 2_00}); err != nil {
		t.Fatalf("a new payment after the outage: %v", err)
	}
	waitFor(t, 3*time.Second, "bob credited", func() error {
		if b := e.balance(bob); b != 3_00 {
			return fmt.Errorf("bob %d", b)
		}
		return nil
	})
	e.wantWallet(t, alice, 97_00, 0)
	h := e.history(bob)
	if len(h) != 2 || h[0].TxID != res.TxID || h[0].Counterparty != alice || h[0].Reference != "coffee" {
		t.Fatalf("bob's history %+v", h)
	}
	e.checkConservation(all...)
}

// A payment the ledger rejects when the settle loop resubmits it releases
// its notes and its idempotency key keeps the rejection.
func TestResubmittedAndRejectedReleases(t *testing.T) {
	e, a, alice, bob := settlingEnv(t, 10_00)

	e.link.down.Store(true)
	p := roles.Payment{From: alice, To: bob, Amount: 1_00, IdempotencyKey: "tampered"}
	_, err := a.Pay(as("bank-a"), p)
	wantCode(t, err, errcode.Unavailable, 0)
	e.link.tamper.Store(true) // the resubmission arrives damaged: a definite rejection
	e.link.down.Store(false)
	e.waitWallet(t, "rejected payment released", alice, 10_00, 0)
	e.link.tamper.Store(false)
	_, err = a.Pay(as("bank-a"), p)
	wantCode(t, err, errcode.BadSignature, 0)
	e.checkConservation(a.Treasury(), e.bank("bank-b").Treasury(), alice, bob)
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// An idempotency key is remembered for Config.IdempotencyRetention from
// its first attempt: within it a retry returns the original payment, after
// it the same request is a new payment; and the expiry sweep deletes the
// records, so their storage is bounded by one retention's payments.
func TestIdempotencyKeysExpire(t *testing.T) {
	e := newEnv(t, "bank-a")
	alice := e.wallet("bank-a", "alice", 10_00)
	tr := e.bank("bank-a").Treasury()
	e.close("bank-a")
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := e.config("bank-a")
	cfg.Now = clock.Now
	cfg.IdempotencyRetention = time.Hour
	a := e.openWith(cfg)

	p := roles.Payment{From: alice, To: tr, Amount: 1_00, IdempotencyKey: "expiring"}
	first, err := a.Pay(as("bank-a"), p)
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(59 * time.Minute)
	if got, err := a.Pay(as("bank-a"), p); err != nil || got != first {
		t.Fatalf("retry within the retention: %+v %v, want %+v", got, err, first)
	}
	if n, err := intermediary.ExpireIdempotencyKeys(a); err != nil || n != 0 {
		t.Fatalf("sweep within the retention: %d expired, %v", n, err)
	}
	clock.advance(2 * time.Minute)
	second, err := a.Pay(as("bank-a"), p)
	if err != nil || second.TxID == first.TxID {
		t.Fatalf("retry after the retention: %+v %v; want a new payment", second, err)
	}
	if e.balance(alice) != 8_00 {
		t.Fatalf("alice %d, want 800: the expired key's request paid again", e.balance(alice))
	}
	if got, err := a.Pay(as("bank-a"), p); err != nil || got != second {
		t.Fatalf("retry of the renewed key: %+v %v, want %+v", got, err, second)
	}
	// The sweep deletes the first record's index entry and keeps the
	// renewed record, which the keys held in memory (keyset.go) still
	// find, also as rebuilt by a restart.
	if n, err := intermediary.ExpireIdempotencyKeys(a); err != nil || n != 0 {
		t.Fatalf("sweep of the renewed key's old index entry: %d expired, %v; want 0", n, err)
	}
	if got, err := a.Pay(as("bank-a"), p); err != nil || got != second {
		t.Fatalf("retry of the renewed key after the sweep: %+v %v, want %+v", got, err, second)
	}
	e.close("bank-a")
	a = e.openWith(cfg)
	if got, err := a.Pay(as("bank-a"), p); err != nil || got != second || e.balance(alice) != 8_00 {
		t.Fatalf("retry of the renewed key after a restart: %+v %v, alice %d; want %+v, 800", got, err, e.balance(alice), second)
	}
	// A rejection is remembered for the retention too.
	big := roles.Payment{From: alice, To: tr, Amount: 1_000_00, IdempotencyKey: "too-much"}
	_, err = a.Pay(as("bank-a"), big)
	wantCode(t, err, errcode.InsufficientFunds, 0)
	if n := intermediary.IdempotencyRecords(a); n != 2 {
		t.Fatalf("%d idempotency records, want 2", n)
	}
	clock.advance(2 * time.Hour)
	if n, err := intermediary.ExpireIdempotencyKeys(a); err != nil || n != 2 {
		t.Fatalf("sweep after the retention: %d expired, %v; want 2", n, err)
	}
	if n := intermediary.IdempotencyRecords(a); n != 0 {
		t.Fatalf("%d idempotency records left after the sweep", n)
	}
	// Expired and swept: the key pays anew, once.
	third, err := a.Pay(as("bank-a"), p)
	if err != nil || third.TxID == second.TxID || e.balance(alice) != 7_00 {
		t.Fatalf("after the sweep: %+v %v, alice %d", third, err, e.balance(alice))
	}
	// A key whose outcome is unknown is never expired.
	e.link.down.Store(true)
	_, err = a.Pay(as("bank-a"), roles.Payment{From: alice, To: tr, Amount: 1_00, IdempotencyKey: "unknown"})
	e.link.down.Store(false)
	wantCode(t, err, errcode.Unavailable, 0)
	clock.advance(3 * time.Hour)
	if _, err := intermediary.ExpireIdempotencyKeys(a); err != nil {
		t.Fatal(err)
	}
	_, err = a.Pay(as("bank-a"), roles.Payment{From: alice, To: tr, Amount: 1_00, IdempotencyKey: "unknown"})
	if err != nil && !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("retry of a pending key after the retention: %v", err)
	}
	if e.balance(alice)+func() uint64 {
		w, _ := a.Wallet(as("bank-a"), alice)
		return w.Pending
	}() < 5_00 {
		t.Fatalf("the pending key's payment was made twice: alice %d", e.balance(alice))
	}
	e.checkConservation(tr, alice)
}

// The payee's history line of a payment across intermediaries names the
// payer's wallet and carries the reference: the payer's intermediary
// passes them with the delivery (never to the ledger), also when the
// delivery is retried from the outbox; a delivery in the old form (no
// memo) is still credited, with a blank line as before.
func TestPayeeHistoryAcrossBanks(t *testing.T) {
	e := newEnv(t, "bank-a", "bank-b")
	a, b := e.bank("bank-a"), e.bank("bank-b")
	alice := e.wallet("bank-a", "alice", 10_00)
	bob := e.wallet("bank-b", "bob", 0)

	res, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 2_50, Reference: "invoice 7"})
	if err != nil {
		t.Fatal(err)
	}
	h := e.history(bob)
	if len(h) != 1 || h[0].TxID != res.TxID || h[0].Direction != "in" || h[0].Amount != 2_50 ||
		h[0].Counterparty != alice || h[0].Reference != "invoice 7" {
		t.Fatalf("bob's history %+v", h)
	}

	// Delivered later, from the outbox: the memo travels with it.
	link := &flakyPeer{Intermediary: b}
	link.down.Store(true)
	e.mu.Lock()
	e.peers["bank-b"] = batchPeer{link}
	e.mu.Unlock()
	res2, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 1_00, Reference: "later"})
	if err != nil {
		t.Fatal(err)
	}
	link.down.Store(false)
	if err := a.RetryDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	h = e.history(bob)
	if len(h) != 2 || h[1].TxID != res2.TxID || h[1].Counterparty != alice || h[1].Reference != "later" {
		t.Fatalf("bob's history after the retried delivery %+v", h)
	}

	// A peer without batches (the old form): credited, line blank.
	e.mu.Lock()
	e.peers["bank-b"] = link
	e.mu.Unlock()
	res3, err := a.Pay(as("bank-a"), roles.Payment{From: alice, To: bob, Amount: 50, Reference: "old form"})
	if err != nil {
		t.Fatal(err)
	}
	h = e.history(bob)
	if len(h) != 3 || h[2].TxID != res3.TxID || h[2].Amount != 50 || h[2].Counterparty != "" {
		t.Fatalf("bob's history after an old-form delivery %+v", h)
	}
	if e.balance(bob) != 4_00 {
		t.Fatalf("bob %d", e.balance(bob))
	}

	// A memo naming a payer the deliverer does not hold is malformed.
	m := e.mint("bank-b", 5)
	errs, err := b.DeliverBatch(as("bank-a"), []roles.Delivery{{Tx: m, Memo: &roles.Memo{From: "bank-c.x", To: bob}}})
	if err != nil || len(errs) != 1 {
		t.Fatalf("forged memo: %v %v", errs, err)
	}
	wantCode(t, errs[0], errcode.Malformed, http.StatusBadRequest)
}

// batchPeer is a flaky peer that takes batches with memos.
type batchPeer struct{ *flakyPeer }

func (p batchPeer) DeliverBatch(ctx context.Context, ds []roles.Delivery) ([]error, error) {
	if p.down.Load() {
		return nil, errcode.New(errcode.Unavailable, "peer unreachable")
	}
	return p.Intermediary.(roles.BatchDeliverer).DeliverBatch(ctx, ds)
}
