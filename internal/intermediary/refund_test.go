package intermediary_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// refunds sums the lines of wallet's history that refund payment of, by
// direction.
func (e *env) refunds(wallet string, of money.TxID) (in, out uint64) {
	e.t.Helper()
	for _, h := range e.history(wallet) {
		if h.RefundOf != of {
			continue
		}
		if h.Direction == "in" {
			in += h.Amount
		} else {
			out += h.Amount
		}
	}
	return in, out
}

// Two, then eight, refunds of 60% of one payment race each other (from
// the same merchant wallet): exactly one commits, the others are refused
// with conflict, and the money moved is that one refund.
func TestConcurrentRefunds(t *testing.T) {
	for _, n := range []int{2, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := newEnv(t, "bank-a", "bank-b")
			shop := e.wallet("bank-a", "shop", 0)
			buyer := e.wallet("bank-b", "buyer", 10_000)
			paid, err := e.bank("bank-b").Pay(as("bank-b"), roles.Payment{From: buyer, To: shop, Amount: 1000, Reference: "order 1"})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.bank("bank-b").RetryDeliveries(context.Background()); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = e.bank("bank-a").Pay(as("bank-a"), roles.Payment{From: shop, Amount: 600, RefundOf: paid.TxID})
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errcode.Is(err, errcode.Conflict):
					t.Fatalf("a refund refused with %v, want conflict", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d of %d refunds of 60%% committed, want exactly 1: %v", ok, n, errs)
			}
			if err := e.bank("bank-a").RetryDeliveries(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, out := e.refunds(shop, paid.TxID); out != 600 {
				t.Fatalf("shop refunded %d, want 600", out)
			}
			if in, _ := e.refunds(buyer, paid.TxID); in != 600 {
				t.Fatalf("buyer got back %d, want 600", in)
			}
			if e.balance(shop) != 400 || e.balance(buyer) != 10_000-400 {
				t.Fatalf("shop %d, buyer %d", e.balance(shop), e.balance(buyer))
			}
		})
	}
}

// A refund the ledger rejects gives its claim back, so the whole payment
// is still refundable; one whose outcome is unknown keeps its claim
// until the ledger answers, so no other refund can take it meanwhile.
func TestRefundClaimFollowsTheLedger(t *testing.T) {
	e := newEnv(t, "bank-a")
	shop := e.wallet("bank-a", "shop", 0)
	buyer := e.wallet("bank-a", "buyer", 5000)
	a := e.bank("bank-a")
	paid, err := a.Pay(as("bank-a"), roles.Payment{From: buyer, To: shop, Amount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	refund := roles.Payment{From: shop, Amount: 1000, RefundOf: paid.TxID}

	e.link.tamper.Store(true)
	_, err = a.Pay(as("bank-a"), refund)
	wantCode(t, err, errcode.BadSignature, 0)
	e.link.tamper.Store(false)

	// Never reached the ledger: once that is certain, the claim is free.
	e.link.down.Store(true)
	_, err = a.Pay(as("bank-a"), refund)
	wantCode(t, err, errcode.Unavailable, 0)
	e.link.down.Store(false)
	if err := a.ResolvePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, out := e.refunds(shop, paid.TxID); out != 0 {
		t.Fatalf("refunded %d by refunds that never committed", out)
	}

	// Committed, but the answer was lost: the claim holds meanwhile.
	e.link.lostReply.Store(true)
	_, err = a.Pay(as("bank-a"), refund)
	wantCode(t, err, errcode.Unavailable, 0)
	e.link.lostReply.Store(false)
	before := e.snapshot(shop, buyer)
	_, err = a.Pay(as("bank-a"), roles.Payment{From: shop, Amount: 1, RefundOf: paid.TxID})
	wantCode(t, err, errcode.Conflict, 409)
	e.unchanged(t, before, shop, buyer)

	if err := a.ResolvePending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, out := e.refunds(shop, paid.TxID); out != 1000 {
		t.Fatalf("refunded %d after the ledger answered, want 1000", out)
	}
	_, err = a.Pay(as("bank-a"), roles.Payment{From: shop, Amount: 1, RefundOf: paid.TxID})
	wantCode(t, err, errcode.Conflict, 409)
	e.checkConservation(shop, buyer, a.Treasury())
}

// The merchant's bank crashes at each store operation of a partial refund
// in turn (keeping a random part of what was not synced): after the
// restart the refund, retried with its idempotency key, has moved money
// once, the claims add up to what was refunded, and a second refund of
// more than is left is still refused.
func TestRefundCrash(t *testing.T) {
	seed := crashtest.Seed(t)
	// setup: bank-a (the shop's, on disk) received 10.00 from bank-b.
	setup := func(t *testing.T) (e *env, disk *crashtest.Disk, shop, buyer string, refund roles.Payment) {
		disk = crashtest.NewDisk(t)
		e = newSeededEnv(t, seed, "bank-b")
		e.openOn("bank-a", disk.FS)
		shop = e.wallet("bank-a", "shop", 0)
		buyer = e.wallet("bank-b", "buyer", 5000)
		paid, err := e.bank("bank-b").Pay(as("bank-b"), roles.Payment{From: buyer, To: shop, Amount: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.bank("bank-b").RetryDeliveries(context.Background()); err != nil {
			t.Fatal(err)
		}
		return e, disk, shop, buyer, roles.Payment{From: shop, Amount: 700, RefundOf: paid.TxID, IdempotencyKey: "refund-1"}
	}
	e, disk, _, _, refund := setup(t)
	disk.Count()
	if _, err := e.bank("bank-a").Pay(as("bank-a"), refund); err != nil {
		t.Fatal(err)
	}
	ops := disk.Ops()
	t.Logf("the refund takes %d store operations at the merchant's bank", ops)
	crashes := 0
	for crashAt := range ops + 1 {
		t.Run(fmt.Sprint(crashAt), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(crashAt)))
			e, disk, shop, buyer, refund := setup(t)
			disk.Arm(-1, nil, crashAt, rand.New(rand.NewPCG(rng.Uint64(), 0)))
			first, ferr := e.bank("bank-a").Pay(as("bank-a"), refund)
			crashed := disk.Crashed()
			if crashed {
				crashes++
			}
			disk = disk.Restart()
			e.openOn("bank-a", disk.FS)
			a := e.bank("bank-a")
			if err := a.ResolvePending(context.Background()); err != nil {
				t.Fatal(err)
			}
			again, err := a.Pay(as("bank-a"), refund)
			if err != nil {
				t.Fatalf("refund retried after a crash (at operation %d: %v; first answer %v): %v", crashAt, crashed, ferr, err)
			}
			if ferr == nil && again.TxID != first.TxID {
				t.Fatalf("retry answered %s, the first attempt %s", again.TxID, first.TxID)
			}
			_, err = a.Pay(as("bank-a"), roles.Payment{From: shop, Amount: 301, RefundOf: refund.RefundOf})
			wantCode(t, err, errcode.Conflict, 409)
			if err := a.RetryDeliveries(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, out := e.refunds(shop, refund.RefundOf); out != 700 {
				t.Fatalf("shop's history refunds %d, want 700", out)
			}
			if in, _ := e.refunds(buyer, refund.RefundOf); in != 700 {
				t.Fatalf("buyer's history refunds %d, want 700", in)
			}
			if e.balance(shop) != 300 || e.balance(buyer) != 4700 {
				t.Fatalf("shop %d, buyer %d", e.balance(shop), e.balance(buyer))
			}
			left, err := a.Pay(as("bank-a"), roles.Payment{From: shop, Amount: 300, RefundOf: refund.RefundOf})
			if err != nil || left.To != buyer {
				t.Fatalf("refund of the rest: %+v %v", left, err)
			}
		})
	}
	if crashes < ops {
		t.Fatalf("only %d of %d refunds met the crash", crashes, ops)
	}
}

// BenchmarkRefund measures a refund of 0.01 against a plain payment of
// 0.01 from a shop whose history holds REFUND_HISTORY (default 2000)
// received payments: the refund first finds the original's line, a scan
// of the wallet's history keys (refund.go), so its cost grows with the
// history; each refund is of another payment, so none is remembered yet.
func BenchmarkRefund(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("REFUND_HISTORY")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b, "bank-a")
	a := e.bank("bank-a")
	shop := e.wallet("bank-a", "shop", 0)
	const buyers = 64
	var ws []string
	for i := range buyers {
		ws = append(ws, e.wallet("bank-a", fmt.Sprintf("buyer %d", i), uint64(n/buyers+1)*100))
	}
	orders := make([]money.TxID, n)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < n; j += buyers {
				r, err := a.Pay(as("bank-a"), roles.Payment{From: ws[i], To: shop, Amount: 100})
				if err != nil {
					b.Error(err)
					return
				}
				orders[j] = r.TxID
			}
		}()
	}
	wg.Wait()
	b.Run("pay", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := a.Pay(as("bank-a"), roles.Payment{From: shop, To: ws[i%buyers], Amount: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("refund", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := a.Pay(as("bank-a"), roles.Payment{From: shop, Amount: 1, RefundOf: orders[(i*7919)%n]}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Refunds of random parts of five payments race from eight callers, some
// with idempotency keys retried. The plan (the payments' amounts, which
// payment each caller refunds, how much, which it retries) and every key
// and wallet ID come from the printed seed; the interleaving is the
// scheduler's. Whatever it is, no payment is refunded more than it was,
// each history agrees with the answers given, and a retried key never
// refunds twice.
func TestRefundRace(t *testing.T) {
	seed := crashtest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newSeededEnv(t, seed, "bank-a", "bank-b")
	shop := e.wallet("bank-a", "shop", 0)
	buyer := e.wallet("bank-b", "buyer", 50_000)
	var orders []money.TxID
	amounts := map[money.TxID]uint64{}
	for range 5 {
		amt := 500 + rng.Uint64N(1500)
		tx := e.paid(t, buyer, shop, amt)
		orders = append(orders, tx)
		amounts[tx] = amt
	}
	type ask struct {
		p     roles.Payment
		twice bool
	}
	var plans [8][]ask
	for c := range plans {
		for k := range 6 {
			of := orders[rng.IntN(len(orders))]
			p := roles.Payment{From: shop, Amount: 1 + rng.Uint64N(amounts[of]/2), RefundOf: of}
			twice := rng.IntN(3) == 0
			if twice {
				p.IdempotencyKey = fmt.Sprintf("c%d-%d", c, k)
			}
			plans[c] = append(plans[c], ask{p, twice})
		}
	}
	var mu sync.Mutex
	committed := map[money.TxID]uint64{} // refund txid -> amount
	refunded := map[money.TxID]uint64{}  // original -> sum answered committed
	var wg sync.WaitGroup
	for c := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, a := range plans[c] {
				r, err := e.bank("bank-a").Pay(as("bank-a"), a.p)
				if a.twice {
					r2, err2 := e.bank("bank-a").Pay(as("bank-a"), a.p)
					if (err == nil) != (err2 == nil) || r2.TxID != r.TxID {
						t.Errorf("seed %d: key %s answered %s %v, then %s %v", seed, a.p.IdempotencyKey, r.TxID, err, r2.TxID, err2)
					}
				}
				if err != nil {
					if !errcode.Is(err, errcode.Conflict) {
						t.Errorf("seed %d: refund %+v: %v", seed, a.p, err)
					}
					continue
				}
				mu.Lock()
				if _, seen := committed[r.TxID]; !seen {
					committed[r.TxID] = r.Amount
					refunded[a.p.RefundOf] += r.Amount
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := e.bank("bank-a").RetryDeliveries(context.Background()); err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, of := range orders {
		in, _ := e.refunds(buyer, of)
		_, out := e.refunds(shop, of)
		if out > amounts[of] || out != refunded[of] || in != out {
			t.Fatalf("seed %d: payment %s of %d: answered %d refunded, shop's history %d, buyer's %d", seed, of, amounts[of], refunded[of], out, in)
		}
		total += out
	}
	var paid uint64
	for _, a := range amounts {
		paid += a
	}
	if e.balance(shop) != paid-total {
		t.Fatalf("seed %d: shop holds %d, want %d", seed, e.balance(shop), paid-total)
	}
}
