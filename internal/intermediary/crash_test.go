package intermediary_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

const crashSeed = 7

// world is a ledger and two banks opened on one data directory.
type world struct {
	ledger *ledger.Ledger
	mu     sync.Mutex
	banks  map[string]*intermediary.Intermediary
}

func openWorld(dir string) (*world, error) {
	net := ledgertest.NewFromSeed(crashSeed)
	cfg := net.TestConfig()
	cfg.Logger = quiet
	l, err := ledger.Open(filepath.Join(dir, "ledger"), cfg)
	if err != nil {
		return nil, err
	}
	w := &world{ledger: l, banks: map[string]*intermediary.Intermediary{}}
	dirFn := func(name string) (roles.Intermediary, bool) {
		w.mu.Lock()
		defer w.mu.Unlock()
		b, ok := w.banks[name]
		return b, ok
	}
	for _, name := range []string{"bank-a", "bank-b"} {
		c := intermediary.Config{Name: name, Network: net.Network, RetryInterval: -1, SettleAfter: -1, Logger: quiet}
		b, err := intermediary.Open(filepath.Join(dir, name), c, l, nil, dirFn)
		if err != nil {
			w.close()
			return nil, err
		}
		w.mu.Lock()
		w.banks[name] = b
		w.mu.Unlock()
	}
	return w, nil
}

func (w *world) bank(id string) *intermediary.Intermediary { return w.banks[roles.IntermediaryOf(id)] }

func (w *world) close() {
	for _, b := range w.banks {
		b.Close()
	}
	w.ledger.Close()
}

// TestCrashSafety runs a child process that pays at random between wallets
// of two banks (within and across banks) and prints each payment once Pay
// has returned it committed; the parent kills it with SIGKILL at a random
// moment, reopens everything, and checks that every reported payment is in
// the payer's history, nothing is left pending or undelivered, each
// wallet's balance equals its history's ins minus outs, the balances add up
// to the ledger's outstanding supply, and every wallet can still spend all
// it holds.
func TestCrashSafety(t *testing.T) {
	if dir := os.Getenv("SPECIE_INTER_CRASH_CHILD"); dir != "" {
		crashChild(dir, strings.Split(os.Getenv("SPECIE_INTER_CRASH_WALLETS"), ","))
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	net := ledgertest.NewFromSeed(crashSeed)

	// Set up: wallets at both banks, funded from minted money.
	w, err := openWorld(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wallets []string
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
		wallets = append(wallets, b.Treasury())
		for i := range 3 {
			wl, err := b.OpenWallet(as(name), unlimited(fmt.Sprintf("owner %d", i)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Pay(as(name), roles.Payment{From: b.Treasury(), To: wl.ID, Amount: 20_000}); err != nil {
				t.Fatal(err)
			}
			wallets = append(wallets, wl.ID)
		}
	}
	w.close()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)
	reported := map[money.TxID]string{} // txid -> payer
	for round := range 3 {
		env := []string{"SPECIE_INTER_CRASH_CHILD=" + dir, "SPECIE_INTER_CRASH_WALLETS=" + strings.Join(wallets, ",")}
		got := crashtest.RunAndKill(t, "TestCrashSafety", env, 20+rng.IntN(150), func(line string) bool {
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "paid" {
				return false
			}
			id, err := money.ParseHash(f[1])
			if err != nil {
				return false
			}
			reported[id] = f[2]
			return true
		})
		t.Logf("round %d: killed after %d reported payments", round, got)
		checkAfterCrash(t, dir, wallets, reported)
	}

	// Every wallet can still spend everything it holds: its notes are
	// really unspent on the ledger and none is stuck reserved.
	w, err = openWorld(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for _, id := range wallets[1:] {
		if id == w.bank(id).Treasury() {
			continue
		}
		b := w.bank(id)
		name := roles.IntermediaryOf(id)
		wl, err := b.Wallet(as(name), id)
		if err != nil {
			t.Fatal(err)
		}
		for wl.Balance > 0 {
			// At most money.MaxInputs notes per payment: pay in steps.
			if _, err := b.Pay(as(name), roles.Payment{From: id, To: b.Treasury(), Amount: wl.Balance}); err != nil {
				if !errcode.Is(err, errcode.InsufficientFunds) {
					t.Fatalf("%s spending its %d: %v", id, wl.Balance, err)
				}
				if _, err := b.Pay(as(name), roles.Payment{From: id, To: b.Treasury(), Amount: wl.Balance / 2}); err != nil {
					t.Fatalf("%s spending half of %d: %v", id, wl.Balance, err)
				}
			}
			if wl, err = b.Wallet(as(name), id); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func checkAfterCrash(t *testing.T, dir string, wallets []string, reported map[money.TxID]string) {
	t.Helper()
	w, err := openWorld(dir) // Open settles spends the crash left pending
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	ctx := context.Background()
	for _, name := range []string{"bank-a", "bank-b"} {
		b := w.banks[name]
		if err := b.ResolvePending(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := b.RetryDeliveries(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p, _ := b.Pending(); len(p) != 0 {
			t.Fatalf("%s: %d spends still pending", name, len(p))
		}
		if o, _ := b.Outbox(); len(o) != 0 {
			t.Fatalf("%s: %d payments still undelivered", name, len(o))
		}
	}
	outs := map[money.TxID]bool{}
	var sum uint64
	for _, id := range wallets {
		name := roles.IntermediaryOf(id)
		b := w.banks[name]
		wl, err := b.Wallet(as(name), id)
		if err != nil {
			t.Fatal(err)
		}
		h, err := b.History(as(name), id)
		if err != nil {
			t.Fatal(err)
		}
		var in, out uint64
		for _, e := range h {
			if e.Direction == "in" {
				in += e.Amount
			} else {
				out += e.Amount
				outs[e.TxID] = true
			}
		}
		if in-out != wl.Balance {
			t.Fatalf("%s: balance %d but history says %d in - %d out", id, wl.Balance, in, out)
		}
		sum += wl.Balance
	}
	for id, payer := range reported {
		if !outs[id] {
			t.Fatalf("payment %s from %s was reported committed but is not in the payer's history", id, payer)
		}
		if _, err := w.ledger.Tx(ctx, id); err != nil {
			t.Fatalf("payment %s: %v", id, err)
		}
	}
	sup, err := w.ledger.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum != sup.Outstanding {
		t.Fatalf("wallets hold %d, ledger outstanding %d", sum, sup.Outstanding)
	}
}

// crashChild pays at random until killed.
func crashChild(dir string, wallets []string) {
	w, err := openWorld(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex // one line per write
	var wg sync.WaitGroup
	stop := time.Now().Add(30 * time.Second)
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(g)))
			for time.Now().Before(stop) {
				from := wallets[rng.IntN(len(wallets))]
				to := wallets[rng.IntN(len(wallets))]
				if from == to {
					continue
				}
				name := roles.IntermediaryOf(from)
				res, err := w.bank(from).Pay(as(name), roles.Payment{From: from, To: to, Amount: 1 + rng.Uint64N(500)})
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Printf("paid %s %s\n", res.TxID, from)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	w.close()
	os.Exit(0)
}
