package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestSimulation drives the ledger with random mints, payments, conflicting
// spends, forged signatures, redeems and restarts from one seed, and checks
// after every step that the ledger agrees with a simple model: the same
// unspent notes, the same totals (conservation), no note spent twice, and
// every transaction all-or-nothing. Set SPECIE_SEED to replay a failure.
func TestSimulation(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SPECIE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	steps := 600
	if testing.Short() {
		steps = 40
	}
	t.Logf("seed %d (replay with SPECIE_SEED=%d)", seed, seed)
	defer func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: replay with SPECIE_SEED=%d go test ./internal/ledger -run TestSimulation", seed, seed)
		}
	}()
	sim := newSim(t, seed)
	defer func() { sim.l.Close() }()
	for step := 0; step < steps; step++ {
		sim.step(step)
		if t.Failed() {
			return
		}
		sim.check(step)
		if t.Failed() {
			return
		}
	}
}

type owned struct {
	note money.Note
	key  *crypto.PrivateKey
}

type sim struct {
	t        *testing.T
	rng      *rand.Rand
	n        *ledgertest.Net
	dir      string
	l        *ledger.Ledger
	keys     []*crypto.PrivateKey
	unspent  map[money.NoteID]owned // the model
	spent    []owned                // notes the model knows are gone
	minted   uint64
	redeemed uint64
}

func newSim(t *testing.T, seed uint64) *sim {
	n := ledgertest.New()
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), n: n, dir: t.TempDir(), unspent: map[money.NoteID]owned{}}
	cfg := n.TestConfig()
	cfg.Shards = 1 + s.rng.IntN(32)
	cfg.MaxBatch = 1 + s.rng.IntN(64)
	l, err := ledger.Open(s.dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	for i := 0; i < 12; i++ {
		s.keys = append(s.keys, ledgertest.MustKey())
	}
	return s
}

func (s *sim) key() *crypto.PrivateKey { return s.keys[s.rng.IntN(len(s.keys))] }

// pick removes nothing; it chooses up to k distinct unspent notes from the model.
func (s *sim) pick(k int) []owned {
	var all []owned
	for _, o := range s.unspent {
		all = append(all, o)
	}
	// Map order is random; sort for determinism under the seed.
	sortOwned(all)
	s.rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if len(all) > k {
		all = all[:k]
	}
	return all
}

// split divides total into up to k positive parts.
func (s *sim) split(total uint64, k int) []uint64 {
	if total < uint64(k) {
		k = int(total)
	}
	parts := make([]uint64, 0, k)
	for i := 0; i < k-1; i++ {
		p := 1 + s.rng.Uint64N(total-uint64(k-1-i))
		if p >= total {
			break
		}
		parts = append(parts, p)
		total -= p
	}
	return append(parts, total)
}

type planned struct {
	tx     *money.Tx
	in     []owned
	outKey []*crypto.PrivateKey
	forged bool
}

func (s *sim) transfer(kind money.Kind, forge bool) *planned {
	in := s.pick(1 + s.rng.IntN(3))
	if len(in) == 0 {
		return nil
	}
	var total uint64
	notes := make([]money.Note, len(in))
	keys := make([]*crypto.PrivateKey, len(in))
	for i, o := range in {
		total += o.note.Value
		notes[i] = o.note
		keys[i] = o.key
	}
	if kind == money.Redeem {
		if total < 2 {
			return nil
		}
		total -= 1 + s.rng.Uint64N(total-1)
	}
	p := &planned{in: in, forged: forge}
	var outs []money.Output
	if total > 0 {
		for _, v := range s.split(total, 1+s.rng.IntN(3)) {
			k := s.key()
			p.outKey = append(p.outKey, k)
			outs = append(outs, ledgertest.To(k, v))
		}
	}
	if forge {
		keys[0] = s.key()
		if keys[0] == in[0].key {
			keys[0] = ledgertest.MustKey()
		}
	}
	p.tx = s.n.Spend(kind, notes, keys, outs...)
	return p
}

func (s *sim) step(step int) {
	t := s.t
	switch r := s.rng.IntN(100); {
	case r < 5:
		if err := s.l.Close(); err != nil {
			t.Fatalf("step %d: close: %v", step, err)
		}
		l, err := ledger.Open(s.dir, s.l.Config())
		if err != nil {
			t.Fatalf("step %d: reopen: %v", step, err)
		}
		s.l = l
	case r < 20 || len(s.unspent) < 4:
		k := s.key()
		v := 1 + s.rng.Uint64N(1_000_000)
		tx := s.n.Mint([]int{0, 1 + s.rng.IntN(2)}, ledgertest.To(k, v))
		if _, err := s.l.Submit(ctx, tx); err != nil {
			t.Fatalf("step %d: mint: %v", step, err)
		}
		s.minted += v
		s.addOutputs(tx, []*crypto.PrivateKey{k})
	default:
		// A batch of payments, some conflicting, some forged, some
		// spending notes already gone, maybe a redeem.
		var plan []*planned
		for i := 0; i < 1+s.rng.IntN(12); i++ {
			kind := money.Transfer
			if s.rng.IntN(10) == 0 {
				kind = money.Redeem
			}
			if p := s.transfer(kind, s.rng.IntN(12) == 0); p != nil {
				plan = append(plan, p)
			}
		}
		if len(s.spent) > 0 && s.rng.IntN(4) == 0 {
			o := s.spent[s.rng.IntN(len(s.spent))]
			plan = append(plan, &planned{in: []owned{o}, tx: s.n.Spend(money.Transfer, []money.Note{o.note}, []*crypto.PrivateKey{o.key}, ledgertest.To(s.key(), o.note.Value))})
		}
		txs := make([]*money.Tx, len(plan))
		for i, p := range plan {
			txs[i] = p.tx
		}
		rs, err := s.l.SubmitBatch(ctx, txs)
		if err != nil {
			t.Fatalf("step %d: submit batch: %v", step, err)
		}
		// The model: in order, a transaction commits iff it is not forged
		// and all its inputs are still unspent.
		for i, p := range plan {
			ok := !p.forged
			for _, o := range p.in {
				if _, live := s.unspent[s.n.Network.NoteID(&o.note)]; !live {
					ok = false
				}
			}
			got := rs[i].Err == nil
			if got != ok {
				t.Fatalf("step %d tx %d (%s, forged %v): ledger says %v, model says commit=%v", step, i, p.tx.Kind, p.forged, rs[i].Err, ok)
			}
			if !ok {
				want := errcode.DoubleSpend
				if p.forged {
					want = errcode.BadSignature
				}
				if !errcode.Is(rs[i].Err, want) {
					t.Fatalf("step %d tx %d: %v, want %s", step, i, rs[i].Err, want)
				}
				continue
			}
			in, out := p.tx.Sums()
			s.redeemed += in - out
			for _, o := range p.in {
				delete(s.unspent, s.n.Network.NoteID(&o.note))
				s.spent = append(s.spent, o)
			}
			s.addOutputs(p.tx, p.outKey)
		}
	}
}

func (s *sim) addOutputs(tx *money.Tx, keys []*crypto.PrivateKey) {
	for i, n := range s.n.Notes(tx) {
		s.unspent[s.n.Network.NoteID(&n)] = owned{note: n, key: keys[i]}
	}
}

func (s *sim) check(step int) {
	t := s.t
	sup, _ := s.l.Supply(ctx)
	var sum uint64
	for id, o := range s.unspent {
		sum += o.note.Value
		ni, err := s.l.Note(ctx, id)
		if err != nil || ni.Status != roles.NoteUnspent || ni.Value != o.note.Value {
			t.Fatalf("step %d: note %s: %+v %v", step, id, ni, err)
		}
	}
	for _, o := range s.spent {
		if ni, _ := s.l.Note(ctx, s.n.Network.NoteID(&o.note)); ni.Status == roles.NoteUnspent {
			t.Fatalf("step %d: spent note is unspent again", step)
		}
	}
	want := roles.LedgerSupply{Minted: s.minted, Redeemed: s.redeemed, Outstanding: s.minted - s.redeemed, Unspent: uint64(len(s.unspent)), Batches: sup.Batches}
	if sup != want || sum != sup.Outstanding {
		t.Fatalf("step %d: supply %+v, model %+v (model sum %d)", step, sup, want, sum)
	}
	if err := s.l.CheckInvariants(); err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
}

func sortOwned(o []owned) {
	less := func(a, b owned) bool {
		return fmt.Sprint(a.note.TxID, a.note.Index) < fmt.Sprint(b.note.TxID, b.note.Index)
	}
	for i := 1; i < len(o); i++ {
		for j := i; j > 0 && less(o[j], o[j-1]); j-- {
			o[j], o[j-1] = o[j-1], o[j]
		}
	}
}
