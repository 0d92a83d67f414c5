package devnet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestShardedProcessesGroupLeaderKilledUnderLoad: with two groups of
// three `specie serve ledger --cluster` replica processes each, the
// coordinator's log (one replica), the router, the issuer and the banks
// as separate processes, the leader replica of group 0 is SIGKILLed under
// concurrent payments within and across groups, at a moment drawn from
// the seed. Payments sent after the kill commit, within one group and
// across groups, on the two replicas left (a new leader elected); the
// killed replica is restarted and rejoins. Then every payment reported
// committed is on the ledger once and in its payer's history, a keyed
// payment made again gets the same answer, every cross-group transaction
// begun has exactly one decision and no lock note left (once the router's
// Resolve has run), the groups' supplies add up to what was minted, and
// the restarted replica's header chain is the other two's.
//
// It logs how long after the SIGKILL the first payment, and the first
// cross-group payment, sent after it was reported committed; it asserts
// nothing about time.
func TestShardedProcessesGroupLeaderKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts eleven processes")
	}
	seed := crashtest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 0x67726f75))
	_, perBank, clients := killRounds()
	s := startShardedProcsLog(t, 3, 1)
	cfg := s.cfg
	urls := map[string]string{"bank-a": cfg.Intermediaries[0].URL, "bank-b": cfg.Intermediaries[1].URL}
	parties := newParties(t, cfg, cfg.Ledger.URL, cfg.Issuer.URL, urls["bank-a"], urls["bank-b"])
	const funding = 500_00
	pl := newPayLedger(parties.openFunded(t, perBank, funding)...)
	minted := 2 * uint64(perBank+1) * funding // openFunded's mints
	httpBanks := map[string]roles.Intermediary{"bank-a": parties.bankA, "bank-b": parties.bankB}
	ctx := context.Background()
	wallets := pl.wallets[2:]

	// load runs payLoad until n of its payments were reported committed;
	// the function it returns waits for that and stops it.
	load := func(tag string, n int) (wait func()) {
		stop := make(chan struct{})
		done := make(chan struct{})
		var once sync.Once
		wg := payLoad(parties, pl, wallets, rng.Uint64(), clients, tag, stop, func(k int) {
			if k >= n {
				once.Do(func() { close(done) })
			}
		})
		return func() {
			t.Helper()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				close(stop)
				wg.Wait()
				t.Fatalf("%s: not %d payments committed in two minutes", tag, n)
			}
			close(stop)
			wg.Wait()
		}
	}

	// The kill: group 0's leader, under load, once killAt payments were
	// reported committed. As soon as its process is gone a second load
	// starts, every payment of which is sent after the kill; it runs until
	// 60 of them committed on the two replicas left.
	g0 := s.groupURLs(0)
	lead, term, err := raftLeader(g0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	victim := s.replicas[0][lead-1].proc
	after := make(chan func(), 1)
	var gone time.Time
	go func() {
		<-victim.done
		gone = time.Now()
		after <- load("after", 60)
	}()
	killAt := 20 + rng.IntN(150)
	killed := killUnderLoad(t, victim, parties, pl, wallets, rng.Uint64(), clients, killAt, "before")
	t.Logf("group 0's leader, replica %d (term %d), SIGKILLed after %d payments reported committed; the payments in flight then answered within %v of it",
		lead, term, killAt, time.Since(killed).Round(time.Millisecond))
	before := map[money.TxID]bool{}
	pl.mu.Lock()
	for id, p := range pl.reported {
		if !strings.HasPrefix(p.Reference, "after ") {
			before[id] = true
		}
	}
	pl.mu.Unlock()
	(<-after)()
	t.Logf("the killed process was reaped %v after the SIGKILL", gone.Sub(killed).Round(time.Millisecond))
	survivors := map[uint64]string{}
	for id, u := range g0 {
		if id != lead {
			survivors[id] = u
		}
	}
	newLead, newTerm, err := raftLeader(survivors, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if newTerm <= term {
		t.Fatalf("group 0 leads with replica %d in term %d after its leader's SIGKILL in term %d: want a new election", newLead, newTerm, term)
	}
	isCross := func(id money.TxID) bool {
		yes, _ := shard.DecisionIDs(cfg.Network, id)
		_, err := s.groupLedger(-1).Tx(ctx, yes)
		if err != nil && !errcode.Is(err, errcode.NotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	var first, firstCross time.Duration
	var single, cross int
	for id := range pl.reported {
		if before[id] {
			continue
		}
		d := pl.at[id].Sub(killed)
		if first == 0 || d < first {
			first = d
		}
		if isCross(id) {
			cross++
			if firstCross == 0 || d < firstCross {
				firstCross = d
			}
		} else {
			single++
		}
	}
	t.Logf("with replica %d down, replica %d leads group 0 (term %d); payments sent after the kill: %d within one group, %d across groups reported committed", lead, newLead, newTerm, single, cross)
	t.Logf("of the load started at the kill, the first payment was reported committed %v after the SIGKILL, the first cross-group one %v after it", first.Round(time.Millisecond), firstCross.Round(time.Millisecond))
	if single == 0 || cross == 0 {
		t.Fatalf("after the kill want payments both within a group and across groups; have %d and %d", single, cross)
	}

	// The killed replica rejoins and catches up, under load.
	s.restartReplica(0, lead)
	load("rejoined", 20)()

	pl.checkReported(t, parties.ledger, httpBanks)
	waitFor(t, "every cross-group transaction settled", 2*time.Minute, func() error {
		_, err := s.settled(minted, 0)
		return err
	})
	if err := assertNoWrongRefusals(pl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "group 0's replicas on one header chain", 2*time.Minute, func() error {
		var chains [][]money.BatchHeader
		for id := uint64(1); id <= 3; id++ {
			hs, err := allHeaders(ctx, client.New(g0[id], "").Ledger())
			if err != nil {
				return fmt.Errorf("replica %d: %w", id, err)
			}
			chains = append(chains, hs)
		}
		for i, hs := range chains {
			if !slices.Equal(hs, chains[newLead-1]) {
				return fmt.Errorf("replica %d holds %d headers, replica %d (the leader) %d, not the same chain", i+1, len(hs), newLead, len(chains[newLead-1]))
			}
		}
		return nil
	})
}
