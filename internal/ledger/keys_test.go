package ledger_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// mintBy is a mint of value to owner approved by keys.
func mintBy(n *ledgertest.Net, owner *crypto.PrivateKey, value uint64, keys ...*crypto.PrivateKey) *money.Tx {
	tx := &money.Tx{Kind: money.Mint, Nonce: ledgertest.Nonce(), Outputs: []money.Output{ledgertest.To(owner, value)}}
	id := n.Network.TxID(tx)
	for _, k := range keys {
		tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, n.Network.ID, id)})
	}
	ledgertest.SortAuth(tx)
	return tx
}

// signedSet is next approved by keys.
func signedSet(t *testing.T, next policy.KeySet, keys ...*crypto.PrivateKey) policy.SignedKeySet {
	t.Helper()
	s := policy.SignedKeySet{KeySet: next}
	for _, k := range keys {
		a, err := policy.SignKeySet(&next, k)
		if err != nil {
			t.Fatal(err)
		}
		s.Approvals = append(s.Approvals, a)
	}
	return s
}

// TestRotateMintKeys: the ledger applies a new officer key set only with
// the quorum of the set in force, from its next batch on; a refused
// rotation changes nothing; after it a mint approved with the replaced key
// is refused and one with the new key commits, also after a restart; the
// same rotation again answers the same epoch.
func TestRotateMintKeys(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	owner, fresh := ledgertest.MustKey(), ledgertest.MustKey()
	o := n.Officers
	mustSubmit(t, l, mintBy(n, owner, 100, o[0], o[1]))

	next := policy.KeySet{Network: n.Network.ID, Version: 2, Quorum: 2, Keys: []crypto.PublicKey{fresh.Public(), o[1].Public(), o[2].Public()}}
	skip := next
	skip.Version = 3
	other := next
	other.Network = "other"
	forged := signedSet(t, next, o[0], o[1])
	forged.Approvals[0].Sig[0] ^= 1
	for _, c := range []struct {
		name string
		s    policy.SignedKeySet
		want errcode.Code
	}{
		{"one approval", signedSet(t, next, o[0]), errcode.Unauthorized},
		{"approved by the new key", signedSet(t, next, fresh, o[1]), errcode.Unauthorized},
		{"a forged approval", forged, errcode.Unauthorized},
		{"skips a version", signedSet(t, skip, o[0], o[1]), errcode.Conflict},
		{"the founding version", signedSet(t, policy.KeySet{Network: n.Network.ID, Version: 1, Quorum: 1, Keys: []crypto.PublicKey{fresh.Public()}}, o[0], o[1]), errcode.Conflict},
		{"another network", signedSet(t, other, o[0], o[1]), errcode.Unauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snap(t, l)
			_, err := l.RotateMintKeys(ctx, c.s)
			if !errcode.Is(err, c.want) {
				t.Fatalf("got %v, want %s", err, c.want)
			}
			info, _ := l.Info(ctx)
			if len(info.KeySets) != 0 || fmt.Sprint(snap(t, l)) != fmt.Sprint(before) {
				t.Fatalf("a refused rotation changed the ledger: %+v", info.KeySets)
			}
			// The founding set still mints.
			mustSubmit(t, l, mintBy(n, owner, 1, o[0], o[2]))
		})
	}

	s := signedSet(t, next, o[0], o[2])
	sup, _ := l.Supply(ctx)
	e, err := l.RotateMintKeys(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if e.Batch != sup.Batches+1 || e.FromBatch != sup.Batches+2 {
		t.Fatalf("rotation in batch %d from batch %d, want the next batch %d, from the one after", e.Batch, e.FromBatch, sup.Batches+1)
	}
	rotationInLog(t, l, n, e)
	check := func(when string) {
		t.Helper()
		before := snap(t, l)
		for name, tx := range map[string]*money.Tx{
			"replaced key":       mintBy(n, owner, 5, o[0], o[1]),
			"one key of the set": mintBy(n, owner, 5, fresh),
		} {
			if _, err := l.Submit(ctx, tx); !errcode.Is(err, errcode.Unauthorized) {
				t.Fatalf("%s: mint by the %s: %v, want unauthorized", when, name, err)
			}
		}
		if fmt.Sprint(snap(t, l)) != fmt.Sprint(before) {
			t.Fatalf("%s: a refused mint changed the ledger", when)
		}
		mustSubmit(t, l, mintBy(n, owner, 7, fresh, o[2]))
		info, err := l.Info(ctx)
		if err != nil || len(info.KeySets) != 1 || info.KeySets[0].FromBatch != e.FromBatch {
			t.Fatalf("%s: info key sets %+v, %v", when, info.KeySets, err)
		}
		if err := info.KeySets[0].KeySet.Verify(&policy.KeySet{Network: n.Network.ID, Version: 1, Keys: info.MintKeys, Quorum: info.MintQuorum}); err != nil {
			t.Fatalf("%s: the served rotation does not verify against the founding keys: %v", when, err)
		}
	}
	check("after the rotation")
	if again, err := l.RotateMintKeys(ctx, s); err != nil || again.FromBatch != e.FromBatch {
		t.Fatalf("the same rotation again: %+v, %v", again, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, n, dir)
	defer l.Close()
	check("after a restart")
}

// rotationInLog checks that rotation e is a batch of the log: the batch serves
// its rotation record, which is the set rotated to; the batch's header
// chains to the one before it; its one Merkle leaf is the rotation's ID,
// with an inclusion proof as for any transaction; the totals did not
// move; and the ledger's own invariants hold.
func rotationInLog(t *testing.T, l *ledger.Ledger, n *ledgertest.Net, e roles.KeyEpoch) {
	t.Helper()
	b, err := l.Batch(ctx, e.Batch)
	if err != nil {
		t.Fatalf("rotation batch %d: %v", e.Batch, err)
	}
	var s policy.SignedKeySet
	if err := s.UnmarshalBinary(b.KeySet); err != nil || s.KeySet.Hash() != e.KeySet.KeySet.Hash() || len(b.Txs) != 0 {
		t.Fatalf("rotation batch %d serves %+v (%d txs), %v", e.Batch, s, len(b.Txs), err)
	}
	var prev *money.BatchHeader // nil: the rotation is batch 1
	if e.Batch > 1 {
		hs, err := l.Headers(ctx, e.Batch-1, 1)
		if err != nil || len(hs) != 1 {
			t.Fatalf("header %d: %+v, %v", e.Batch-1, hs, err)
		}
		prev = &hs[0]
	}
	if err := n.Network.VerifyNext(prev, &b.Header); err != nil {
		t.Fatalf("rotation batch %d does not chain: %v", e.Batch, err)
	}
	if prev != nil && (b.Header.Minted != prev.Minted || b.Header.Redeemed != prev.Redeemed) {
		t.Fatalf("rotation batch moved the totals: %+v after %+v", b.Header, *prev)
	}
	if hs, err := l.Headers(ctx, e.Batch, 1); err != nil || len(hs) != 1 || hs[0] != b.Header {
		t.Fatalf("the header route serves batch %d otherwise: %+v, %v", e.Batch, hs, err)
	}
	id := money.TxID(policy.RotationID(b.KeySet))
	info, err := l.Tx(ctx, id)
	if err != nil || info.Kind != "key_set" || info.Header != b.Header {
		t.Fatalf("rotation %s by its ID: %+v, %v", id, info, err)
	}
	if err := info.Header.VerifyInclusion(info.TxID, info.Index, info.Proof); err != nil {
		t.Fatalf("rotation's inclusion proof: %v", err)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestRotationSurvivesTheLogCut: a rotation, then enough batches that the
// log behind the snapshots is cut past it; after a restart the set in
// force is still the rotated one (a mint by the replaced key is refused,
// one by the new set commits), rebuilt from the store's copy of the
// rotation batch, and the rotation is still served and verifies.
func TestRotationSurvivesTheLogCut(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	cfg := n.TestConfig()
	cfg.Shards, cfg.SnapshotEvery, cfg.LogSegmentBytes = 2, 4<<10, 8<<10
	l, err := ledger.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := n.Officers
	owner, fresh := ledgertest.MustKey(), ledgertest.MustKey()
	mustSubmit(t, l, mintBy(n, owner, 100, o[0], o[1]))
	next := policy.KeySet{Network: n.Network.ID, Version: 2, Quorum: 2, Keys: []crypto.PublicKey{fresh.Public(), o[1].Public(), o[2].Public()}}
	e, err := l.RotateMintKeys(ctx, signedSet(t, next, o[0], o[1]))
	if err != nil || e.Batch != 2 {
		t.Fatalf("rotate: %+v, %v", e, err)
	}
	for range 200 {
		mustSubmit(t, l, mintBy(n, owner, 1, fresh, o[2]))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "wal")); err != nil {
		t.Fatal(err)
	}
	l, err = ledger.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Entries(2, 2, 1<<20, func(uint64, []byte) error { return nil }); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("the log still holds the rotation batch (%v): the test did not cut it", err)
	}
	before := snap(t, l)
	if _, err := l.Submit(ctx, mintBy(n, owner, 5, o[0], o[1])); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("mint by the replaced key after the restart: %v, want unauthorized", err)
	}
	if fmt.Sprint(snap(t, l)) != fmt.Sprint(before) {
		t.Fatal("a refused mint changed the ledger")
	}
	mustSubmit(t, l, mintBy(n, owner, 5, fresh, o[1]))
	info, _ := l.Info(ctx)
	if len(info.KeySets) != 1 || info.KeySets[0].Batch != 2 || info.KeySets[0].FromBatch != 3 {
		t.Fatalf("key sets after the restart: %+v", info.KeySets)
	}
	rotationInLog(t, l, n, info.KeySets[0])
}

// TestEpochsBesideTheLogStillOpen: a store written before rotations were
// batches holds its epochs beside the log (prefix 'k', JSON). It still
// opens: the epoch is verified and applied (served with Batch 0: not in
// the log), a mint by the replaced key is refused, and the next rotation,
// approved by that epoch's quorum, commits as a batch of the log.
func TestEpochsBesideTheLogStillOpen(t *testing.T) {
	n := ledgertest.New()
	dir := t.TempDir()
	l := open(t, n, dir)
	o := n.Officers
	owner, fresh, fresher := ledgertest.MustKey(), ledgertest.MustKey(), ledgertest.MustKey()
	mustSubmit(t, l, mintBy(n, owner, 100, o[0], o[1]))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	v2 := policy.KeySet{Network: n.Network.ID, Version: 2, Quorum: 2, Keys: []crypto.PublicKey{fresh.Public(), o[1].Public(), o[2].Public()}}
	old := roles.KeyEpoch{FromBatch: 2, KeySet: signedSet(t, v2, o[0], o[1])}
	v, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Set(binary.BigEndian.AppendUint64([]byte{'k'}, 2), v)
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, n, dir)
	defer l.Close()
	info, _ := l.Info(ctx)
	if len(info.KeySets) != 1 || info.KeySets[0].Batch != 0 || info.KeySets[0].FromBatch != 2 {
		t.Fatalf("key sets of the old store: %+v", info.KeySets)
	}
	if _, err := l.Submit(ctx, mintBy(n, owner, 5, o[0], o[1])); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("mint by the replaced key: %v, want unauthorized", err)
	}
	v3 := policy.KeySet{Network: n.Network.ID, Version: 3, Quorum: 2, Keys: []crypto.PublicKey{fresh.Public(), fresher.Public(), o[2].Public()}}
	e, err := l.RotateMintKeys(ctx, signedSet(t, v3, fresh, o[2]))
	if err != nil || e.Batch != 2 {
		t.Fatalf("the next rotation: %+v, %v", e, err)
	}
	rotationInLog(t, l, n, e)
	mustSubmit(t, l, mintBy(n, owner, 5, fresher, o[2]))
}
