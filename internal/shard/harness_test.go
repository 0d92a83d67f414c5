package shard_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

var ctx = context.Background()

// swappable is a group whose ledger a test may close and reopen under a
// running coordinator: a group's crash and restart. With rg set it is a
// replicated group instead (replicated_test.go), each call going to the
// replica that leads.
type swappable struct {
	cur atomic.Pointer[ledger.Ledger]
	rg  *rgroup
}

func (s *swappable) l() *ledger.Ledger { return s.cur.Load() }

// on runs op on the group's ledger, or on a replicated group's leader.
func on[T any](s *swappable, op func(*ledger.Ledger) (T, error)) (T, error) {
	if s.rg != nil {
		return onLeader(s.rg, op)
	}
	return op(s.l())
}

// invariants checks the ledger's invariants, or every running replica's.
func (s *swappable) invariants() error {
	if s.rg == nil {
		return s.l().CheckInvariants()
	}
	for _, m := range s.rg.running() {
		if err := m.led.CheckInvariants(); err != nil {
			return fmt.Errorf("replica %d: %w", m.id, err)
		}
	}
	return nil
}

func (s *swappable) Info(ctx context.Context) (roles.LedgerInfo, error) {
	return on(s, func(l *ledger.Ledger) (roles.LedgerInfo, error) { return l.Info(ctx) })
}
func (s *swappable) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	return on(s, func(l *ledger.Ledger) (roles.Receipt, error) { return l.Submit(ctx, tx) })
}
func (s *swappable) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	return on(s, func(l *ledger.Ledger) ([]roles.Result, error) { return l.SubmitBatch(ctx, txs) })
}
func (s *swappable) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	return on(s, func(l *ledger.Ledger) (roles.TxInfo, error) { return l.Tx(ctx, id) })
}
func (s *swappable) Note(ctx context.Context, id money.NoteID) (roles.NoteInfo, error) {
	return on(s, func(l *ledger.Ledger) (roles.NoteInfo, error) { return l.Note(ctx, id) })
}
func (s *swappable) Supply(ctx context.Context) (roles.LedgerSupply, error) {
	return on(s, func(l *ledger.Ledger) (roles.LedgerSupply, error) { return l.Supply(ctx) })
}
func (s *swappable) Headers(ctx context.Context, from uint64, limit int) ([]money.BatchHeader, error) {
	return on(s, func(l *ledger.Ledger) ([]money.BatchHeader, error) { return l.Headers(ctx, from, limit) })
}
func (s *swappable) Batch(ctx context.Context, seq uint64) (roles.BatchContents, error) {
	return on(s, func(l *ledger.Ledger) (roles.BatchContents, error) { return l.Batch(ctx, seq) })
}
func (s *swappable) SubmitPart(ctx context.Context, p ledger.Part) (roles.Receipt, error) {
	return on(s, func(l *ledger.Ledger) (roles.Receipt, error) { return l.SubmitPart(ctx, p) })
}

// sharded is a network of G groups and a coordinator's log, each a ledger
// on its own data directory, with the money the test minted and redeemed.
type sharded struct {
	t        *testing.T
	n        *ledgertest.Net
	dir      string
	groups   []*swappable
	log      *swappable
	coord    *shard.Coordinator
	router   *shard.Router
	crash    func(shard.Phase, int) error
	minted   uint64
	redeemed uint64
	// elsewhere are notes a test knows another transaction spent (or
	// locked): outcome counts them as given back.
	elsewhere map[money.NoteID]bool
	// nonce draws the nonces mintIn and pay start from: random, or a
	// simulation's seeded generator.
	nonce func() uint64
	// retry is the coordinator's Config.Retry: short for groups that are
	// down until the test restarts them, long enough for an election in a
	// replicated group.
	retry time.Duration
}

func newSharded(t *testing.T, groups int) *sharded {
	t.Helper()
	s := &sharded{t: t, n: ledgertest.New(), dir: t.TempDir(), elsewhere: make(map[money.NoteID]bool), nonce: ledgertest.Nonce, retry: 200 * time.Millisecond}
	s.groups = make([]*swappable, groups)
	for g := range s.groups {
		s.groups[g] = &swappable{}
		s.groups[g].cur.Store(s.openLedger(filepath.Join(s.dir, "group", string(rune('0'+g)))))
	}
	s.log = &swappable{}
	s.log.cur.Store(s.openLedger(filepath.Join(s.dir, "coordinator")))
	s.newCoordinator()
	t.Cleanup(func() {
		for _, g := range s.groups {
			_ = g.l().Close()
		}
		_ = s.log.l().Close()
	})
	return s
}

func (s *sharded) openLedger(dir string) *ledger.Ledger {
	s.t.Helper()
	cfg := s.n.TestConfig()
	cfg.Archive = true
	l, err := ledger.Open(dir, cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

// newCoordinator starts a coordinator over the groups and the log, as a
// restarted coordinator process would, and routes through it.
func (s *sharded) newCoordinator() {
	s.t.Helper()
	gs := make([]shard.Group, len(s.groups))
	for g := range s.groups {
		gs[g] = s.groups[g]
	}
	c, err := shard.NewCoordinator(shard.Config{
		Network: s.n.Network, Log: s.log, Groups: gs, Retry: s.retry,
		Crash: func(p shard.Phase, g int) error {
			if s.crash == nil {
				return nil
			}
			return s.crash(p, g)
		},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.coord, s.router = c, shard.NewRouter(c)
}

// restart closes and reopens a ledger from its directory.
func (s *sharded) restart(w *swappable, dir string) {
	s.t.Helper()
	if err := w.l().Close(); err != nil {
		s.t.Fatal(err)
	}
	w.cur.Store(s.openLedger(dir))
}

func (s *sharded) groupDir(g int) string {
	return filepath.Join(s.dir, "group", string(rune('0'+g)))
}

// restartCoordinator is a crash of the coordinator: its log's ledger is
// closed and reopened from disk, a new coordinator recovers from it.
//
// On replicated groups the log's leader replica crashes with the
// coordinator (they shared a machine) and is restarted from its disk.
func (s *sharded) restartCoordinator() int {
	s.t.Helper()
	s.crash = nil
	if rg := s.log.rg; rg != nil {
		rg.restart(rg.crashLeader())
	} else {
		s.restart(s.log, filepath.Join(s.dir, "coordinator"))
	}
	s.newCoordinator()
	n, err := s.coord.Recover(ctx)
	if err != nil {
		s.t.Fatalf("recover: %v", err)
	}
	return n
}

func (s *sharded) group(id money.NoteID) int { return shard.GroupOf(id, len(s.groups)) }

// mintIn mints v to k as one note that lives in group g.
func (s *sharded) mintIn(g int, k *crypto.PrivateKey, v uint64) money.Note {
	s.t.Helper()
	for nonce := s.nonce(); ; nonce++ {
		tx := &money.Tx{Kind: money.Mint, Nonce: nonce, Outputs: []money.Output{ledgertest.To(k, v)}}
		note := s.n.Notes(tx)[0]
		if s.group(s.n.Network.NoteID(&note)) != g {
			continue
		}
		if _, err := s.router.Submit(ctx, s.n.MintNonce(nonce, []int{0, 1}, ledgertest.To(k, v))); err != nil {
			s.t.Fatalf("mint: %v", err)
		}
		s.minted += v
		return note
	}
}

// pay spends ins (owned by keys) into outs, the i-th output landing in
// group at[i]: the nonce is chosen so.
func (s *sharded) pay(ins []money.Note, keys []*crypto.PrivateKey, outs []money.Output, at []int) *money.Tx {
	s.t.Helper()
	for nonce := s.nonce(); ; nonce++ {
		tx := &money.Tx{Kind: money.Transfer, Nonce: nonce, Inputs: ins, Outputs: outs}
		ok := true
		for i, o := range s.n.Notes(tx) {
			if s.group(s.n.Network.NoteID(&o)) != at[i] {
				ok = false
				break
			}
		}
		if ok {
			ledgertest.SignSpend(s.n.Network, tx, keys)
			return tx
		}
	}
}

// state is what a user can see of a transaction's notes.
type state int

const (
	applied state = iota
	notApplied
	half
)

// outcome says whether tx is applied in every group, in none, or (a bug)
// in some: its inputs spent and outputs unspent, or the reverse; and
// whether any group still holds its lock note.
func (s *sharded) outcome(tx *money.Tx) state {
	s.t.Helper()
	id := s.n.Network.TxID(tx)
	var gone, back, made, absent int
	for i := range tx.Inputs {
		if id := s.n.Network.NoteID(&tx.Inputs[i]); s.elsewhere[id] || s.unspent(id) {
			back++
		} else {
			gone++
		}
	}
	for _, o := range s.n.Notes(tx) {
		if s.unspent(s.n.Network.NoteID(&o)) {
			made++
		} else {
			absent++
		}
	}
	for g := range s.groups {
		if s.unspentIn(g, shard.LockNote(s.n.Network, id)) {
			s.t.Errorf("group %d still holds the lock note of %s", g, id)
			return half
		}
	}
	switch {
	case gone == len(tx.Inputs) && made == len(tx.Outputs):
		return applied
	case back == len(tx.Inputs) && absent == len(tx.Outputs):
		if _, err := s.router.Tx(ctx, id); !errcode.Is(err, errcode.NotFound) {
			s.t.Errorf("transaction %s not applied, yet Tx says %v", id, err)
			return half
		}
		return notApplied
	}
	s.t.Errorf("transaction %s half applied: %d inputs spent, %d back, %d outputs made, %d absent", id, gone, back, made, absent)
	return half
}

func (s *sharded) unspent(id money.NoteID) bool {
	return s.unspentIn(s.group(id), id)
}

func (s *sharded) unspentIn(g int, id money.NoteID) bool {
	s.t.Helper()
	ni, err := s.groups[g].Note(ctx, id)
	if err != nil {
		s.t.Fatalf("note %s: %v", id, err)
	}
	return ni.Status == roles.NoteUnspent
}

// check asserts conservation across groups (the sum of the groups'
// outstanding supply is what the test minted less what it redeemed, and so
// are the router's totals) and every ledger's invariants.
func (s *sharded) check() {
	s.t.Helper()
	var out uint64
	for g, w := range s.groups {
		if err := w.invariants(); err != nil {
			s.t.Fatalf("group %d: %v", g, err)
		}
		gs, err := w.Supply(ctx)
		if err != nil {
			s.t.Fatal(err)
		}
		out += gs.Outstanding
	}
	if err := s.log.invariants(); err != nil {
		s.t.Fatalf("coordinator log: %v", err)
	}
	if out != s.minted-s.redeemed {
		s.t.Fatalf("groups hold %d outstanding; minted %d - redeemed %d = %d", out, s.minted, s.redeemed, s.minted-s.redeemed)
	}
	rs, err := s.router.Supply(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	if rs.Minted != s.minted || rs.Redeemed != s.redeemed || rs.Outstanding != s.minted-s.redeemed {
		s.t.Fatalf("router supply %+v; want minted %d redeemed %d", rs, s.minted, s.redeemed)
	}
}

// supplies is every group's supply, to show that a refusal changed nothing.
func (s *sharded) supplies() []roles.LedgerSupply {
	s.t.Helper()
	var out []roles.LedgerSupply
	for _, w := range append(append([]*swappable{}, s.groups...), s.log) {
		gs, err := w.Supply(ctx)
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, gs)
	}
	return out
}

// unspentHeld is how many unspent notes the groups hold together (lock
// notes included).
func (s *sharded) unspentHeld() uint64 {
	s.t.Helper()
	var held uint64
	for g := range s.groups {
		gs, err := s.groups[g].Supply(ctx)
		if err != nil {
			s.t.Fatal(err)
		}
		held += gs.Unspent
	}
	return held
}
