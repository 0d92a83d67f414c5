package shard_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

var errCrash = errors.New("crash")

func TestSingleGroupTransactionStaysInItsGroup(t *testing.T) {
	s := newSharded(t, 2)
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	note := s.mintIn(0, alice, 100_00)
	before := s.supplies()
	tx := s.pay([]money.Note{note}, []*crypto.PrivateKey{alice},
		[]money.Output{ledgertest.To(bob, 30_00), ledgertest.To(alice, 70_00)}, []int{0, 0})
	if _, err := s.router.Submit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	after := s.supplies()
	if after[0].Batches != before[0].Batches+1 || after[1] != before[1] || after[2] != before[2] {
		t.Fatalf("a transaction of group 0 touched another ledger: %+v -> %+v", before, after)
	}
	if s.outcome(tx) != applied {
		t.Fatal("not applied")
	}
	s.check()
}

func TestCrossGroupTransactionCommitsInEveryGroup(t *testing.T) {
	s := newSharded(t, 2)
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	a0, a1 := s.mintIn(0, alice, 100_00), s.mintIn(1, alice, 50_00)
	// Inputs in both groups, outputs in both.
	tx := s.pay([]money.Note{a0, a1}, []*crypto.PrivateKey{alice, alice},
		[]money.Output{ledgertest.To(bob, 120_00), ledgertest.To(alice, 30_00)}, []int{1, 0})
	r, err := s.router.Submit(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	id := s.n.Network.TxID(tx)
	if r.TxID != id {
		t.Fatalf("receipt names %s, want %s", r.TxID, id)
	}
	if s.outcome(tx) != applied {
		t.Fatal("not applied")
	}
	// Each group's log holds the transaction under its txid, with an
	// inclusion proof against that group's header.
	for g, w := range s.groups {
		info, err := w.Tx(ctx, id)
		if err != nil {
			t.Fatalf("group %d: %v", g, err)
		}
		if err := info.Header.VerifyInclusion(id, info.Index, info.Proof); err != nil {
			t.Fatalf("group %d: %v", g, err)
		}
	}
	// The decision is in the coordinator's log, provably; the abort is not.
	yes, no := shard.DecisionIDs(s.n.Network, id)
	info, err := s.log.Tx(ctx, yes)
	if err != nil {
		t.Fatalf("decision: %v", err)
	}
	if err := info.Header.VerifyInclusion(yes, info.Index, info.Proof); err != nil {
		t.Fatal(err)
	}
	if _, err := s.log.Tx(ctx, no); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("abort decision: %v", err)
	}
	s.check()

	// Bob spends what he got in group 1 there, as any note.
	bobs := s.n.Notes(tx)[0]
	next := s.pay([]money.Note{bobs}, []*crypto.PrivateKey{bob}, []money.Output{ledgertest.To(alice, 120_00)}, []int{1})
	if _, err := s.router.Submit(ctx, next); err != nil {
		t.Fatal(err)
	}
	// A mint whose outputs fall in both groups is one cross-group
	// transaction; a redeem spending notes of both groups another.
	for nonce := ledgertest.Nonce(); ; nonce++ {
		m := &money.Tx{Kind: money.Mint, Nonce: nonce, Outputs: []money.Output{ledgertest.To(bob, 10_00), ledgertest.To(bob, 20_00)}}
		ns := s.n.Notes(m)
		if s.group(s.n.Network.NoteID(&ns[0])) == s.group(s.n.Network.NoteID(&ns[1])) {
			continue
		}
		if _, err := s.router.Submit(ctx, s.n.MintNonce(nonce, []int{0, 2}, m.Outputs...)); err != nil {
			t.Fatal(err)
		}
		s.minted += 30_00
		red := s.n.Spend(money.Redeem, ns, []*crypto.PrivateKey{bob, bob}, ledgertest.To(bob, 5_00))
		if _, err := s.router.Submit(ctx, red); err != nil {
			t.Fatal(err)
		}
		s.redeemed += 25_00
		if s.outcome(red) != applied {
			t.Fatal("redeem not applied")
		}
		break
	}
	s.check()
	// Resent, a committed cross-group transaction is a double spend.
	if _, err := s.router.Submit(ctx, tx); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("resent: %v", err)
	}
	s.check()
}

// A note locked by a cross-group transaction in flight cannot be spent by
// another transaction, in its group or across groups; once the in-doubt
// transaction is resolved (aborted by recovery here) the note is back.
func TestLockedNoteCannotBeSpent(t *testing.T) {
	s := newSharded(t, 2)
	alice, bob, carol := ledgertest.MustKey(), ledgertest.MustKey(), ledgertest.MustKey()
	note := s.mintIn(0, alice, 100_00)
	tx := s.pay([]money.Note{note}, []*crypto.PrivateKey{alice}, []money.Output{ledgertest.To(bob, 100_00)}, []int{1})
	s.crash = func(p shard.Phase, _ int) error {
		if p == shard.PhasePrepared {
			return errCrash
		}
		return nil
	}
	if _, err := s.router.Submit(ctx, tx); !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("submit with the coordinator stopping after prepare: %v", err)
	}
	s.crash = nil
	if s.unspent(s.n.Network.NoteID(&note)) {
		t.Fatal("the prepared input is still unspent")
	}
	before := s.supplies()
	local := s.pay([]money.Note{note}, []*crypto.PrivateKey{alice}, []money.Output{ledgertest.To(carol, 100_00)}, []int{0})
	if _, err := s.router.Submit(ctx, local); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("spend of a locked note in its group: %v", err)
	}
	if after := s.supplies(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused spend changed the ledgers: %+v -> %+v", before, after)
	}
	cross := s.pay([]money.Note{note}, []*crypto.PrivateKey{alice}, []money.Output{ledgertest.To(carol, 100_00)}, []int{1})
	if _, err := s.router.Submit(ctx, cross); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("cross-group spend of a locked note: %v", err)
	}
	after := s.supplies()
	for g := range s.groups {
		if after[g] != before[g] {
			t.Fatalf("a refused cross-group spend changed group %d: %+v -> %+v", g, before[g], after[g])
		}
	}
	s.elsewhere[s.n.Network.NoteID(&note)] = true
	if s.outcome(cross) != notApplied {
		t.Fatal("refused transaction applied")
	}
	delete(s.elsewhere, s.n.Network.NoteID(&note))

	if n := s.restartCoordinator(); n != 1 {
		t.Fatalf("recovery resolved %d transactions, want the in-doubt one", n)
	}
	if s.outcome(tx) != notApplied {
		t.Fatal("in-doubt transaction not aborted")
	}
	s.check()
	if _, err := s.router.Submit(ctx, local); err != nil {
		t.Fatalf("the released note: %v", err)
	}
	s.check()
}

// phaseCase is a crash at one phase: after which group (-1: the first
// time the phase is reached), and what recovery must make of it.
type phaseCase struct {
	name   string
	phase  shard.Phase
	group  int
	refuse bool // group 1's input is spent first, so the decision is abort
	want   state
}

var phaseCases = []phaseCase{
	{"before any prepare", shard.PhaseBegun, -1, false, notApplied},
	{"after some prepares", shard.PhasePrepared, 0, false, notApplied},
	{"after commit decided", shard.PhaseDecided, -1, false, applied},
	{"after abort decided", shard.PhaseDecided, -1, true, notApplied},
	{"after some commits", shard.PhaseApplied, 0, false, applied},
	{"after some aborts", shard.PhaseApplied, 0, true, notApplied},
}

// crossTx is a transaction with inputs in both groups and outputs in both;
// with refuse, group 1's input is spent by another transaction first.
func crossTx(t *testing.T, s *sharded, refuse bool) *money.Tx {
	t.Helper()
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	a0, a1 := s.mintIn(0, alice, 60_00), s.mintIn(1, alice, 40_00)
	if refuse {
		s.elsewhere[s.n.Network.NoteID(&a1)] = true
		first := s.pay([]money.Note{a1}, []*crypto.PrivateKey{alice}, []money.Output{ledgertest.To(alice, 40_00)}, []int{1})
		if _, err := s.router.Submit(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	return s.pay([]money.Note{a0, a1}, []*crypto.PrivateKey{alice, alice},
		[]money.Output{ledgertest.To(bob, 90_00), ledgertest.To(alice, 10_00)}, []int{1, 0})
}

func (c phaseCase) at(p shard.Phase, g int) bool {
	return p == c.phase && (c.group < 0 || c.group == g)
}

// TestCoordinatorCrashAtEveryPhase stops the coordinator at each phase,
// restarts its log's ledger from disk and a new coordinator recovers: the
// transaction is applied everywhere or nowhere, as its logged decision
// says (abort when none was logged), no lock is left, money is conserved.
func TestCoordinatorCrashAtEveryPhase(t *testing.T) {
	coordinatorCrashAtEveryPhase(t, func(t *testing.T) *sharded { return newSharded(t, 2) })
}

// coordinatorCrashAtEveryPhase runs the coordinator's crash at each phase
// on the groups newS makes (replicated ones too: replicated_test.go).
func coordinatorCrashAtEveryPhase(t *testing.T, newS func(*testing.T) *sharded) {
	for _, c := range phaseCases {
		t.Run(c.name, func(t *testing.T) {
			s := newS(t)
			tx := crossTx(t, s, c.refuse)
			s.crash = func(p shard.Phase, g int) error {
				if c.at(p, g) {
					return errCrash
				}
				return nil
			}
			if _, err := s.router.Submit(ctx, tx); !errcode.Is(err, errcode.Unavailable) {
				t.Fatalf("submit, crashing %s: %v", c.name, err)
			}
			if n := s.restartCoordinator(); n != 1 {
				t.Fatalf("recovered %d transactions, want 1", n)
			}
			if got := s.outcome(tx); got != c.want {
				t.Fatalf("after recovery: %v, want %v", got, c.want)
			}
			s.check()
			if c.want == applied {
				s.committedOnce(tx)
			}
			s.converge()
			// Recovery is done: a second one finds nothing.
			if n := s.restartCoordinator(); n != 0 {
				t.Fatalf("second recovery resolved %d", n)
			}
			// Resent, the transaction is refused either way, by code.
			want := errcode.DoubleSpend
			if c.want == notApplied {
				want = errcode.Conflict
			}
			if _, err := s.router.Submit(ctx, tx); !errcode.Is(err, want) {
				t.Fatalf("resent: %v, want %s", err, want)
			}
			s.check()
		})
	}
}

// TestGroupCrashAtEveryPhase closes a group's ledger at each phase (the
// next group the coordinator needs) while the coordinator runs on; the
// coordinator gives up with unavailable, the group restarts from its
// disk, and Resolve finishes the transaction.
func TestGroupCrashAtEveryPhase(t *testing.T) {
	for _, c := range phaseCases {
		t.Run(c.name, func(t *testing.T) {
			s := newSharded(t, 2)
			tx := crossTx(t, s, c.refuse)
			down := -1
			s.crash = func(p shard.Phase, g int) error {
				if !c.at(p, g) || down >= 0 {
					return nil
				}
				down = 1
				if p == shard.PhaseBegun || (p == shard.PhaseDecided && !c.refuse) {
					down = 0
				}
				if err := s.groups[down].l().Close(); err != nil {
					t.Error(err)
				}
				return nil
			}
			_, err := s.router.Submit(ctx, tx)
			if c.want == applied && err == nil {
				t.Fatal("committed with a group down")
			}
			if down < 0 {
				t.Fatal("no group was stopped")
			}
			if got := s.outcome0(tx, down); got == applied && c.want == notApplied {
				t.Fatal("applied though it must abort")
			}
			s.groups[down].cur.Store(s.openLedger(s.groupDir(down)))
			s.crash = nil
			if err := s.coord.Resolve(ctx); err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if got := s.outcome(tx); got != c.want {
				t.Fatalf("after the group's restart: %v, want %v", got, c.want)
			}
			s.check()
			if n := s.restartCoordinator(); n != 0 {
				t.Fatalf("recovery found %d unfinished", n)
			}
		})
	}
}

// outcome0 is outcome read from the groups that are up.
func (s *sharded) outcome0(tx *money.Tx, down int) state {
	for i := range tx.Inputs {
		id := s.n.Network.NoteID(&tx.Inputs[i])
		if s.group(id) != down && s.unspent(id) {
			return notApplied
		}
	}
	return applied
}

// Of concurrent transactions spending one note, in its group and across
// groups, exactly one commits; the others are refused double_spend.
func TestConcurrentSpendsAcrossGroupsOneCommits(t *testing.T) {
	s := newSharded(t, 2)
	alice := ledgertest.MustKey()
	note := s.mintIn(0, alice, 100_00)
	var txs []*money.Tx
	for i := range 6 {
		at := []int{i % 2}
		txs = append(txs, s.pay([]money.Note{note}, []*crypto.PrivateKey{alice}, []money.Output{ledgertest.To(ledgertest.MustKey(), 100_00)}, at))
	}
	errs := make([]error, len(txs))
	var wg sync.WaitGroup
	for i, tx := range txs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.router.Submit(ctx, tx)
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			if s.outcome(txs[i]) != applied {
				t.Fatalf("tx %d committed but not applied", i)
			}
		case !errcode.Is(err, errcode.DoubleSpend):
			t.Fatalf("tx %d: %v", i, err)
		}
	}
	s.elsewhere[s.n.Network.NoteID(&note)] = true
	for i, err := range errs {
		if err != nil && s.outcome(txs[i]) != notApplied {
			t.Fatalf("tx %d refused but applied", i)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d spends of one note committed", won, len(txs))
	}
	s.check()
}

var _ roles.Ledger = (*shard.Router)(nil)

// A batch through the router while one group is down is answered per
// transaction: the up group's are committed and reported so, the down
// group's are unavailable with their txids (outcome unknown, asked again
// later), and nothing of theirs is applied; once the group is back they
// commit when sent again.
func TestRouterBatchWithAGroupDown(t *testing.T) {
	s := newSharded(t, 2)
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	n0, n1 := s.mintIn(0, alice, 100_00), s.mintIn(1, alice, 50_00)
	tx0 := s.pay([]money.Note{n0}, []*crypto.PrivateKey{alice}, []money.Output{ledgertest.To(bob, 100_00)}, []int{0})
	tx1 := s.pay([]money.Note{n1}, []*crypto.PrivateKey{alice}, []money.Output{ledgertest.To(bob, 50_00)}, []int{1})
	if err := s.groups[1].l().Close(); err != nil {
		t.Fatal(err)
	}
	res, err := s.router.SubmitBatch(ctx, []*money.Tx{tx0, tx1})
	if err != nil || len(res) != 2 {
		t.Fatalf("batch with group 1 down: %v %v; want a result per transaction", res, err)
	}
	if res[0].Err != nil || res[0].Receipt.TxID != s.n.Network.TxID(tx0) || res[0].Receipt.Batch == 0 {
		t.Fatalf("group 0's transaction: %+v; want committed", res[0])
	}
	if !errcode.Is(res[1].Err, errcode.Unavailable) || res[1].Receipt.TxID != s.n.Network.TxID(tx1) {
		t.Fatalf("group 1's transaction: %+v %v; want unavailable with its txid", res[1].Receipt, res[1].Err)
	}
	if got := s.outcome0(tx0, 1); got != applied {
		t.Fatalf("group 0's transaction: %v, want applied", got)
	}
	s.groups[1].cur.Store(s.openLedger(s.groupDir(1)))
	if got := s.outcome(tx1); got != notApplied {
		t.Fatalf("group 1's transaction after the restart: %v, want not applied", got)
	}
	res, err = s.router.SubmitBatch(ctx, []*money.Tx{tx1})
	if err != nil || res[0].Err != nil {
		t.Fatalf("sent again: %v %v", res, err)
	}
	if got := s.outcome(tx1); got != applied {
		t.Fatalf("group 1's transaction sent again: %v, want applied", got)
	}
	s.check()
}
