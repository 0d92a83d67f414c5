package ledger_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
)

// memLog is a consensus log for tests (ledger.RecordLog): what it holds
// survives a crash of the ledger's disk, as a raft log synced before apply
// does. commit is how many of its entries it knows are committed.
type memLog struct {
	mu      sync.Mutex
	entries [][]byte
	commit  int
}

func (m *memLog) Replay(fn func(entry []byte, committed bool) error) error {
	m.mu.Lock()
	es, commit := slices.Clone(m.entries), m.commit
	m.mu.Unlock()
	for i, e := range es {
		if err := fn(e, i < commit); err != nil {
			return err
		}
	}
	return nil
}

func (m *memLog) add(e []byte, committed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	if committed {
		m.commit = len(m.entries)
	}
}

// compactTo drops the entries of batches up to seq, as a raft log
// compacted there does.
func (m *memLog) compactTo(t *testing.T, l *ledger.Ledger, seq uint64) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for n < len(m.entries) {
		h, _, err := l.EntryHead(m.entries[n])
		if err != nil {
			t.Fatal(err)
		}
		if h.Seq > seq {
			break
		}
		n++
	}
	m.entries = m.entries[n:]
	m.commit = max(0, m.commit-n)
}

// TestOneLogRecoversFromTheConsensusLog: a replicated ledger with
// Config.Log keeps no log of its own and syncs nothing when it applies a
// batch; its disk is then crashed, keeping only what was synced. On reopen
// it redoes from the consensus log every batch after its snapshots, and
// the one that was committed and logged but never applied (the crash came
// between raft's write and the apply): nothing lost, nothing twice, and
// the uncommitted tail left for raft. The consensus log compacted up to
// Durable is enough; one compacted past it is refused at open.
func TestOneLogRecoversFromTheConsensusLog(t *testing.T) {
	n := ledgertest.NewFromSeed(7)
	base := n.TestConfig()
	base.Archive = true
	base.Shards, base.SnapshotEvery, base.SnapshotSlice = 2, 512, 2<<10

	// A leader makes the records; a reference ledger applies them all.
	a, err := ledger.Open(t.TempDir(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sa := &selfApply{l: a}
	a.Replicate(sa)
	owner := n.Officers[0]
	const batches = 60
	for i := uint64(0); i < batches+2; i++ {
		if _, err := a.Submit(ctx, n.MintNonce(i, []int{0, 1}, ledgertest.To(owner, 10+i))); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := ledger.Open(t.TempDir(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()

	lg := &memLog{}
	mem := vfs.NewCrashableMem()
	cfg := base
	cfg.FS, cfg.Log = mem, lg
	b, err := ledger.Open("/onelog", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range sa.recs[:batches] {
		lg.add(rec, true)
		if _, ok, err := b.ApplyRecord(rec); err != nil || !ok {
			t.Fatalf("batch %d: applied %v, %v", i+1, ok, err)
		}
		if _, ok, err := ref.ApplyRecord(rec); err != nil || !ok {
			t.Fatalf("reference, batch %d: applied %v, %v", i+1, ok, err)
		}
	}
	// Batch 61 is logged and committed, the crash comes before its apply;
	// batch 62 is logged, not known committed.
	lg.add(sa.recs[batches], true)
	lg.add(sa.recs[batches+1], false)
	if _, ok, err := ref.ApplyRecord(sa.recs[batches]); err != nil || !ok {
		t.Fatalf("reference, batch %d: %v %v", batches+1, ok, err)
	}
	d := b.Durable()
	if d == 0 || d >= batches {
		t.Fatalf("durable through batch %d of %d: the snapshots should have passed some and not all", d, batches)
	}
	// The consensus log may drop what the ledger's own files hold.
	lg.compactTo(t, b, d)
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	b.Close()

	cfg.FS = crashed
	b2, err := ledger.Open("/onelog", cfg)
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	defer b2.Close()
	if s, _ := b2.Head(); s != batches+1 {
		t.Fatalf("recovered to batch %d, want %d (the committed, unapplied one, and not the uncommitted one)", s, batches+1)
	}
	_, want := ref.StateHash()
	if _, got := b2.StateHash(); got != want {
		t.Fatal("the recovered state differs from a ledger that applied every committed batch once")
	}
	if err := b2.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= batches+1; seq++ {
		w, err := ref.Batch(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		g, err := b2.Batch(ctx, seq)
		if err != nil || g.Header != w.Header || len(g.Txs) != len(w.Txs) {
			t.Fatalf("batch %d after the crash: %v (archive lost or header differs)", seq, err)
		}
	}
	// Raft's own replay of the committed entries after a restart: every
	// one is held already and skipped.
	_ = lg.Replay(func(e []byte, committed bool) error {
		if !committed {
			return nil
		}
		if seq, ok, err := b2.ApplyRecord(e); ok || err != nil {
			t.Fatalf("batch %d applied a second time (%v)", seq, err)
		}
		return nil
	})
	// The uncommitted entry, once raft commits it, applies once.
	if seq, ok, err := b2.ApplyRecord(sa.recs[batches+1]); !ok || err != nil || seq != batches+2 {
		t.Fatalf("batch %d: %d %v %v", batches+2, seq, ok, err)
	}

	// A ledger whose files were lost, next to a consensus log compacted
	// past batch 1, cannot be rebuilt from it: refused, saying so.
	cfg.FS = vfs.NewMem()
	if l, err := ledger.Open("/onelog", cfg); err == nil {
		l.Close()
		t.Fatal("an empty ledger opened next to a compacted consensus log")
	} else if !strings.Contains(err.Error(), "batch 1 is in no log") {
		t.Fatalf("open on a compacted log: %v", err)
	}
}
