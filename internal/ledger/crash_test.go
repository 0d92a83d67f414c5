package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
)

const crashSeed = 42

// TestCrashRecovery runs a child process that commits under load and prints
// each txid once the ledger reports it committed; the parent kills it with
// SIGKILL at a random moment, reopens the data directory, and checks that
// every reported transaction is there and that money is conserved. Three
// rounds on the same directory.
func TestCrashRecovery(t *testing.T) {
	if dir := os.Getenv("SPECIE_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	n := ledgertest.NewFromSeed(crashSeed)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	var reported []money.TxID
	for round := 0; round < 3; round++ {
		// Kill the child at a random point once it is committing.
		got := crashtest.RunAndKill(t, "TestCrashRecovery", []string{"SPECIE_CRASH_CHILD=" + dir}, 200+rng.IntN(2000), func(line string) bool {
			id, err := money.ParseHash(line)
			if err != nil {
				return false
			}
			reported = append(reported, id)
			return true
		})
		t.Logf("round %d: killed after %d reported commits", round, got)

		l, err := ledger.Open(dir, n.TestConfig())
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		for _, id := range reported {
			if _, err := l.Tx(ctx, id); err != nil {
				t.Fatalf("round %d: transaction %s was reported committed but is lost: %v", round, id, err)
			}
		}
		if err := l.CheckInvariants(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		l.Close()
	}
}

// crashChild commits payments forever from four goroutines, printing each
// committed txid.
func crashChild(dir string) {
	n := ledgertest.NewFromSeed(crashSeed)
	l, err := ledger.Open(dir, n.TestConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	report := func(id money.TxID) {
		mu.Lock()
		os.Stdout.WriteString(id.String() + "\n")
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := ledgertest.MustKey()
			mint := n.Mint([]int{0, 1}, ledgertest.To(k, 1_000_000))
			if _, err := l.Submit(ctx, mint); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			report(n.Network.TxID(mint))
			note := n.Notes(mint)[0]
			for i := 0; ; i++ {
				var txs []*money.Tx
				// A chain of payments back to the same key, in batches.
				tx := n.Spend(money.Transfer, []money.Note{note}, []*crypto.PrivateKey{k}, ledgertest.To(k, note.Value-1), ledgertest.To(k, 1))
				txs = append(txs, tx)
				rs, err := l.SubmitBatch(ctx, txs)
				if err != nil || rs[0].Err != nil {
					fmt.Fprintln(os.Stderr, "child:", err, rs[0].Err, strconv.Itoa(i))
					os.Exit(2)
				}
				report(rs[0].Receipt.TxID)
				note = n.Notes(tx)[0]
			}
		}()
	}
	wg.Wait()
}
