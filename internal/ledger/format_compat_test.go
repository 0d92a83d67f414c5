package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// testdata/datadir-v1 is a data directory written by the ledger as it was
// before the formats moved to internal/codec (commit d917899): a genesis of
// 40 notes, then 40 batches of mints, transfers and redeems, with the log
// starting at batch 2 and shards 0 and 1 snapshotted after genesis (at 17
// and 33), so opening it reads every format: snapshots, log records and
// their framing, meta, batch bodies and txid locations. datadir-v1.json is
// what that ledger reported before it was closed.
type v1Fixture struct {
	Seed     uint64 `json:"seed"`
	Minted   uint64 `json:"minted"`
	Redeemed uint64 `json:"redeemed"`
	Unspent  uint64 `json:"unspent_notes"`
	Batches  uint64 `json:"batches"`
	Txs      []struct {
		TxID  money.TxID `json:"txid"`
		Batch uint64     `json:"batch"`
		Index uint32     `json:"index"`
		Kind  string     `json:"kind"`
	} `json:"txs"`
	Notes []struct {
		ID    money.NoteID `json:"id"`
		Value uint64       `json:"value"`
	} `json:"unspent"`
	Spent []money.Note `json:"spent"` // genesis notes spent in the first batches
}

// openV1 copies the v1 data directory to a temporary one and opens it.
func openV1(t *testing.T) (*ledger.Ledger, *ledgertest.Net, v1Fixture, string) {
	t.Helper()
	var fx v1Fixture
	b, err := os.ReadFile("testdata/datadir-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/datadir-v1")); err != nil {
		t.Fatal(err)
	}
	// CopyFS keeps no permissions beyond executable bits; the ledger
	// writes into what it opens.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o700)
		}
		return os.Chmod(p, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	n := ledgertest.NewFromSeed(fx.Seed)
	l, err := ledger.Open(dir, n.TestConfig())
	if err != nil {
		t.Fatalf("a data directory of the v1 formats does not open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, n, fx, dir
}

// TestV1DataDirectoryOpens: a data directory written before the formats
// were redrawn opens, reads back the same supply, transactions and notes,
// passes the invariants, and takes new batches that survive a reopen.
func TestV1DataDirectoryOpens(t *testing.T) {
	l, n, fx, dir := openV1(t)
	ctx := context.Background()
	check := func(l *ledger.Ledger, batches uint64) {
		t.Helper()
		s, err := l.Supply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Minted != fx.Minted || s.Redeemed != fx.Redeemed || s.Unspent != fx.Unspent || s.Batches != batches {
			t.Fatalf("supply %+v; the v1 ledger reported minted %d, redeemed %d, %d notes, %d batches", s, fx.Minted, fx.Redeemed, fx.Unspent, fx.Batches)
		}
		for _, want := range fx.Txs {
			info, err := l.Tx(ctx, want.TxID)
			if err != nil {
				t.Fatalf("tx %s: %v", want.TxID, err)
			}
			if info.Header.Seq != want.Batch || info.Index != want.Index || info.Kind != want.Kind {
				t.Fatalf("tx %s: batch %d index %d %s; want batch %d index %d %s", want.TxID, info.Header.Seq, info.Index, info.Kind, want.Batch, want.Index, want.Kind)
			}
			if err := money.VerifyInclusion(want.TxID, uint64(info.Index), uint64(info.Header.TxCount), info.Proof, info.Header.TxRoot); err != nil {
				t.Fatalf("tx %s: %v", want.TxID, err)
			}
		}
		for _, want := range fx.Notes {
			ni, err := l.Note(ctx, want.ID)
			if err != nil || ni.Status != roles.NoteUnspent || ni.Value != want.Value {
				t.Fatalf("note %s: %+v, %v; want unspent holding %d", want.ID, ni, err, want.Value)
			}
		}
		if err := l.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	check(l, fx.Batches)
	k := ledgertest.MustKey()
	if _, err := l.Submit(ctx, n.Mint([]int{0, 2}, ledgertest.To(k, 40))); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := ledger.Open(dir, n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	fx.Minted += 40
	fx.Unspent++
	check(l2, fx.Batches+1)
}

// A txid location damaged in the store (here cut to 3 bytes) is reported
// as internal by the calls that read it, never a panic or a guess: Tx, and
// the explanation of a rejected spend of one of the transaction's notes.
func TestDamagedTxLocationIsInternal(t *testing.T) {
	l, n, fx, dir := openV1(t)
	ctx := context.Background()
	spent := fx.Spent[0]
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Set(append([]byte{'t'}, spent.TxID[:]...), []byte{0, 0, 1})
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = ledger.Open(dir, n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Tx(ctx, spent.TxID); !errcode.Is(err, errcode.Internal) {
		t.Errorf("Tx of a damaged location: %v, want internal", err)
	}
	k := ownerKey()
	spend := n.Spend(money.Transfer, []money.Note{spent}, []*crypto.PrivateKey{k}, ledgertest.To(k, spent.Value))
	if _, err := l.Submit(ctx, spend); !errcode.Is(err, errcode.Internal) {
		t.Errorf("spend of a note whose creator's location is damaged: %v, want internal", err)
	}
}

// ownerKey owns every note of the v1 data directory.
func ownerKey() *crypto.PrivateKey {
	s := sha256.Sum256([]byte("owner"))
	k, err := crypto.KeyFromSeed(s[:])
	if err != nil {
		panic(err)
	}
	return k
}
