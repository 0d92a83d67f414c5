package intermediary_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestRequestCrashSafety runs a child process that accepts payment
// requests (payers at both banks, each request accepted up to twice, by
// concurrent callers) and prints each request once AcceptRequest answered
// it paid; the parent kills it with SIGKILL at a random moment (its seed
// is logged), reopens everything and checks that no request was paid
// twice: each shop holds exactly the amounts of the requests paid to it,
// with one history line each; every reported request is paid, on both
// sides, by the reported transaction, which the ledger has. At the end
// every request left is accepted and paid, once.
func TestRequestCrashSafety(t *testing.T) {
	if dir := os.Getenv("SPECIE_REQ_CRASH_CHILD"); dir != "" {
		seed, _ := strconv.ParseUint(os.Getenv("SPECIE_REQ_CRASH_SEED"), 10, 64)
		requestCrashChild(dir, strings.Split(os.Getenv("SPECIE_REQ_CRASH_REQUESTS"), ","), seed)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	net := ledgertest.NewFromSeed(crashSeed)
	w, err := openWorld(dir)
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	var shops, payers []string
	for _, name := range []string{"bank-a", "bank-b"} {
		b := w.banks[name]
		lock, err := b.ReceiveLock(asIssuer, b.Treasury())
		if err != nil {
			t.Fatal(err)
		}
		mint := net.Mint([]int{0, 1}, money.Output{Value: 100_000, Lock: lock})
		if _, err := w.ledger.Submit(asIssuer, mint); err != nil {
			t.Fatal(err)
		}
		if err := b.Deliver(asIssuer, mint); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			p, err := b.OpenWallet(as(name), unlimited(fmt.Sprint("payer ", i)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Pay(as(name), roles.Payment{From: b.Treasury(), To: p.ID, Amount: 40_000}); err != nil {
				t.Fatal(err)
			}
			payers = append(payers, p.ID)
		}
	}
	for i := range 2 {
		s, err := w.banks["bank-a"].OpenWallet(as("bank-a"), unlimited(fmt.Sprint("shop ", i)))
		if err != nil {
			t.Fatal(err)
		}
		shops = append(shops, s.ID)
	}
	type req struct {
		id, shop string
		amount   uint64
	}
	var reqs []req
	var ids []string
	for i := range 60 {
		shop, payer := shops[i%2], payers[rng.IntN(len(payers))]
		amount := 1 + rng.Uint64N(300)
		r, err := w.banks["bank-a"].CreateRequest(as("bank-a"), roles.RequestSpec{Payee: shop, Payer: payer, Amount: amount,
			Reference: fmt.Sprint("invoice ", i), Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req{r.ID, shop, amount})
		ids = append(ids, r.ID)
	}
	w.close()

	reported := map[string]money.TxID{}
	check := func(w *world, final bool) {
		t.Helper()
		ctx := context.Background()
		for _, name := range []string{"bank-a", "bank-b"} {
			if err := w.banks[name].ResolvePending(ctx); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := w.banks[name].RetryDeliveries(ctx); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		held := map[string]uint64{}
		lines := map[string]int{}
		for _, r := range reqs {
			owner, err := w.banks["bank-a"].Request(as("bank-a"), r.id)
			if err != nil {
				t.Fatal(err)
			}
			name := roles.IntermediaryOf(owner.Payer)
			payerSide, err := w.banks[name].Request(as(name), r.id)
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := reported[r.id]; ok && (owner.State != roles.RequestPaid || owner.TxID != want) {
				t.Fatalf("request %s reported paid by %s, owner has %+v", r.id, want, owner)
			}
			if final && owner.State != roles.RequestPaid {
				t.Fatalf("request %s not paid at the end: %+v", r.id, owner)
			}
			if owner.State == roles.RequestPaid {
				if payerSide.State != roles.RequestPaid || payerSide.TxID != owner.TxID || owner.Paid != r.amount {
					t.Fatalf("request %s: owner %+v, payer's side %+v", r.id, owner, payerSide)
				}
				if _, err := w.ledger.Tx(ctx, owner.TxID); err != nil {
					t.Fatalf("request %s paid by %s: %v", r.id, owner.TxID, err)
				}
				held[r.shop] += r.amount
				lines[r.shop]++
			}
		}
		for _, shop := range shops {
			wl, err := w.banks["bank-a"].Wallet(as("bank-a"), shop)
			if err != nil {
				t.Fatal(err)
			}
			h, err := w.banks["bank-a"].History(as("bank-a"), shop)
			if err != nil {
				t.Fatal(err)
			}
			if wl.Balance != held[shop] || len(h) != lines[shop] {
				t.Fatalf("%s holds %d in %d payments; its paid requests add up to %d in %d", shop, wl.Balance, len(h), held[shop], lines[shop])
			}
		}
	}
	for round := range 3 {
		env := []string{"SPECIE_REQ_CRASH_CHILD=" + dir, "SPECIE_REQ_CRASH_REQUESTS=" + strings.Join(ids, ","),
			fmt.Sprint("SPECIE_REQ_CRASH_SEED=", seed+uint64(round))}
		got := crashtest.RunAndKill(t, "TestRequestCrashSafety", env, 1+rng.IntN(15), func(line string) bool {
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "paid" {
				return false
			}
			id, err := money.ParseHash(f[2])
			if err != nil {
				return false
			}
			if prev, ok := reported[f[1]]; ok && prev != id {
				t.Errorf("request %s answered paid by %s, earlier by %s", f[1], id, prev)
			}
			reported[f[1]] = id
			return true
		})
		t.Logf("round %d: killed after %d reported accepts", round, got)
		w, err := openWorld(dir) // Open settles spends the crash left pending
		if err != nil {
			t.Fatal(err)
		}
		check(w, false)
		w.close()
	}
	w, err = openWorld(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for _, r := range reqs {
		owner, err := w.banks["bank-a"].Request(as("bank-a"), r.id)
		if err != nil {
			t.Fatal(err)
		}
		name := roles.IntermediaryOf(owner.Payer)
		if _, err := w.banks[name].AcceptRequest(as(name), r.id, owner.Payer, 0); err != nil {
			t.Fatalf("accept %s after the crashes: %v", r.id, err)
		}
	}
	check(w, true)
}

// requestCrashChild accepts the requests in an order drawn from seed,
// each about twice, until killed (when the kill lands depends on timing).
func requestCrashChild(dir string, ids []string, seed uint64) {
	w, err := openWorld(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex // one line per write
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for range 2 * len(ids) / 4 {
				id := ids[rng.IntN(len(ids))]
				owner, err := w.banks["bank-a"].Request(as("bank-a"), id)
				if err != nil {
					continue
				}
				name := roles.IntermediaryOf(owner.Payer)
				r, err := w.banks[name].AcceptRequest(as(name), id, owner.Payer, 0)
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Printf("paid %s %s\n", r.ID, r.TxID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	w.close()
	os.Exit(0)
}
