package ledger_test

import (
	"fmt"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
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
	if e.FromBatch != sup.Batches+1 {
		t.Fatalf("epoch from batch %d, want the next batch %d", e.FromBatch, sup.Batches+1)
	}
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
