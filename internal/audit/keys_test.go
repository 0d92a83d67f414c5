package audit_test

import (
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// rotationWorld is the world's seven batches, then a rotation of officer
// 2's key to a fresh one (approved by officers 0 and 1), which the ledger
// commits as batch 8, then a mint by officer 0 and the fresh key in
// batch 9. It returns the fresh key and the mint.
func rotationWorld(t *testing.T) (*world, *crypto.PrivateKey, *money.Tx) {
	t.Helper()
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
	if err != nil || e.Batch != worldBatches+1 || e.FromBatch != worldBatches+2 {
		t.Fatalf("rotate: %+v, %v", e, err)
	}
	mint := &money.Tx{Kind: money.Mint, Nonce: 9, Outputs: []money.Output{ledgertest.To(w.carol, 70)}}
	id := n.Network.TxID(mint)
	for _, k := range []*crypto.PrivateKey{n.Officers[0], fresh} {
		mint.Auth = append(mint.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, n.Network.ID, id)})
	}
	ledgertest.SortAuth(mint)
	if r, err := w.l.Submit(ctx, mint); err != nil || r.Batch != worldBatches+2 {
		t.Fatalf("mint by the new set: %+v, %v", r, err)
	}
	if w.headers, err = w.l.Headers(ctx, 1, 100); err != nil || len(w.headers) != worldBatches+2 {
		t.Fatalf("headers: %d, %v", len(w.headers), err)
	}
	return w, fresh, mint
}

// TestAuditorFollowsKeyRotations: the auditor, trusting only the founding
// keys, reads the rotation from the log (batch 8), verifies its approvals
// against the founding set and checks batch 9's mint against the new set:
// a clean run finds nothing, and the next run, from the saved state,
// still checks mints against the rotated set. The planted faults of a
// rotation are TestAuditorFindsPlantedRotationFaults.
func TestAuditorFollowsKeyRotations(t *testing.T) {
	w, fresh, _ := rotationWorld(t)
	state := t.TempDir()
	if rep := w.audit(t, nil, state, nil, nil); len(rep.Findings) != 0 || rep.ToBatch != worldBatches+2 {
		t.Fatalf("clean run after a rotation: to batch %d: %s", rep.ToBatch, findings(rep))
	}
	// Batch 10, audited from the saved state: a mint by the rotated-out
	// officer 2 cannot commit, one by the new set does and is clean.
	n := w.n
	if _, err := w.l.Submit(ctx, n.MintNonce(10, []int{1, 2}, ledgertest.To(w.carol, 5))); err == nil {
		t.Fatal("the ledger took a mint by a rotated-out key")
	}
	mint := &money.Tx{Kind: money.Mint, Nonce: 11, Outputs: []money.Output{ledgertest.To(w.carol, 5)}}
	id := n.Network.TxID(mint)
	for _, k := range []*crypto.PrivateKey{n.Officers[1], fresh} {
		mint.Auth = append(mint.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, n.Network.ID, id)})
	}
	ledgertest.SortAuth(mint)
	if _, err := w.l.Submit(ctx, mint); err != nil {
		t.Fatal(err)
	}
	if rep := w.audit(t, nil, state, nil, nil); len(rep.Findings) != 0 || rep.FromBatch != worldBatches+3 {
		t.Fatalf("the next run from batch %d: %s", rep.FromBatch, findings(rep))
	}
	// `specie log verify` checks the rotation in the log too, and refuses
	// one served otherwise than the log holds it.
	c := client.New(w.srv.URL, "")
	w.mu.Lock()
	w.fault = nil
	w.mu.Unlock()
	if s, err := audit.VerifyLog(ctx, c.Ledger()); err != nil || s.KeySets != 1 {
		t.Fatalf("verify log: %+v, %v", s, err)
	}
	byFresh, _ := policy.SignKeySet(&policy.KeySet{Network: n.Network.ID, Version: 2, Quorum: 1, Keys: []crypto.PublicKey{fresh.Public()}}, fresh)
	for name, change := range map[string]func(i *roles.LedgerInfo){
		"other approvals": func(i *roles.LedgerInfo) { i.KeySets[0].KeySet.Approvals[0] = byFresh },
		"another batch":   func(i *roles.LedgerInfo) { i.KeySets[0].Batch = 3 },
		"beside the log":  func(i *roles.LedgerInfo) { i.KeySets[0].Batch = 0 },
	} {
		w.mu.Lock()
		w.fault = &fault{name: name, info: change}
		w.mu.Unlock()
		if _, err := audit.VerifyLog(ctx, c.Ledger()); err == nil {
			t.Errorf("verify log passed a rotation served with %s", name)
		}
	}
	if !strings.Contains(strings.Join(audit.Checks, "\n"), "rotation is read from the log") {
		t.Error("the report's list of checks does not say rotations are read from the log")
	}
}
