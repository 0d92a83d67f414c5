package ledger_test

import (
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
)

// TestEntriesCatchALedgerUp: the entries a replicated ledger serves from
// its log and archive (what a replica catching up by snapshot fetches)
// bring a fresh ledger to the same header chain, state and archive;
// EntryHead names each batch and chains their hashes; ranges the ledger
// does not hold are refused with not_found; maxBytes bounds one answer.
func TestEntriesCatchALedgerUp(t *testing.T) {
	n := ledgertest.NewFromSeed(5)
	cfg := n.TestConfig()
	cfg.Archive = true
	a, err := ledger.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Replicate(&selfApply{l: a})
	owner := n.Officers[0]
	const batches = 8
	for i := uint64(0); i < batches; i++ {
		if _, err := a.Submit(ctx, n.MintNonce(i, []int{0, 1}, ledgertest.To(owner, 10+i))); err != nil {
			t.Fatal(err)
		}
	}
	var ents [][]byte
	got, err := a.Entries(1, batches, 64<<20, func(seq uint64, e []byte) error {
		h, _, err := a.EntryHead(e)
		if err != nil || h.Seq != seq {
			t.Fatalf("entry %d: header %d, %v", seq, h.Seq, err)
		}
		ents = append(ents, append([]byte(nil), e...))
		return nil
	})
	if err != nil || got != batches || len(ents) != batches {
		t.Fatalf("entries: %d, %v", got, err)
	}
	hs, err := a.Headers(ctx, 1, batches)
	if err != nil {
		t.Fatal(err)
	}
	var prev money.Hash
	for i, e := range ents {
		h, hash, err := a.EntryHead(e)
		if err != nil || h != hs[i] || h.Prev != prev {
			t.Fatalf("entry %d: header %+v, want %+v (%v)", i+1, h, hs[i], err)
		}
		prev = hash
		if _, _, err := a.EntryHead(e[:len(e)-1]); err == nil {
			t.Fatalf("entry %d cut short decodes", i+1)
		}
	}
	if _, head := a.Head(); prev != head {
		t.Fatal("the entries' hashes do not chain to the head")
	}

	b, err := ledger.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, e := range ents {
		if seq, ok, err := b.ApplyRecord(e); err != nil || !ok || seq != uint64(i+1) {
			t.Fatalf("apply entry %d: %d %v %v", i+1, seq, ok, err)
		}
	}
	sa, ha := a.StateHash()
	sb, hb := b.StateHash()
	if sa != sb || ha != hb {
		t.Fatalf("state after the entries: %d %x, want %d %x", sb, hb, sa, ha)
	}
	for seq := uint64(1); seq <= batches; seq++ {
		if bc, err := b.Batch(ctx, seq); err != nil || len(bc.Txs) != 1 {
			t.Fatalf("batch %d not archived on the caught-up ledger: %v", seq, err)
		}
	}

	// One entry at most when maxBytes is tiny: the receiver asks again.
	if got, err := a.Entries(3, batches, 1, func(uint64, []byte) error { return nil }); err != nil || got != 1 {
		t.Fatalf("entries with maxBytes 1: %d, %v", got, err)
	}
	for _, tc := range []struct {
		name     string
		from, to uint64
	}{
		{"from 0", 0, 2},
		{"to before from", 5, 4},
		{"past the head", 1, batches + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			_, err := a.Entries(tc.from, tc.to, 1<<20, func(uint64, []byte) error { called = true; return nil })
			if !errcode.Is(err, errcode.NotFound) || called {
				t.Fatalf("got %v (called %v), want not_found", err, called)
			}
		})
	}
}

// TestEntriesBehindTheLogRefused: once the ledger's shard snapshots have
// let it drop the start of its log, the batches behind are not served
// (not_found, saying where the log starts), while those after still are.
func TestEntriesBehindTheLogRefused(t *testing.T) {
	n := ledgertest.NewFromSeed(6)
	cfg := n.TestConfig()
	cfg.LogSegmentBytes = 1 << 10
	cfg.SnapshotEvery = 1 << 10
	a, err := ledger.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Replicate(&selfApply{l: a})
	owner := n.Officers[0]
	dropped := false
	for i := uint64(0); i < 2000 && !dropped; i++ {
		if _, err := a.Submit(ctx, n.MintNonce(i, []int{0, 1}, ledgertest.To(owner, 10+i))); err != nil {
			t.Fatal(err)
		}
		_, err := a.Entries(1, 1, 1<<20, func(uint64, []byte) error { return nil })
		dropped = err != nil
		if dropped && (!errcode.Is(err, errcode.NotFound) || !strings.Contains(err.Error(), "log starts at batch")) {
			t.Fatalf("batch 1 behind the log: %v", err)
		}
	}
	if !dropped {
		t.Fatal("the log was never cut behind a snapshot")
	}
	seq, _ := a.Head()
	if got, err := a.Entries(seq, seq, 1<<20, func(uint64, []byte) error { return nil }); err != nil || got != 1 {
		t.Fatalf("the head batch: %d, %v", got, err)
	}
}
