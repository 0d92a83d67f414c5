package ledger_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// A simulation draws every choice from its seed: the network's and the
// owners' keys, mint nonces, which notes a payment spends and in what
// order, when the ledger restarts or its disk dies. Signatures are
// deterministic (Ed25519), and a lone submitter's batches do not depend on
// timing (SubmitBatch queues a submission whole), so one seed gives the same
// batch headers byte for byte; TestSimulationReplays checks it.

// simSeed is SPECIE_SEED, or a fresh seed; a failing test prints how to
// replay it.
func simSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SPECIE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with SPECIE_SEED=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: replay with SPECIE_SEED=%d go test ./internal/ledger -run '^%s$'", seed, seed, t.Name())
		}
	})
	return seed
}

// TestSimulation drives the ledger with random mints, payments, conflicting
// spends, forged signatures, redeems and restarts from one seed, and checks
// after every step that the ledger agrees with a simple model: the same
// unspent notes, the same totals (conservation), no note spent twice, and
// every transaction all-or-nothing. Set SPECIE_SEED to replay a failure.
func TestSimulation(t *testing.T) {
	seed := simSeed(t)
	steps := 600
	if testing.Short() {
		steps = 40
	}
	s := newSim(t, seed, simOptions{})
	defer s.close()
	s.run(steps)
}

// TestCrashSimulation is TestSimulation on an in-memory disk that crashes:
// at random restarts, and at a random operation on the log in the middle of
// a commit (before the write, between write and fsync, ...). A crash keeps
// what was synced and, as the seed says, nothing or all of what was not; the ledger
// reopens on what is left. Every transaction reported committed before the
// crash survives; one in flight at the crash may or may not, all of it or
// none; nothing rejected ever appears; the invariants hold after every step.
func TestCrashSimulation(t *testing.T) {
	seed := simSeed(t)
	steps := 300
	if testing.Short() {
		steps = 40
	}
	s := newSim(t, seed, simOptions{crash: true})
	defer s.close()
	s.run(steps)
	t.Logf("%d crashes", s.crashes)
}

// TestSimulationReplays runs each kind of simulation twice from one seed and
// checks that both runs wrote the same batch headers, byte for byte; and
// that the check can fail: a run where one key comes from crypto/rand
// differs.
func TestSimulationReplays(t *testing.T) {
	seed := simSeed(t)
	steps := 120
	if testing.Short() {
		steps = 30
	}
	// On in-memory disks: what is replayed is the ledger's decisions, and
	// the OS's fsyncs would only make the test slow.
	for _, opt := range []simOptions{{mem: true}, {crash: true}} {
		a := simHeaders(t, seed, opt, steps)
		b := simHeaders(t, seed, opt, steps)
		if len(a) == 0 {
			t.Fatalf("crash %v: no batches", opt.crash)
		}
		if len(a) != len(b) {
			t.Fatalf("crash %v: %d batches, then %d", opt.crash, len(a), len(b))
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("crash %v: batch %d differs between two runs of one seed:\n%x\n%x", opt.crash, i+1, a[i], b[i])
			}
		}
		opt.leak = true
		c := simHeaders(t, seed, opt, steps)
		if slices.EqualFunc(a, c, bytes.Equal) {
			t.Fatalf("crash %v: a key from crypto/rand did not change the run: the comparison checks nothing", opt.crash)
		}
	}
}

// simHeaders runs a simulation and returns every batch header it wrote,
// encoded field by field.
func simHeaders(t *testing.T, seed uint64, opt simOptions, steps int) [][]byte {
	t.Helper()
	s := newSim(t, seed, opt)
	defer s.close()
	s.run(steps)
	var out [][]byte
	for from := uint64(1); ; {
		hs, err := s.l.Headers(ctx, from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) == 0 {
			return out
		}
		for _, h := range hs {
			b := binary.BigEndian.AppendUint64(nil, h.Seq)
			b = append(b, h.Prev[:]...)
			b = append(b, h.TxRoot[:]...)
			b = binary.BigEndian.AppendUint32(b, h.TxCount)
			b = binary.BigEndian.AppendUint64(b, h.Minted)
			b = binary.BigEndian.AppendUint64(b, h.Redeemed)
			out = append(out, b)
		}
		from = hs[len(hs)-1].Seq + 1
	}
}

type simOptions struct {
	// crash: the ledger lives on a crashable in-memory disk; restarts are
	// crashes, and some commits are cut by a crash part way.
	crash bool
	// leak: one owner key comes from crypto/rand (a control: runs of one
	// seed must then differ).
	leak bool
	// mem: the ledger lives on an in-memory disk that does not crash.
	mem bool
}

type owned struct {
	note money.Note
	key  *crypto.PrivateKey
	esc  *reservation // set for an escrowed note (key is nil): see escrow_sim_test.go
}

type sim struct {
	t        *testing.T
	rng      *rand.Rand
	opt      simOptions
	n        *ledgertest.Net
	dir      string
	cfg      ledger.Config
	l        *ledger.Ledger
	keys     []*crypto.PrivateKey
	unspent  map[money.NoteID]owned // the model
	done     map[money.TxID]bool    // transactions the model has committed
	spent    []owned                // notes the model knows are gone
	minted   uint64
	redeemed uint64
	escrows  map[string]int // escrow steps by label and outcome, for coverage checks

	// crash mode
	mem     *vfs.MemFS // the disk the ledger runs on
	crashes int
	mu      sync.Mutex // guards the fields below, set by the injector in the commit loop
	logOps  int        // writes and syncs of log segments in this step
	crashAt int        // the one of them the disk dies before; -1: none
	after   *vfs.MemFS // the disk as the crash left it
	cut     vfs.CrashCloneCfg
}

func newSim(t *testing.T, seed uint64, opt simOptions) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), opt: opt, unspent: map[money.NoteID]owned{}, done: map[money.TxID]bool{}, crashAt: -1}
	s.n = ledgertest.NewFromSeed(s.rng.Uint64())
	s.cfg = s.n.TestConfig()
	s.cfg.Shards = 1 + s.rng.IntN(32)
	s.cfg.MaxBatch = 1 + s.rng.IntN(64)
	s.dir = t.TempDir()
	if opt.mem {
		s.dir = "/specie"
		s.cfg.FS = vfs.NewMem()
	}
	if opt.crash {
		s.dir = "/specie"
		s.mem = vfs.NewCrashableMem()
		s.cfg.FS = errorfs.Wrap(s.mem, errorfs.InjectorFunc(s.onOp))
	}
	for i := 0; i < 12; i++ {
		s.keys = append(s.keys, ledgertest.KeyFrom(s.rng))
	}
	if opt.leak {
		s.keys[0] = ledgertest.MustKey()
	}
	l, err := ledger.Open(s.dir, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	return s
}

func (s *sim) close() {
	if s.l != nil {
		s.l.Close()
	}
}

func (s *sim) run(steps int) {
	for step := 0; step < steps && !s.t.Failed(); step++ {
		s.step(step)
		if s.t.Failed() {
			return
		}
		s.check(step)
	}
}

// onOp sees every file operation of the ledger in crash mode. The writes
// and syncs of log segments happen in the commit loop before a batch is
// answered, in an order the seed decides; at the chosen one the disk
// "crashes": what it holds then is kept, and the ledger, unaware, goes on
// running on the original until the step ends.
func (s *sim) onOp(op errorfs.Op) error {
	switch op.Kind {
	case errorfs.OpCreate, errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync:
		// Not OpRemove: the log drops segments when a background
		// snapshot is done, whose timing no seed decides.
	default:
		return nil
	}
	if !strings.HasSuffix(op.Path, ".wal") {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logOps == s.crashAt && s.after == nil {
		s.after = s.mem.CrashClone(s.cut)
	}
	s.logOps++
	return nil
}

// crashPlan decides, from the seed, whether this step's disk dies part
// way, and how much unsynced data the crash keeps.
func (s *sim) crashPlan() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logOps, s.crashAt, s.after = 0, -1, nil
	s.cut = s.cutCfg()
	if s.rng.IntN(8) == 0 {
		s.crashAt = s.rng.IntN(4)
	}
}

// cutCfg says what a crash keeps of the data that was not synced: none,
// or all of it. (A share in between is picked by walking Go maps, which
// no seed replays; torn records are the log's own tests' business.)
func (s *sim) cutCfg() vfs.CrashCloneCfg {
	cfg := vfs.CrashCloneCfg{}
	if s.rng.IntN(2) == 0 {
		cfg.UnsyncedDataPercent = 100
		cfg.RNG = rand.New(rand.NewPCG(1, 1)) // consulted, never decisive
	}
	return cfg
}

// restart closes and reopens the ledger; in crash mode it crashes the disk
// instead (after, when not nil, is the disk the crash left).
func (s *sim) restart(step int, after *vfs.MemFS) {
	t := s.t
	if s.opt.crash && after == nil {
		after = s.mem.CrashClone(s.cutCfg())
	}
	// In crash mode the old ledger's files are gone with the old disk:
	// closing it only releases memory.
	if err := s.l.Close(); err != nil && !s.opt.crash {
		t.Fatalf("step %d: close: %v", step, err)
	}
	s.l = nil
	if after != nil {
		s.mem = after
		s.cfg.FS = errorfs.Wrap(s.mem, errorfs.InjectorFunc(s.onOp))
		s.crashes++
	}
	l, err := ledger.Open(s.dir, s.cfg)
	if err != nil {
		t.Fatalf("step %d: reopen: %v", step, err)
	}
	s.l = l
}

func (s *sim) key() *crypto.PrivateKey { return s.keys[s.rng.IntN(len(s.keys))] }

// pick chooses up to k distinct unspent notes from the model, in an order
// the seed decides.
func (s *sim) pick(k int) []owned {
	all := make([]owned, 0, len(s.unspent))
	for _, o := range s.unspent {
		if o.esc == nil { // escrowed notes are spent only by escrow steps
			all = append(all, o)
		}
	}
	// Map order is random; sort first, then shuffle by the seed.
	slices.SortFunc(all, func(a, b owned) int {
		if c := bytes.Compare(a.note.TxID[:], b.note.TxID[:]); c != 0 {
			return c
		}
		return int(a.note.Index) - int(b.note.Index)
	})
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
	// Escrow steps: outEsc[i] is the reservation output i is locked to
	// (nil for a plain output), and want the code a rejection must carry
	// even with every input live (empty: the transaction is valid).
	outEsc []*reservation
	want   errcode.Code
	label  string // what an escrow step tried
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
			keys[0] = s.keys[(slices.Index(s.keys, keys[0])+1)%len(s.keys)]
		}
	}
	p.tx = s.n.Spend(kind, notes, keys, outs...)
	return p
}

func (s *sim) step(step int) {
	t := s.t
	if s.opt.crash {
		s.crashPlan()
	}
	var plan []*planned
	switch r := s.rng.IntN(100); {
	case r < 5:
		s.restart(step, nil)
		return
	case r < 20 || len(s.unspent) < 4:
		k := s.key()
		v := 1 + s.rng.Uint64N(1_000_000)
		tx := s.n.MintNonce(s.rng.Uint64(), []int{0, 1 + s.rng.IntN(2)}, ledgertest.To(k, v))
		plan = []*planned{{tx: tx, outKey: []*crypto.PrivateKey{k}}}
	case r < 35:
		// Reserve, capture, void or refund an escrowed note, or try to
		// spend one without the right keys or too early: one
		// transaction alone, so the model knows its batch number.
		if p := s.escrowStep(step); p != nil {
			plan = []*planned{p}
		}
	default:
		// A batch of payments, some conflicting, some forged, some
		// spending notes already gone, maybe a redeem.
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
			if o := s.spent[s.rng.IntN(len(s.spent))]; o.esc == nil {
				plan = append(plan, &planned{in: []owned{o}, tx: s.n.Spend(money.Transfer, []money.Note{o.note}, []*crypto.PrivateKey{o.key}, ledgertest.To(s.key(), o.note.Value))})
			}
		}
	}
	txs := make([]*money.Tx, len(plan))
	for i, p := range plan {
		txs[i] = p.tx
	}
	rs, err := s.l.SubmitBatch(ctx, txs)
	if err != nil {
		t.Fatalf("step %d: submit batch: %v", step, err)
	}
	s.mu.Lock()
	after := s.after
	s.mu.Unlock()
	if after != nil {
		// The disk died during this step: what the ledger answered
		// came from a process that no longer exists. Reopen on what the
		// crash left, and ask which transactions are there.
		s.restart(step, after)
		rs = make([]roles.Result, len(plan))
		seen := map[money.TxID]bool{}
		for i, p := range plan {
			id := s.n.Network.TxID(p.tx)
			if _, err := s.l.Tx(ctx, id); errcode.Is(err, errcode.NotFound) {
				rs[i].Err = err
			} else if err != nil {
				t.Fatalf("step %d: tx %d after the crash: %v", step, i, err)
			}
			// A transfer has no nonce: one that repeats a committed
			// one (same inputs, same outputs) has its txid, and the
			// ledger answers for the first.
			if s.done[id] || seen[id] {
				rs[i].Err = errcode.New(errcode.DoubleSpend, "repeats a committed transaction")
			}
			seen[id] = true
		}
	}
	// The model: in order, a transaction commits iff it is not forged
	// and all its inputs are still unspent.
	for i, p := range plan {
		ok := !p.forged && p.want == ""
		for _, o := range p.in {
			if _, live := s.unspent[s.n.Network.NoteID(&o.note)]; !live {
				ok = false
			}
		}
		got := rs[i].Err == nil
		if p.label != "" {
			s.countEscrow(p, rs[i].Err)
		}
		switch {
		case after != nil && !got:
			continue // in flight at the crash, and lost with it: allowed
		case got != ok:
			t.Fatalf("step %d tx %d (%s, forged %v, crashed %v): ledger says %v, model says commit=%v", step, i, p.tx.Kind, p.forged, after != nil, rs[i].Err, ok)
		case !ok:
			want := errcode.DoubleSpend
			if p.forged {
				want = errcode.BadSignature
			}
			if p.want != "" {
				want = p.want
			}
			if !errcode.Is(rs[i].Err, want) {
				t.Fatalf("step %d tx %d: %v, want %s", step, i, rs[i].Err, want)
			}
			continue
		}
		s.done[s.n.Network.TxID(p.tx)] = true
		in, out := p.tx.Sums()
		if p.tx.Kind == money.Mint {
			s.minted += out
		}
		s.redeemed += in - min(in, out)
		for _, o := range p.in {
			delete(s.unspent, s.n.Network.NoteID(&o.note))
			s.spent = append(s.spent, o)
		}
		s.addOutputs(p.tx, p.outKey)
		s.markEscrowed(p)
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
