package shard_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// RotateMintKeys makes a test group a roles.KeyRotator, as a ledger is.
func (s *swappable) RotateMintKeys(ctx context.Context, k policy.SignedKeySet) (roles.KeyEpoch, error) {
	return s.l().RotateMintKeys(ctx, k)
}

// nextKeySet is version 2 of the test network's officer keys: officer 0's
// key replaced by fresh, approved by officers 1 and 2.
func nextKeySet(t *testing.T, s *sharded, fresh *crypto.PrivateKey) policy.SignedKeySet {
	t.Helper()
	next := policy.KeySet{Network: s.n.Network.ID, Version: 2, Quorum: 2}
	for _, k := range s.n.Officers {
		next.Keys = append(next.Keys, k.Public())
	}
	next.Keys[0] = fresh.Public()
	out := policy.SignedKeySet{KeySet: next}
	for _, k := range s.n.Officers[1:] {
		a, err := policy.SignKeySet(&next, k)
		if err != nil {
			t.Fatal(err)
		}
		out.Approvals = append(out.Approvals, a)
	}
	return out
}

// keyVersion is the officer key set version a log applies now.
func keyVersion(t *testing.T, l roles.Ledger) uint64 {
	t.Helper()
	info, err := l.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(info.KeySets); n > 0 {
		return info.KeySets[n-1].KeySet.KeySet.Version
	}
	return 1
}

// mintTo builds a mint by the given officer keys of one note of v to k
// that falls in group g (and, when across, a second that falls in the
// other group of two).
func mintTo(s *sharded, g int, across bool, officers []*crypto.PrivateKey, k *crypto.PrivateKey, v uint64) *money.Tx {
	for nonce := ledgertest.Nonce(); ; nonce++ {
		tx := &money.Tx{Kind: money.Mint, Nonce: nonce, Outputs: []money.Output{ledgertest.To(k, v)}}
		if across {
			tx.Outputs = append(tx.Outputs, ledgertest.To(k, v))
		}
		notes := s.n.Notes(tx)
		if s.group(s.n.Network.NoteID(&notes[0])) != g || across && s.group(s.n.Network.NoteID(&notes[1])) == g {
			continue
		}
		id := s.n.Network.TxID(tx)
		for _, o := range officers {
			tx.Auth = append(tx.Auth, money.KeySig{Key: o.Public(), Sig: o.Sign(crypto.Mint, s.n.Network.ID, id)})
		}
		ledgertest.SortAuth(tx)
		return tx
	}
}

// TestRotationAppliesInEveryLog: a rotation through the router is applied
// in each group and in the coordinator's log, the router's Info reports
// it, a mint by the rotated-out key is refused unauthorized in every group
// and across groups with nothing changed, one by the new set commits, and
// all of it holds after every ledger restarts from its disk.
func TestRotationAppliesInEveryLog(t *testing.T) {
	s := newSharded(t, 2)
	owner := ledgertest.MustKey()
	s.mintIn(0, owner, 100) // a mint under the founding set, before
	old := slices.Clone(s.n.Officers)
	fresh := ledgertest.MustKey()
	ks := nextKeySet(t, s, fresh)
	e, err := s.router.RotateMintKeys(ctx, ks)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if e.KeySet.KeySet.Hash() != ks.KeySet.Hash() || e.Batch == 0 {
		t.Fatalf("epoch %+v: not the rotation's", e)
	}
	// Again: the same epoch, nothing more logged.
	before := s.supplies()
	if e2, err := s.router.RotateMintKeys(ctx, ks); err != nil || e2.Batch != e.Batch {
		t.Fatalf("rotate again: %+v, %v; want batch %d", e2, err, e.Batch)
	}
	if after := s.supplies(); !slices.Equal(before, after) {
		t.Fatalf("a repeated rotation changed the logs: %+v -> %+v", before, after)
	}
	newOfficers := []*crypto.PrivateKey{fresh, old[1], old[2]}
	checks := func(when string) {
		t.Helper()
		for g := range s.groups {
			if v := keyVersion(t, s.groups[g]); v != 2 {
				t.Fatalf("%s: group %d applies key set version %d, want 2", when, g, v)
			}
		}
		if v := keyVersion(t, s.log); v != 2 {
			t.Fatalf("%s: the coordinator's log applies key set version %d, want 2", when, v)
		}
		if v := keyVersion(t, s.router); v != 2 {
			t.Fatalf("%s: the router's Info reports key set version %d, want 2", when, v)
		}
		cases := []struct {
			name   string
			group  int
			across bool
		}{
			{"in group 0", 0, false},
			{"in group 1", 1, false},
			{"across groups", 0, true},
		}
		for _, c := range cases {
			before := s.supplies()
			_, err := s.router.Submit(ctx, mintTo(s, c.group, c.across, old[:2], owner, 7))
			if !errcode.Is(err, errcode.Unauthorized) {
				t.Fatalf("%s: old-key mint %s: %v, want unauthorized", when, c.name, err)
			}
			if after := s.supplies(); !slices.Equal(before, after) {
				t.Fatalf("%s: refused mint %s changed the logs: %+v -> %+v", when, c.name, before, after)
			}
			// Straight to the group too, past the router.
			if !c.across {
				if _, err := s.groups[c.group].Submit(ctx, mintTo(s, c.group, false, old[:2], owner, 7)); !errcode.Is(err, errcode.Unauthorized) {
					t.Fatalf("%s: old-key mint straight to group %d: %v, want unauthorized", when, c.group, err)
				}
			}
			if _, err := s.router.Submit(ctx, mintTo(s, c.group, c.across, newOfficers[:2], owner, 5)); err != nil {
				t.Fatalf("%s: new-key mint %s: %v", when, c.name, err)
			}
			s.minted += 5
			if c.across {
				s.minted += 5
			}
		}
		s.check()
	}
	checks("after the rotation")
	for g := range s.groups {
		s.restart(s.groups[g], s.groupDir(g))
	}
	s.restart(s.log, filepath.Join(s.dir, "coordinator"))
	s.newCoordinator()
	checks("after a restart")
}

// TestRotationInterruptedIsCompleted: a rotation applied in the
// coordinator's log and group 0 but not group 1 (the router stopped part
// way) is not reported by Info; a mint through the router completes it
// before it is taken, so the rotated-out key is refused in group 1; and a
// restarted router completes it by CompleteRotations, or a retry of the
// same rotation does.
func TestRotationInterruptedIsCompleted(t *testing.T) {
	for _, how := range []string{"mint", "restart", "retry"} {
		t.Run(how, func(t *testing.T) {
			s := newSharded(t, 2)
			owner := ledgertest.MustKey()
			old := slices.Clone(s.n.Officers)
			fresh := ledgertest.MustKey()
			ks := nextKeySet(t, s, fresh)
			// The router stopped after the coordinator's log and group 0.
			for _, l := range []roles.KeyRotator{s.log, s.groups[0]} {
				if _, err := l.RotateMintKeys(ctx, ks); err != nil {
					t.Fatal(err)
				}
			}
			if v := keyVersion(t, s.groups[1]); v != 1 {
				t.Fatalf("group 1 applies version %d before the test", v)
			}
			if v := keyVersion(t, s.router); v != 1 {
				t.Fatalf("router Info reports version %d while group 1 lags; want 1", v)
			}
			switch how {
			case "mint":
				// Under the old key, into the lagging group: the router
				// completes the rotation first, and group 1 refuses it.
				before := s.supplies()
				_, err := s.router.Submit(ctx, mintTo(s, 1, false, old[:2], owner, 7))
				if !errcode.Is(err, errcode.Unauthorized) {
					t.Fatalf("old-key mint into the lagging group: %v, want unauthorized", err)
				}
				after := s.supplies()
				if after[1].Minted != before[1].Minted || after[1].Outstanding != before[1].Outstanding {
					t.Fatalf("refused mint changed group 1: %+v -> %+v", before[1], after[1])
				}
			case "restart":
				s.restart(s.groups[1], s.groupDir(1))
				s.newCoordinator()
				n, err := s.router.CompleteRotations(ctx)
				if err != nil || n != 1 {
					t.Fatalf("complete rotations: %d, %v; want 1", n, err)
				}
				if n, err := s.router.CompleteRotations(ctx); err != nil || n != 0 {
					t.Fatalf("complete rotations again: %d, %v; want 0", n, err)
				}
			case "retry":
				if _, err := s.router.RotateMintKeys(ctx, ks); err != nil {
					t.Fatalf("retry the rotation: %v", err)
				}
			}
			for g := range s.groups {
				if v := keyVersion(t, s.groups[g]); v != 2 {
					t.Fatalf("group %d applies version %d, want 2", g, v)
				}
			}
			if v := keyVersion(t, s.router); v != 2 {
				t.Fatalf("router Info reports version %d, want 2", v)
			}
			if _, err := s.groups[1].Submit(ctx, mintTo(s, 1, false, old[:2], owner, 7)); !errcode.Is(err, errcode.Unauthorized) {
				t.Fatalf("old-key mint straight to group 1: %v, want unauthorized", err)
			}
			if _, err := s.router.Submit(ctx, mintTo(s, 1, false, []*crypto.PrivateKey{fresh, old[2]}, owner, 9)); err != nil {
				t.Fatalf("new-key mint: %v", err)
			}
			s.minted += 9
			s.check()
		})
	}
}

// TestRotationRefusedChangesNothing: a rotation without the quorum of the
// set in force, or one that skips a version, is refused with its exact
// code and applied in no log.
func TestRotationRefusedChangesNothing(t *testing.T) {
	s := newSharded(t, 2)
	fresh := ledgertest.MustKey()
	short := nextKeySet(t, s, fresh)
	short.Approvals = short.Approvals[:1]
	skip := nextKeySet(t, s, fresh)
	skip.KeySet.Version = 3
	cases := []struct {
		name string
		ks   policy.SignedKeySet
		code errcode.Code
	}{
		{"one approval of two", short, errcode.Unauthorized},
		{"version 3 after 1", skip, errcode.Conflict},
	}
	for _, c := range cases {
		before := s.supplies()
		if _, err := s.router.RotateMintKeys(ctx, c.ks); !errcode.Is(err, c.code) {
			t.Fatalf("%s: %v, want %s", c.name, err, c.code)
		}
		if after := s.supplies(); !slices.Equal(before, after) {
			t.Fatalf("%s: refused rotation changed the logs: %+v -> %+v", c.name, before, after)
		}
		for _, l := range append([]roles.Ledger{s.log, s.router}, s.groups[0], s.groups[1]) {
			if v := keyVersion(t, l); v != 1 {
				t.Fatalf("%s: a log applies version %d", c.name, v)
			}
		}
	}
}

// unreachable is a group whose API does not answer reads while down.
type unreachable struct {
	*swappable
	down atomic.Bool
}

func (u *unreachable) Info(ctx context.Context) (roles.LedgerInfo, error) {
	if u.down.Load() {
		return roles.LedgerInfo{}, errcode.New(errcode.Unavailable, "group unreachable")
	}
	return u.swappable.Info(ctx)
}

// TestMintWaitsForEveryLog: with group 1 unreachable, the router's Info
// still answers (payments need it), but a mint, even into group 0, is
// refused unavailable with nothing changed: whether group 1 lags a
// rotation cannot be known. Once group 1 answers the same mint commits.
func TestMintWaitsForEveryLog(t *testing.T) {
	s := newSharded(t, 2)
	owner := ledgertest.MustKey()
	g1 := &unreachable{swappable: s.groups[1]}
	c, err := shard.NewCoordinator(shard.Config{Network: s.n.Network, Log: s.log, Groups: []shard.Group{s.groups[0], g1}})
	if err != nil {
		t.Fatal(err)
	}
	r := shard.NewRouter(c)
	g1.down.Store(true)
	if _, err := r.Info(ctx); err != nil {
		t.Fatalf("Info with group 1 unreachable: %v", err)
	}
	mint := mintTo(s, 0, false, s.n.Officers[:2], owner, 11)
	before := s.supplies()
	if _, err := r.Submit(ctx, mint); !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("mint with group 1 unreachable: %v, want unavailable", err)
	}
	if after := s.supplies(); !slices.Equal(before, after) {
		t.Fatalf("refused mint changed the logs: %+v -> %+v", before, after)
	}
	g1.down.Store(false)
	if _, err := r.Submit(ctx, mint); err != nil {
		t.Fatalf("mint with every group answering: %v", err)
	}
	s.minted += 11
	s.check()
}
