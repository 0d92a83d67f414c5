package intermediary_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// holdsAt is what the live holds on wallet id take of its capacity, and
// how many there are.
func (te *tierEnv) holdsAt(id string) (int, uint64) {
	return intermediary.Holds(te.bank(roles.IntermediaryOf(id)), id)
}

// wantHolds asserts the live holds on wallet id.
func (te *tierEnv) wantHolds(t *testing.T, id string, n int, sum uint64) {
	t.Helper()
	if gn, gs := te.holdsAt(id); gn != n || gs != sum {
		t.Fatalf("%s: %d holds of %d in all, want %d of %d", id, gn, gs, n, sum)
	}
}

// Concurrent payments from two intermediaries into one tier-0 wallet at a
// third, together over its holding limit: the ones that fit commit and
// the others are refused with limit_exceeded before anything is signed,
// so the wallet ends at its limit exactly and every payer lost exactly
// what it paid.
func TestHoldsMakeTheHoldingLimitExactAcrossIntermediaries(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b", "bank-c")
	bob := te.walletAt("bank-c", tier(0, phone), 0) // holding limit 500.00
	payers := []string{
		te.walletAt("bank-a", unlimited("payer at a"), 1_000*usd),
		te.walletAt("bank-b", unlimited("payer at b"), 1_000*usd),
	}
	const each, n = 30 * usd, 16 // 32 payments of 30.00: 16 fit in 500.00 (480.00)
	var wg sync.WaitGroup
	var mu sync.Mutex
	paid := map[string]int{}
	for range n {
		for _, p := range payers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := te.pay(p, bob, each)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					paid[p]++
				case !errcode.Is(err, errcode.LimitExceeded):
					t.Errorf("payment from %s: %v, want limit_exceeded or success", p, err)
				}
			}()
		}
	}
	wg.Wait()
	if got := paid[payers[0]] + paid[payers[1]]; got != 16 || te.balance(bob) != 16*each {
		t.Fatalf("%d payments of 30.00 passed a holding limit of 500.00 (%v); bob holds %d", got, paid, te.balance(bob))
	}
	for _, p := range payers {
		if want := 1_000*usd - uint64(paid[p])*each; te.balance(p) != want {
			t.Fatalf("%s holds %d after %d payments, want %d: a refused payment moved money", p, te.balance(p), paid[p], want)
		}
		pend, err := te.bank(roles.IntermediaryOf(p)).Pending()
		if err != nil || len(pend) != 0 {
			t.Fatalf("%s: pending spends %v %v", p, pend, err)
		}
	}
	te.wantHolds(t, bob, 0, 0) // every hold became its credit
	te.checkConservation(append(payers, bob)...)
	// And the last 20.00 still fits, from either side.
	if err := te.pay(payers[1], bob, 20*usd); err != nil {
		t.Fatal(err)
	}
	te.reject(t, payers[0], bob, 1, errcode.LimitExceeded, "holding limit 500.00")
}

// A hold counts against the limit until it is delivered, released by the
// intermediary that placed it, or expired (Config.HoldTTL on the fake
// clock); a delivered hold is counted once, as the credit.
func TestHoldLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(te *tierEnv, bob, hold string) // ends the hold, or not
		free bool                                // the capacity is free again after end
	}{
		{"expires at its TTL", func(te *tierEnv, _, _ string) {
			te.clock.advance(intermediary.DefaultHoldTTL)
			if n := intermediary.ExpireHolds(te.bank("bank-b")); n != 0 { // the background loop forgets it
				te.t.Fatalf("%d holds left after their TTL", n)
			}
		}, true},
		{"lives until its TTL", func(te *tierEnv, _, _ string) {
			te.clock.advance(intermediary.DefaultHoldTTL - time.Nanosecond)
			if n := intermediary.ExpireHolds(te.bank("bank-b")); n != 1 {
				te.t.Fatalf("%d holds left before their TTL, want 1", n)
			}
		}, false},
		{"released by its payer's intermediary", func(te *tierEnv, bob, hold string) {
			if err := te.bank("bank-b").ReleaseHold(as("bank-a"), bob, hold); err != nil {
				te.t.Fatal(err)
			}
		}, true},
		{"not released by another intermediary", func(te *tierEnv, bob, hold string) {
			if err := te.bank("bank-b").ReleaseHold(as("bank-c"), bob, hold); err != nil {
				te.t.Fatal(err)
			}
		}, false},
		{"released twice", func(te *tierEnv, bob, hold string) {
			for range 2 {
				if err := te.bank("bank-b").ReleaseHold(as("bank-a"), bob, hold); err != nil {
					te.t.Fatal(err)
				}
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTierEnv(t, jan31, "bank-a", "bank-b")
			bob := te.walletAt("bank-b", tier(0, phone), 100*usd)
			payer := te.walletAt("bank-a", unlimited("payer"), 1_000*usd)
			plan, err := te.bank("bank-b").ReceiveFor(as("bank-a"), bob, 400*usd)
			if err != nil || plan.Hold == "" {
				t.Fatalf("plan %+v, %v: want a hold", plan, err)
			}
			te.wantHolds(t, bob, 1, 400*usd)
			te.reject(t, payer, bob, 1, errcode.LimitExceeded, "0.00 left to receive")
			tc.end(te, bob, plan.Hold)
			if !tc.free {
				te.reject(t, payer, bob, 1, errcode.LimitExceeded, "0.00 left to receive")
				te.wantHolds(t, bob, 1, 400*usd)
				return
			}
			te.wantHolds(t, bob, 0, 0)
			if err := te.pay(payer, bob, 400*usd); err != nil {
				t.Fatal(err)
			}
			if te.balance(bob) != 500*usd {
				t.Fatalf("bob holds %d, want 500.00", te.balance(bob))
			}
		})
	}
}

// A payment delivered with its hold is counted once: as the credit, not
// also as the hold.
func TestDeliveredHoldIsCountedOnce(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b")
	bob := te.walletAt("bank-b", tier(0, phone), 0)
	payer := te.walletAt("bank-a", unlimited("payer"), 1_000*usd)
	if err := te.pay(payer, bob, 300*usd); err != nil {
		t.Fatal(err)
	}
	te.wantHolds(t, bob, 0, 0)
	plan, err := te.bank("bank-b").ReceiveFor(as("bank-a"), bob, 200*usd) // 300 + 200: exactly the limit
	if err != nil {
		t.Fatalf("the delivered 300.00 counted twice: %v", err)
	}
	te.wantHolds(t, bob, 1, 200*usd)
	_, err = te.bank("bank-b").ReceiveFor(as("bank-a"), bob, 1)
	wantCode(t, err, errcode.LimitExceeded, 422)
	if err := te.bank("bank-b").ReleaseHold(as("bank-a"), bob, plan.Hold); err != nil {
		t.Fatal(err)
	}
	// An old peer's delivery (no hold in its memo) and a hold that
	// expired before its payment arrived are credited as before.
	if err := te.pay(payer, bob, 200*usd); err != nil {
		t.Fatal(err)
	}
	if te.balance(bob) != 500*usd {
		t.Fatalf("bob holds %d, want 500.00", te.balance(bob))
	}
}

// noRelease is an intermediary reached without ReleaseHold: its payers
// cannot release a hold, which then expires.
type noRelease struct {
	roles.Intermediary
}

func (p noRelease) ReceiveFor(ctx context.Context, id string, amount uint64) (roles.ReceivePlan, error) {
	return p.Intermediary.(roles.AmountReceiver).ReceiveFor(ctx, id, amount)
}

func (p noRelease) DeliverBatch(ctx context.Context, ds []roles.Delivery) ([]error, error) {
	return p.Intermediary.(roles.BatchDeliverer).DeliverBatch(ctx, ds)
}

// A payment its payer abandons after the payee held its amount (refused
// at the payer, or rejected by the ledger) releases the hold at once; a
// payee that cannot be told lets it expire.
func TestAbandonedPaymentReleasesItsHold(t *testing.T) {
	for _, tc := range []struct {
		name    string
		amount  uint64
		tamper  bool // the ledger rejects the transaction
		release bool // the payee's intermediary takes releases
		code    errcode.Code
	}{
		{"insufficient funds at the payer", 300 * usd, false, true, errcode.InsufficientFunds},
		{"rejected by the ledger", 100 * usd, true, true, errcode.BadSignature},
		{"payee cannot be told: the hold expires", 300 * usd, false, false, errcode.InsufficientFunds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTierEnv(t, jan31, "bank-a", "bank-b")
			bob := te.walletAt("bank-b", tier(0, phone), 0)
			payer := te.walletAt("bank-a", unlimited("payer"), 200*usd)
			if !tc.release {
				te.mu.Lock()
				te.peers["bank-b"] = noRelease{te.banks["bank-b"]}
				te.mu.Unlock()
			}
			te.link.tamper.Store(tc.tamper)
			err := te.pay(payer, bob, tc.amount)
			te.link.tamper.Store(false)
			if !errcode.Is(err, tc.code) {
				t.Fatalf("payment: %v, want %s", err, tc.code)
			}
			if !tc.release {
				te.wantHolds(t, bob, 1, tc.amount)
				te.clock.advance(intermediary.DefaultHoldTTL)
			}
			te.wantHolds(t, bob, 0, 0)
			if te.balance(payer) != 200*usd || te.balance(bob) != 0 {
				t.Fatalf("payer %d, bob %d: money moved", te.balance(payer), te.balance(bob))
			}
		})
	}
}

// undelivered is an intermediary that answers ReceiveFor but whose
// deliveries are lost on the way.
type undelivered struct {
	roles.Intermediary
}

func (p undelivered) ReceiveFor(ctx context.Context, id string, amount uint64) (roles.ReceivePlan, error) {
	return p.Intermediary.(roles.AmountReceiver).ReceiveFor(ctx, id, amount)
}

func (p undelivered) DeliverBatch(context.Context, []roles.Delivery) ([]error, error) {
	return nil, errcode.New(errcode.Unavailable, "peer unreachable")
}

// A delivery that failed and is retried from the outbox carries its hold,
// which the payee's intermediary then turns into the credit.
func TestRedeliveryCarriesTheHold(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b")
	bob := te.walletAt("bank-b", tier(0, phone), 0)
	payer := te.walletAt("bank-a", unlimited("payer"), 1_000*usd)
	te.mu.Lock()
	te.peers["bank-b"] = undelivered{te.banks["bank-b"]}
	te.mu.Unlock()
	if err := te.pay(payer, bob, 450*usd); err != nil {
		t.Fatal(err)
	}
	te.wantHolds(t, bob, 1, 450*usd) // committed, not delivered: still held
	te.reject(t, payer, bob, 51*usd, errcode.LimitExceeded, "50.00 left to receive")
	// bank-a restarts; the hold is in its outbox record.
	te.close("bank-a")
	te.open("bank-a")
	te.mu.Lock()
	delete(te.peers, "bank-b")
	te.mu.Unlock()
	if err := te.bank("bank-a").RetryDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	te.wantHolds(t, bob, 0, 0)
	if te.balance(bob) != 450*usd {
		t.Fatalf("bob holds %d, want 450.00", te.balance(bob))
	}
	if err := te.pay(payer, bob, 50*usd); err != nil {
		t.Fatal(err)
	}
}

// A memo's hold is an ID of printable ASCII, at most 64 characters; a
// release names one.
func TestMalformedHolds(t *testing.T) {
	te := newTierEnv(t, jan31, "bank-a", "bank-b")
	bob := te.walletAt("bank-b", tier(0, phone), 0)
	for _, h := range []string{"a b", strings.Repeat("h", 65), "h\x00"} {
		res, err := te.bank("bank-b").DeliverBatch(as("bank-a"), []roles.Delivery{{Memo: &roles.Memo{From: "bank-a.x", To: bob, Hold: h}}})
		if err != nil || len(res) != 1 {
			t.Fatalf("%q: %v %v", h, res, err)
		}
		wantCode(t, res[0], errcode.Malformed, 400)
		wantCode(t, te.bank("bank-b").ReleaseHold(as("bank-a"), bob, h), errcode.Malformed, 400)
	}
	wantCode(t, te.bank("bank-b").ReleaseHold(as("bank-a"), bob, ""), errcode.Malformed, 400)
	wantCode(t, te.bank("bank-b").ReleaseHold(as("bank-a"), "bank-a.x", "h1"), errcode.NotFound, 404)
}
