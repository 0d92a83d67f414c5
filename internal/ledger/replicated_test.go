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
