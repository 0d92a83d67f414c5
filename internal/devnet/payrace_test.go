package devnet_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// upNet is `specie up` in this process, reached over its HTTP API.
type upNet struct {
	dir string
	n   *devnet.Node
	p   *parties
}

func startUp(t *testing.T, dir string) *upNet {
	t.Helper()
	n, _, err := devnet.Up(dir, "127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return &upNet{dir: dir, n: n, p: newParties(t, n.Config, n.URL, n.URL, n.URL, n.URL)}
}

func (u *upNet) restart(t *testing.T) {
	t.Helper()
	if err := u.n.Close(); err != nil {
		t.Fatal(err)
	}
	*u = *startUp(t, u.dir)
}

// books is the running node's roles, for books.check.
func (u *upNet) books() *books {
	return &books{cfg: u.n.Config, ledger: u.n.Ledger, issuer: u.n.Issuer, banks: u.n.Banks}
}

// raceOverHTTP opens a payer at bank-a holding notes of the given values
// and a payee at each bank, then makes 64 concurrent payments of amount
// from the payer over HTTP (alternately to each payee, every other pair
// with an idempotency key), and checks that exactly commits of them
// commit and every other one is refused with insufficient_funds (422);
// that nothing is left reserved (every spend settled, the books agree
// with the ledger: books.check); and that after a restart the payer holds
// left, can pay it, and can receive and spend again.
func raceOverHTTP(t *testing.T, notes []uint64, amount uint64, commits int, left uint64) {
	u := startUp(t, t.TempDir())
	defer func() { u.n.Close() }()
	ctx := context.Background()
	var sum uint64
	for _, v := range notes {
		sum += v
	}
	u.p.mintTo(t, "bank-a", sum+100)
	open := func(b roles.Intermediary, owner string) string {
		w, err := b.OpenWallet(ctx, unlimited(owner))
		if err != nil {
			t.Fatal(err)
		}
		return w.ID
	}
	payer, same, other := open(u.p.bankA, "payer"), open(u.p.bankA, "payee here"), open(u.p.bankB, "payee there")
	for _, v := range notes {
		if _, err := u.p.bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: payer, Amount: v}); err != nil {
			t.Fatal(err)
		}
	}
	pl := newPayLedger("bank-a.treasury", "bank-b.treasury", payer, same, other)

	ps := make([]roles.Payment, 64)
	errs := make([]error, len(ps))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range ps {
		ps[i] = roles.Payment{From: payer, To: same, Amount: amount, Reference: fmt.Sprintf("race %d", i)}
		if i%2 == 1 {
			ps[i].To = other
		}
		if i%4 < 2 {
			ps[i].IdempotencyKey = fmt.Sprintf("race-%d", i)
		}
		wg.Go(func() {
			<-start
			r, err := u.p.bankA.Pay(ctx, ps[i])
			errs[i] = err
			pl.record(ps[i], r, err)
		})
	}
	close(start)
	wg.Wait()
	ok, refused := 0, map[string]int{}
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		refused[fmt.Sprintf("%s %d", errcode.Of(err), errcode.HTTPStatus(err))]++
	}
	want422 := fmt.Sprintf("%s %d", errcode.InsufficientFunds, http.StatusUnprocessableEntity)
	if ok != commits || refused[want422] != len(ps)-commits || len(refused) > 1 {
		t.Fatalf("64 concurrent payments over HTTP: %d committed, refused %v; want %d committed, the rest %q", ok, refused, commits, want422)
	}
	u.books().check(t, pl) // also makes every keyed payment again
	u.restart(t)
	u.books().check(t, pl)
	w, err := u.p.bankA.Wallet(ctx, payer)
	if err != nil || w.Balance != left {
		t.Fatalf("after a restart the payer is %+v, %v; want %d", w, err, left)
	}
	if left > 0 {
		if _, err := u.p.bankA.Pay(ctx, roles.Payment{From: payer, To: same, Amount: left}); err != nil {
			t.Fatalf("paying the remaining %d: %v", left, err)
		}
	}
	if _, err := u.p.bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: payer, Amount: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.p.bankA.Pay(ctx, roles.Payment{From: payer, To: other, Amount: 100}); err != nil {
		t.Fatalf("the payer spending again after the race: %v", err)
	}
	u.books().check(t, pl)
}

// Over HTTP against `specie up`: of 64 concurrent payments of a wallet's
// whole balance, exactly one commits (see raceOverHTTP).
func TestConcurrentPaymentsOfTheWholeBalanceOverHTTP(t *testing.T) {
	raceOverHTTP(t, []uint64{1000, 700, 250, 50}, 2000, 1, 0)
}

// Over HTTP: of 64 concurrent payments of 1.00 from a wallet holding
// 32.50, in 32 notes of 1.00 and one of 0.50 or in one note, exactly 32
// commit and 0.50 is left.
func TestConcurrentPaymentsOfOneUnitOverHTTP(t *testing.T) {
	t.Run("32 notes of 1.00", func(t *testing.T) {
		notes := []uint64{50}
		for range 32 {
			notes = append(notes, 100)
		}
		raceOverHTTP(t, notes, 100, 32, 50)
	})
	t.Run("one note of 32.50", func(t *testing.T) { raceOverHTTP(t, []uint64{3250}, 100, 32, 50) })
}

// Over HTTP: the payee's history line of a payment across intermediaries
// names the payer's wallet and carries the reference (issue 8 part 4).
func TestPayeeHistoryCarriesCounterpartyAndReferenceOverHTTP(t *testing.T) {
	u := startUp(t, t.TempDir())
	defer u.n.Close()
	ctx := context.Background()
	u.p.mintTo(t, "bank-a", 5000)
	bob, err := u.p.bankB.OpenWallet(ctx, unlimited("bob"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := u.p.bankA.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: bob.ID, Amount: 1234, Reference: "invoice 42"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := u.p.bankB.History(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	line := func() *roles.Entry {
		for i := range h {
			if h[i].TxID == r.TxID && h[i].Direction == "in" {
				return &h[i]
			}
		}
		return nil
	}()
	switch {
	case line == nil:
		t.Fatalf("payment %s is not in the payee's history %+v", r.TxID, h)
	case line.Counterparty != "bank-a.treasury" || line.Reference != "invoice 42" || line.Amount != 1234:
		t.Fatalf("payee's line %+v: want 12.34 from bank-a.treasury, reference %q", *line, "invoice 42")
	}
}
