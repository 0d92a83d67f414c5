package intermediary_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/roles"
)

// A claim whose payment never arrives lapses: the payer's intermediary
// claimed the request and was never heard of again, and after the claim
// TTL the owner reads it pending (the payee may cancel), and expired once
// past its expiry, instead of accepted for ever.
func TestRequestClaimLapses(t *testing.T) {
	e, clock := newRequestEnv(t)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 1_000)
	a := e.bank("bank-a")
	claim := func(id string) {
		t.Helper()
		got, err := a.AnswerRequest(as("bank-b"), roles.RequestAnswer{ID: id, Payer: payer, Action: roles.AnswerClaim, Amount: 400})
		if err != nil || got.State != roles.RequestAccepted {
			t.Fatalf("claim: %+v, %v", got, err)
		}
	}
	r := e.request(payee, payer, 400) // expires in an hour
	claim(r.ID)
	_, err := a.CancelRequest(as("bank-a"), r.ID, payee)
	wantCode(t, err, errcode.Conflict, http.StatusConflict)

	clock.advance(intermediary.DefaultRequestClaimTTL - time.Second)
	if got := e.requestAt(payee, r.ID).State; got != roles.RequestAccepted {
		t.Fatalf("before the claim lapses: %s", got)
	}
	clock.advance(time.Second)
	if got := e.requestAt(payee, r.ID).State; got != roles.RequestPending {
		t.Fatalf("once the claim lapsed: %s, want pending", got)
	}
	if got, err := a.CancelRequest(as("bank-a"), r.ID, payee); err != nil || got.State != roles.RequestCancelled {
		t.Fatalf("cancel once the claim lapsed: %+v, %v", got, err)
	}

	// A claim that lapses past the request's expiry leaves it expired.
	r2 := e.request(payee, payer, 400) // expires in an hour from the real clock
	claim(r2.ID)
	clock.advance(time.Hour + intermediary.DefaultRequestClaimTTL)
	if got := e.requestAt(payee, r2.ID).State; got != roles.RequestExpired {
		t.Fatalf("a lapsed claim past the expiry: %s, want expired", got)
	}
	_, err = a.AnswerRequest(as("bank-b"), roles.RequestAnswer{ID: r2.ID, Payer: payer, Action: roles.AnswerClaim, Amount: 400})
	wantCode(t, err, errcode.Conflict, http.StatusConflict)
	if e.balance(payee) != 0 || e.balance(payer) != 1_000 {
		t.Fatalf("balances payee %d payer %d", e.balance(payee), e.balance(payer))
	}
}

// A claim that lapses while the payment's outcome is unknown (the ledger
// is down) is claimed again by the next accept, which takes up the same
// payment: the request is paid once.
func TestRequestClaimLapsedWhilePayingPaysOnce(t *testing.T) {
	e, clock := newRequestEnv(t)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 1_000)
	r := e.request(payee, payer, 400)
	e.link.down.Store(true)
	_, err := e.accept(r.ID, payer, 0)
	wantCode(t, err, errcode.Unavailable, 0)
	clock.advance(intermediary.DefaultRequestClaimTTL)
	for _, w := range []string{payee, payer} {
		if got := e.requestAt(w, r.ID).State; got != roles.RequestPending {
			t.Fatalf("at %s once the claim lapsed: %s, want pending", roles.IntermediaryOf(w), got)
		}
	}
	_, err = e.accept(r.ID, payer, 0) // claims again; the payment is the same
	wantCode(t, err, errcode.Unavailable, 0)
	e.link.down.Store(false)
	got, err := e.accept(r.ID, payer, 0)
	if err != nil || got.State != roles.RequestPaid {
		t.Fatalf("accept once the ledger is back: %+v, %v", got, err)
	}
	if err := e.bank("bank-b").RetryDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := e.requestAt(payee, r.ID); s.State != roles.RequestPaid || s.TxID != got.TxID {
		t.Fatalf("payee's side: %+v", s)
	}
	if e.balance(payee) != 400 || e.balance(payer) != 600 || e.outs(payer) != 1 {
		t.Fatalf("balances payee %d payer %d, %d payments out", e.balance(payee), e.balance(payer), e.outs(payer))
	}
}

// Finished requests are deleted once the retention (by default the
// idempotency keys') has passed since they finished, on both sides, and
// leave the wallets' lists; an open request stays, and nothing pruned can
// be paid again.
func TestFinishedRequestsArePruned(t *testing.T) {
	e, clock := newRequestEnv(t)
	payee, payer := e.wallet("bank-a", "shop", 0), e.wallet("bank-b", "alice", 1_000)
	paid := e.request(payee, payer, 300)
	if _, err := e.accept(paid.ID, payer, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.bank("bank-b").RetryDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancelled := e.request(payee, payer, 100)
	if _, err := e.bank("bank-a").CancelRequest(as("bank-a"), cancelled.ID, payee); err != nil {
		t.Fatal(err)
	}
	expired := e.request(payee, payer, 100) // an hour
	open, err := e.bank("bank-a").CreateRequest(as("bank-a"), roles.RequestSpec{Payee: payee, Payer: payer, Amount: 100,
		Reference: "rent", Expires: clock.Now().Add(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	prune := func(bank string) int {
		t.Helper()
		n, err := intermediary.PruneRequests(e.bank(bank))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	clock.advance(intermediary.DefaultIdempotencyRetention - time.Minute)
	if n := prune("bank-a") + prune("bank-b"); n != 0 {
		t.Fatalf("%d requests pruned before the retention passed", n)
	}
	clock.advance(time.Hour + time.Minute)
	if a, b := prune("bank-a"), prune("bank-b"); a != 3 || b != 3 {
		t.Fatalf("pruned %d at bank-a, %d at bank-b; want 3 each", a, b)
	}
	for _, w := range []string{payee, payer} {
		bank := roles.IntermediaryOf(w)
		for _, id := range []string{paid.ID, cancelled.ID, expired.ID} {
			_, err := e.bank(bank).Request(as(bank), id)
			wantCode(t, err, errcode.NotFound, http.StatusNotFound)
		}
		list, err := e.bank(bank).WalletRequests(as(bank), w, roles.RequestEither)
		if err != nil || len(list) != 1 || list[0].ID != open.ID || list[0].State != roles.RequestPending {
			t.Fatalf("requests of %s after pruning: %+v, %v", w, list, err)
		}
	}
	_, err = e.accept(paid.ID, payer, 0)
	wantCode(t, err, errcode.NotFound, http.StatusNotFound)
	if e.balance(payee) != 300 || e.balance(payer) != 700 {
		t.Fatalf("balances payee %d payer %d", e.balance(payee), e.balance(payer))
	}
}
