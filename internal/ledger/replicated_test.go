package ledger_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
)

// selfApply is the consensus of a group of one, for tests: a proposed
// record is applied at once, and kept so that other ledgers can be fed the
// same log.
type selfApply struct {
	l    *ledger.Ledger
	mu   sync.Mutex
	recs [][]byte
}

func (s *selfApply) Lead() error { return nil }

func (s *selfApply) Propose(rec []byte, _ <-chan struct{}) (uint64, error) {
	s.mu.Lock()
	s.recs = append(s.recs, slices.Clone(rec))
	s.mu.Unlock()
	seq, ok, err := s.l.ApplyRecord(rec)
	if err != nil || !ok {
		return 0, errcode.New(errcode.Internal, "apply own record: applied %v, %v", ok, err)
	}
	return seq, nil
}

// TestApplyRecordReplaysALog feeds the records a replicated ledger
// committed to a fresh ledger: it reaches the same header chain and state;
// a record it already holds is skipped; and a ledger fed a record that does
// not follow its last batch stops instead of building on it.
func TestApplyRecordReplaysALog(t *testing.T) {
	n := ledgertest.NewFromSeed(3)
	a := open(t, n, t.TempDir())
	defer a.Close()
	sa := &selfApply{l: a}
	a.Replicate(sa)
	owner := n.Officers[0]
	for i := uint64(0); i < 5; i++ {
		if _, err := a.Submit(ctx, n.MintNonce(i, []int{0, 1}, ledgertest.To(owner, 10+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Genesis(1, nil, nil); err == nil {
		t.Fatal("genesis accepted on a replicated ledger")
	}
	if len(sa.recs) != 5 {
		t.Fatalf("%d records proposed, want 5", len(sa.recs))
	}

	b := open(t, n, t.TempDir())
	defer b.Close()
	for i, rec := range sa.recs {
		seq, ok, err := b.ApplyRecord(rec)
		if err != nil || !ok || seq != uint64(i+1) {
			t.Fatalf("record %d: seq %d applied %v, %v", i+1, seq, ok, err)
		}
		// The same record again (a replay after a restart) is skipped.
		if _, ok, err := b.ApplyRecord(rec); ok || err != nil {
			t.Fatalf("record %d again: applied %v, %v", i+1, ok, err)
		}
	}
	sa1, ha := a.StateHash()
	sb1, hb := b.StateHash()
	if sa1 != 5 || sb1 != 5 || ha != hb {
		t.Fatalf("state: %d %x vs %d %x", sa1, ha, sb1, hb)
	}
	if err := b.CheckInvariants(); err != nil {
		t.Fatal(err)
	}

	c := open(t, n, t.TempDir())
	defer c.Close()
	if _, _, err := c.ApplyRecord(sa.recs[1]); err == nil {
		t.Fatal("batch 2 applied to an empty ledger")
	}
	if err := c.Health(ctx); !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("health after a record that does not follow: %v, want unavailable", err)
	}
	if _, _, err := c.ApplyRecord([]byte{1, 2, 3}); err == nil {
		t.Fatal("garbage applied")
	}
}

// TestApplyRecordArchives: a replicated ledger with Config.Archive
// proposes each batch's archive entry with its record. A replica with the
// archive applies it and serves every batch in full, identical to the
// leader's, also after a restart (its own log holds the bare records); a
// replica without the archive applies the same entries and serves none;
// and bare records (a leader without the archive, or a raft log from
// before) still apply on a replica with it, whose Batch then has nothing
// to serve.
func TestApplyRecordArchives(t *testing.T) {
	n := ledgertest.NewFromSeed(4)
	withArchive := func(dir string) *ledger.Ledger {
		t.Helper()
		cfg := n.TestConfig()
		cfg.Archive = true
		l, err := ledger.Open(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := withArchive(t.TempDir())
	defer a.Close()
	sa := &selfApply{l: a}
	a.Replicate(sa)
	owner := n.Officers[0]
	for i := uint64(0); i < 4; i++ {
		if _, err := a.Submit(ctx, n.MintNonce(i, []int{0, 1}, ledgertest.To(owner, 10+i))); err != nil {
			t.Fatal(err)
		}
	}
	same := func(what string, l *ledger.Ledger) {
		t.Helper()
		for seq := uint64(1); seq <= 4; seq++ {
			want, err := a.Batch(ctx, seq)
			if err != nil {
				t.Fatalf("leader: batch %d: %v", seq, err)
			}
			got, err := l.Batch(ctx, seq)
			if err != nil {
				t.Fatalf("%s: batch %d: %v", what, seq, err)
			}
			if got.Header != want.Header || len(got.Txs) != len(want.Txs) || len(got.Txs) == 0 {
				t.Fatalf("%s: batch %d differs from the leader's", what, seq)
			}
			for i := range got.Txs {
				if string(got.Txs[i]) != string(want.Txs[i]) {
					t.Fatalf("%s: batch %d tx %d differs from the leader's", what, seq, i)
				}
			}
		}
	}

	dir := t.TempDir()
	b := withArchive(dir)
	for i, rec := range sa.recs {
		if _, ok, err := b.ApplyRecord(rec); err != nil || !ok {
			t.Fatalf("entry %d: applied %v, %v", i+1, ok, err)
		}
	}
	same("replica", b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = withArchive(dir)
	defer b.Close()
	same("replica after a restart", b)
	for _, rec := range sa.recs {
		if _, ok, err := b.ApplyRecord(rec); ok || err != nil {
			t.Fatalf("replayed entry: applied %v, %v", ok, err)
		}
	}
	_, ha := a.StateHash()
	_, hb := b.StateHash()
	if ha != hb {
		t.Fatal("the replica's state differs from the leader's")
	}

	c := open(t, n, t.TempDir())
	defer c.Close()
	for i, rec := range sa.recs {
		if _, ok, err := c.ApplyRecord(rec); err != nil || !ok {
			t.Fatalf("entry %d without the archive: applied %v, %v", i+1, ok, err)
		}
	}
	if _, err := c.Batch(ctx, 1); errcode.Of(err) != errcode.NotFound {
		t.Fatalf("batch on a replica without the archive: %v, want not_found", err)
	}
	if _, hc := c.StateHash(); hc != ha {
		t.Fatal("a replica without the archive reached another state")
	}

	plain := open(t, n, t.TempDir())
	defer plain.Close()
	sp := &selfApply{l: plain}
	plain.Replicate(sp)
	if _, err := plain.Submit(ctx, n.MintNonce(0, []int{0, 1}, ledgertest.To(owner, 10))); err != nil {
		t.Fatal(err)
	}
	d := withArchive(t.TempDir())
	defer d.Close()
	if _, ok, err := d.ApplyRecord(sp.recs[0]); err != nil || !ok {
		t.Fatalf("a bare record on a replica with the archive: applied %v, %v", ok, err)
	}
	if _, err := d.Batch(ctx, 1); errcode.Of(err) != errcode.NotFound {
		t.Fatalf("batch of a bare record: %v, want not_found", err)
	}
}
