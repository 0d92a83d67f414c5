package intermediary_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// raceResult is what 64 concurrent payments got back.
type raceResult struct {
	committed []money.TxID
	refused   map[errcode.Code]int
}

// payConcurrently makes the payments at once (each in its own goroutine,
// released together) and records what each was answered. Payments with an
// idempotency key that commit are written to books, so e.check retries them.
func (e *env) payConcurrently(b *payBooks, ps []roles.Payment) raceResult {
	e.t.Helper()
	type answer struct {
		r   roles.PaymentResult
		err error
	}
	answers := make([]answer, len(ps))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			<-start
			name := roles.IntermediaryOf(p.From)
			r, err := e.bank(name).Pay(as(name), p)
			answers[i] = answer{r, err}
		})
	}
	close(start)
	wg.Wait()
	out := raceResult{refused: map[errcode.Code]int{}}
	for i, a := range answers {
		if a.err != nil {
			out.refused[errcode.Of(a.err)]++
			continue
		}
		out.committed = append(out.committed, a.r.TxID)
		if k := ps[i].IdempotencyKey; k != "" {
			b.pays[k] = ps[i]
			b.done[k] = a.r.TxID
		}
	}
	return out
}

// racePayments is n payments of amount from one wallet, alternately to a
// wallet at the same bank and one at the other, every other one with an
// idempotency key.
func racePayments(n int, from, same, other string, amount uint64, tag string) []roles.Payment {
	ps := make([]roles.Payment, n)
	for i := range ps {
		to := same
		if i%2 == 1 {
			to = other
		}
		ps[i] = roles.Payment{From: from, To: to, Amount: amount, Reference: fmt.Sprintf("%s %d", tag, i)}
		if i%4 < 2 {
			ps[i].IdempotencyKey = fmt.Sprintf("%s-%d", tag, i)
		}
	}
	return ps
}

// wantRace fails unless exactly `commits` payments committed, with
// distinct transactions, and every other one was refused with
// insufficient_funds (never unavailable, internal or a double spend).
func wantRace(t *testing.T, got raceResult, n, commits int) {
	t.Helper()
	seen := map[money.TxID]bool{}
	for _, id := range got.committed {
		if seen[id] {
			t.Fatalf("two payments answered the same transaction %s", id)
		}
		seen[id] = true
	}
	if len(got.committed) != commits || got.refused[errcode.InsufficientFunds] != n-commits || len(got.refused) > 1 {
		t.Fatalf("%d concurrent payments: %d committed, refused %v; want %d committed and %d insufficient_funds",
			n, len(got.committed), got.refused, commits, n-commits)
	}
}

// retryRefused makes every refused payment with a key again: the same
// rejection, insufficient_funds, comes back and nothing moves.
func (e *env) retryRefused(b *payBooks, ps []roles.Payment) {
	e.t.Helper()
	for _, p := range ps {
		if _, done := b.done[p.IdempotencyKey]; p.IdempotencyKey == "" || done {
			continue
		}
		name := roles.IntermediaryOf(p.From)
		if _, err := e.bank(name).Pay(as(name), p); !errcode.Is(err, errcode.InsufficientFunds) || errcode.HTTPStatus(err) != 422 {
			e.t.Fatalf("payment %s, refused, made again with its key: %v; want insufficient_funds (422) again", p.IdempotencyKey, err)
		}
	}
}

// afterRace checks that the race left nothing reserved: the books agree
// with the ledger note by note (held notes, reserved ones included, add
// up to the balance), the payer holds want, and the same holds after
// bank-a restarts, when the payer can still spend what it holds and
// receive and spend again.
func (e *env) afterRace(b *payBooks, payer string, want uint64) {
	e.t.Helper()
	e.check(b)
	if got := e.balance(payer); got != want {
		e.t.Fatalf("payer holds %d, want %d", got, want)
	}
	for _, name := range []string{"bank-a", "bank-b"} {
		if p, err := e.bank(name).Pending(); err != nil || len(p) != 0 {
			e.t.Fatalf("%s: pending spends %v, %v; want none left reserved", name, p, err)
		}
	}
	e.close("bank-a")
	e.open("bank-a")
	e.check(b)
	if got := e.balance(payer); got != want {
		e.t.Fatalf("after a restart the payer holds %d, want %d", got, want)
	}
	a := e.bank("bank-a")
	if want > 0 {
		if _, err := a.Pay(as("bank-a"), roles.Payment{From: payer, To: a.Treasury(), Amount: want}); err != nil {
			e.t.Fatalf("paying the remaining %d: %v", want, err)
		}
	}
	e.fund(payer, 100)
	if _, err := a.Pay(as("bank-a"), roles.Payment{From: payer, To: a.Treasury(), Amount: 100}); err != nil {
		e.t.Fatalf("the payer spending again after the race: %v", err)
	}
	e.check(b)
}

// raceEnv is bank-a and bank-b, each with a treasury and one wallet, and
// bank-a's payer wallet, empty.
func raceEnv(t *testing.T) (e *env, b *payBooks, payer, same, other string) {
	e = newEnv(t, "bank-a", "bank-b")
	payer = e.wallet("bank-a", "payer", 0)
	same = e.wallet("bank-a", "payee here", 0)
	other = e.wallet("bank-b", "payee there", 0)
	return e, newPayBooks(e.bank("bank-a").Treasury(), e.bank("bank-b").Treasury(), payer, same, other), payer, same, other
}

// fund issues sum to bank-a and pays it to wallet id in payments of the
// given amounts, each making one note of that value in the wallet.
func (e *env) fund(id string, amounts ...uint64) {
	e.t.Helper()
	var sum uint64
	for _, v := range amounts {
		sum += v
	}
	e.issue("bank-a", sum)
	a := e.bank("bank-a")
	for _, v := range amounts {
		if _, err := a.Pay(as("bank-a"), roles.Payment{From: a.Treasury(), To: id, Amount: v}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// Of 64 concurrent payments of a wallet's whole balance (held in several
// notes), exactly one commits and 63 are refused with insufficient_funds;
// nothing is left reserved.
func TestConcurrentPaymentsOfTheWholeBalanceCommitOnce(t *testing.T) {
	e, b, payer, same, other := raceEnv(t)
	e.fund(payer, 1000, 700, 250, 50)
	ps := racePayments(64, payer, same, other, 2000, "whole")
	wantRace(t, e.payConcurrently(b, ps), 64, 1)
	e.retryRefused(b, ps)
	e.afterRace(b, payer, 0)
}

// Of 64 concurrent payments of 1.00 from a wallet holding 32.50, exactly
// 32 commit, whether the wallet holds 32 notes of 1.00 and one of 0.50 or
// one note of 32.50 (each payment then spends the change of the one
// before); 0.50 is left, and can be spent.
func TestConcurrentPaymentsOfOneUnitCommitWhileFundsLast(t *testing.T) {
	for _, tc := range []struct {
		name  string
		notes []uint64
	}{
		{"32 notes of 1.00", append(repeat(32, 100), 50)},
		{"one note of 32.50", []uint64{3250}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, b, payer, same, other := raceEnv(t)
			e.fund(payer, tc.notes...)
			ps := racePayments(64, payer, same, other, 100, "unit")
			wantRace(t, e.payConcurrently(b, ps), 64, 32)
			e.retryRefused(b, ps)
			e.afterRace(b, payer, 50)
		})
	}
}

func repeat(n int, v uint64) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = v
	}
	return out
}
