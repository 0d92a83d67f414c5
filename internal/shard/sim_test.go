package shard_test

import (
	mrand "math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestRandomCrashes is a seeded simulation of three groups: payments
// between random owners, spending random unspent notes into random groups,
// while the coordinator or a group crashes at a random phase of some of
// them (the coordinator's log reopened from disk and recovered; a group
// closed under the running coordinator, reopened, then Resolve). After
// every payment: it is applied in every group or in none, the model's
// unspent notes are exactly the groups' (no note lost, none extra, no
// lock left), money is conserved across groups and every ledger's
// invariants hold. The seed decides everything (keys, nonces, amounts,
// crashes); it is printed, and SPECIE_SIM_SEED replays it.
func TestRandomCrashes(t *testing.T) {
	seed := uint64(20261202)
	if v, err := strconv.ParseUint(os.Getenv("SPECIE_SIM_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (SPECIE_SIM_SEED=%d replays it)", seed, seed)
	rng := mrand.New(mrand.NewPCG(seed, 2))
	const groups, steps = 3, 40
	s := newSharded(t, groups)
	s.nonce = rng.Uint64
	keys := make([]*crypto.PrivateKey, 4)
	for i := range keys {
		keys[i] = ledgertest.KeyFrom(rng)
	}
	owner := map[[32]byte]*crypto.PrivateKey{}
	for _, k := range keys {
		owner[k.Public()] = k
	}
	// The model: every unspent note.
	unspent := map[money.NoteID]money.Note{}
	var order []money.NoteID // insertion order, so picks replay
	add := func(n money.Note) {
		id := s.n.Network.NoteID(&n)
		unspent[id] = n
		order = append(order, id)
	}
	for i := range 8 {
		add(s.mintIn(i%groups, keys[rng.IntN(len(keys))], uint64(10_00+rng.IntN(90_00))))
	}
	var committed, aborted, crashes int
	defer func() { t.Logf("%d committed, %d not, %d crashes", committed, aborted, crashes) }()
	phases := []shard.Phase{shard.PhaseBegun, shard.PhasePrepared, shard.PhaseDecided, shard.PhaseApplied}
	for step := range steps {
		live := order[:0]
		for _, id := range order {
			if _, ok := unspent[id]; ok {
				live = append(live, id)
			}
		}
		order = live
		// Inputs: one or two unspent notes; outputs: two, to random owners
		// in random groups.
		var ins []money.Note
		var ks []*crypto.PrivateKey
		for _, k := range rng.Perm(len(order))[:min(len(order), 1+rng.IntN(2))] {
			n := unspent[order[k]]
			ins = append(ins, n)
			ks = append(ks, owner[n.Lock.Key])
		}
		var total uint64
		for _, n := range ins {
			total += n.Value
		}
		first := 1 + rng.Uint64N(total-1)
		outs := []money.Output{ledgertest.To(keys[rng.IntN(len(keys))], first), ledgertest.To(keys[rng.IntN(len(keys))], total-first)}
		tx := s.pay(ins, ks, outs, []int{rng.IntN(groups), rng.IntN(groups)})

		crash := rng.IntN(3) // 0 none, 1 the coordinator, 2 a group
		phase := phases[rng.IntN(len(phases))]
		victim := rng.IntN(groups)
		down := -1
		s.crash = func(p shard.Phase, _ int) error {
			if p != phase || crash == 0 {
				return nil
			}
			if crash == 1 {
				crashes++
				return errCrash
			}
			if down < 0 {
				crashes++
				down = victim
				if err := s.groups[down].l().Close(); err != nil {
					t.Error(err)
				}
			}
			return nil
		}
		_, err := s.router.Submit(ctx, tx)
		s.crash = nil
		if down >= 0 {
			s.groups[down].cur.Store(s.openLedger(s.groupDir(down)))
			if rerr := s.coord.Resolve(ctx); rerr != nil {
				t.Fatalf("step %d: resolve: %v", step, rerr)
			}
		}
		if crash == 1 && err != nil {
			s.restartCoordinator()
		}
		switch got := s.outcome(tx); got {
		case applied:
			committed++
			for _, n := range tx.Inputs {
				delete(unspent, s.n.Network.NoteID(&n))
			}
			for _, n := range s.n.Notes(tx) {
				add(n)
			}
		case notApplied:
			aborted++
		default:
			t.Fatalf("step %d (crash %d at %s, group %d): half applied; submit said %v", step, crash, phase, victim, err)
		}
		s.check()
		if held := s.unspentHeld(); held != uint64(len(unspent)) {
			t.Fatalf("step %d: the groups hold %d unspent notes, the model %d", step, held, len(unspent))
		}
		for id := range unspent {
			if ni, err := s.router.Note(ctx, id); err != nil || ni.Status != roles.NoteUnspent {
				t.Fatalf("step %d: note %s: %+v %v", step, id, ni, err)
			}
		}
	}
}
