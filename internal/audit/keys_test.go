package audit_test

import (
	"strings"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// TestAuditorFollowsKeyRotations: after the world's seven batches the
// officers rotate officer 3's key (the ledger applies it from batch 8) and
// the new set mints in batch 8. The auditor, trusting only the founding
// keys, verifies the rotation's approvals and checks batch 8's mint
// against the new set: a clean run finds nothing. A rotation served
// without its quorum, or not served at all, leaves batch 8's mint
// signed by a key the auditor does not trust, and each is reported where
// it is.
func TestAuditorFollowsKeyRotations(t *testing.T) {
	w := newWorld(t)
	n := w.n
	fresh := ledgertest.KeyFrom(w.rng)
	next := policy.KeySet{Network: n.Network.ID, Version: 2, Quorum: 2, Keys: []crypto.PublicKey{n.Officers[0].Public(), n.Officers[1].Public(), fresh.Public()}}
	s := policy.SignedKeySet{KeySet: next}
	for _, o := range n.Officers[:2] {
		a, err := policy.SignKeySet(&next, o)
		if err != nil {
			t.Fatal(err)
		}
		s.Approvals = append(s.Approvals, a)
	}
	e, err := w.l.RotateMintKeys(ctx, s)
	if err != nil || e.FromBatch != worldBatches+1 {
		t.Fatalf("rotate: %+v, %v", e, err)
	}
	mint := &money.Tx{Kind: money.Mint, Nonce: 8, Outputs: []money.Output{ledgertest.To(w.carol, 70)}}
	id := n.Network.TxID(mint)
	for _, k := range []*crypto.PrivateKey{n.Officers[0], fresh} {
		mint.Auth = append(mint.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, n.Network.ID, id)})
	}
	ledgertest.SortAuth(mint)
	if r, err := w.l.Submit(ctx, mint); err != nil || r.Batch != worldBatches+1 {
		t.Fatalf("mint by the new set: %+v, %v", r, err)
	}

	if rep := w.audit(t, nil, "", nil, nil); len(rep.Findings) != 0 {
		t.Fatalf("clean run after a rotation: %s", findings(rep))
	}
	for _, c := range []struct {
		name string
		info func(i *roles.LedgerInfo)
		want []string // substrings of findings()
	}{
		{"rotation without its quorum", func(i *roles.LedgerInfo) {
			i.KeySets[0].KeySet.Approvals = i.KeySets[0].KeySet.Approvals[:1]
		}, []string{"batch 8, key_sets[0] [key_set]", "batch 8, tx 0, auth[0].key [authority]", "batch 8, tx 0, auth [quorum]"}},
		{"rotation approved by the new key", func(i *roles.LedgerInfo) {
			k := &i.KeySets[0].KeySet.KeySet
			a, _ := policy.SignKeySet(k, fresh)
			i.KeySets[0].KeySet.Approvals[1] = a
		}, []string{"batch 8, key_sets[0] [key_set]", "batch 8, tx 0, auth[0].key [authority]"}},
		{"rotation withheld", func(i *roles.LedgerInfo) { i.KeySets = nil }, []string{"batch 8, tx 0, auth[0].key [authority]", "batch 8, tx 0, auth [quorum]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := w.audit(t, &fault{name: c.name, info: c.info}, "", nil, nil)
			got := findings(rep)
			for _, want := range c.want {
				if !strings.Contains(got, want) {
					t.Errorf("findings lack %q:\n%s", want, got)
				}
			}
			for _, f := range rep.Findings {
				if f.Batch != worldBatches+1 {
					t.Errorf("finding outside batch 8: %+v", f)
				}
			}
		})
	}
	if !strings.Contains(strings.Join(audit.Checks, "\n"), "key rotation") {
		t.Error("the report's list of checks does not say rotations are checked")
	}
}
