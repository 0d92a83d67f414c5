package issuer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// keysState is everything observable about the officer keys at the desk.
func (e *env) keysState() string {
	e.t.Helper()
	ks, err := e.is.KeySet(bg)
	if err != nil {
		e.t.Fatal(err)
	}
	return fmt.Sprintf("%+v", ks)
}

// approveKeySet is officer key k's approval of key set proposal id.
func (e *env) approveKeySet(k crypto.Signer, id money.Hash) (roles.KeySetProposal, error) {
	sig, err := k.TrySign(crypto.KeySet, e.net.Network.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.is.ApproveKeySet(officerCtx, id, k.Public(), sig)
}

// TestKeyRotation rotates officer 1's key: the proposal needs the quorum
// of the keys in force (a new or outside key, a bad signature or a second
// approval by one officer change nothing), and once in force the old key
// approves nothing while the new one counts, also after a restart.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	old := e.net.Officers[0]
	fresh, _ := crypto.GenerateKey()
	founding, err := e.is.KeySet(bg)
	if err != nil || founding.KeySet.Version != 1 || len(founding.Approvals) != 0 {
		t.Fatalf("founding key set %+v, %v", founding, err)
	}
	next := founding.KeySet
	next.Version = 2
	next.Keys = []crypto.PublicKey{fresh.Public(), e.net.Officers[1].Public(), e.net.Officers[2].Public()}

	// Refused proposals.
	for _, c := range []struct {
		name string
		edit func(*policy.KeySet)
		ctx  func() error
		want errcode.Code
	}{
		{"version 3 while 1 is in force", func(k *policy.KeySet) { k.Version = 3 }, nil, errcode.Conflict},
		{"version 1 again", func(k *policy.KeySet) { k.Version = 1 }, nil, errcode.Conflict},
		{"other network", func(k *policy.KeySet) { k.Network = "other" }, nil, errcode.Malformed},
		{"quorum 0", func(k *policy.KeySet) { k.Quorum = 0 }, nil, errcode.Malformed},
		{"quorum above the keys", func(k *policy.KeySet) { k.Quorum = 4 }, nil, errcode.Malformed},
		{"a key twice", func(k *policy.KeySet) { k.Keys = []crypto.PublicKey{fresh.Public(), fresh.Public()} }, nil, errcode.Malformed},
		{"no keys", func(k *policy.KeySet) { k.Keys = nil }, nil, errcode.Malformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.keysState()
			k := next
			k.Keys = append([]crypto.PublicKey(nil), next.Keys...)
			c.edit(&k)
			_, err := e.is.ProposeKeySet(officerCtx, k)
			wantCode(t, err, c.want)
			if after := e.keysState(); after != before {
				t.Fatalf("key set changed: %s -> %s", before, after)
			}
		})
	}
	if _, err := e.is.ProposeKeySet(bankCtx("bank-a"), next); !errcode.Is(err, errcode.Unauthorized) {
		t.Fatalf("an intermediary proposed a key set: %v", err)
	}

	p, err := e.is.ProposeKeySet(officerCtx, next)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != roles.PolicyPending || p.Quorum != 2 || p.ID != money.Hash(next.Hash()) {
		t.Fatalf("proposal %+v", p)
	}
	if _, err := e.is.ProposeKeySet(officerCtx, next); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("same proposal twice: %v", err)
	}

	// Refused approvals leave the proposal as it was.
	stranger, _ := crypto.GenerateKey()
	badSig := func() (roles.KeySetProposal, error) {
		sig := e.net.Officers[1].Sign(crypto.Policy, e.net.Network.ID, p.ID) // right key, wrong domain
		return e.is.ApproveKeySet(officerCtx, p.ID, e.net.Officers[1].Public(), sig)
	}
	for _, c := range []struct {
		name    string
		approve func() (roles.KeySetProposal, error)
		want    errcode.Code
	}{
		{"the new key itself", func() (roles.KeySetProposal, error) { return e.approveKeySet(fresh, p.ID) }, errcode.Unauthorized},
		{"a stranger", func() (roles.KeySetProposal, error) { return e.approveKeySet(stranger, p.ID) }, errcode.Unauthorized},
		{"a mint-domain signature", badSig, errcode.BadSignature},
		{"an unknown proposal", func() (roles.KeySetProposal, error) { return e.approveKeySet(old, money.Hash{1}) }, errcode.NotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := e.is.GetKeySetProposal(officerCtx, p.ID)
			_, err := c.approve()
			wantCode(t, err, c.want)
			after, _ := e.is.GetKeySetProposal(officerCtx, p.ID)
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("proposal changed: %+v -> %+v", before, after)
			}
		})
	}

	if p, err = e.approveKeySet(old, p.ID); err != nil || p.Status != roles.PolicyPending || len(p.Approvals) != 1 {
		t.Fatalf("first approval: %+v, %v", p, err)
	}
	if _, err := e.approveKeySet(old, p.ID); !errcode.Is(err, errcode.Conflict) {
		t.Fatalf("second approval by one officer: %v", err)
	}
	if ks, _ := e.is.KeySet(bg); ks.KeySet.Version != 1 {
		t.Fatalf("in force before the quorum: %+v", ks)
	}
	if p, err = e.approveKeySet(e.net.Officers[2], p.ID); err != nil || p.Status != roles.PolicyInForce {
		t.Fatalf("quorum approval: %+v, %v", p, err)
	}

	check := func(when string) {
		t.Helper()
		ks, err := e.is.KeySet(bg)
		if err != nil {
			t.Fatal(err)
		}
		if ks.KeySet.Version != 2 || !ks.KeySet.Has(fresh.Public()) || ks.KeySet.Has(old.Public()) {
			t.Fatalf("%s: key set %+v", when, ks)
		}
		// Anyone can check the rotation against the founding set.
		if err := ks.Verify(&founding.KeySet); err != nil {
			t.Fatalf("%s: the set in force does not verify: %v", when, err)
		}
		// The old key approves nothing any more; the new one counts.
		before := e.state()
		m := e.propose("bank-a", 100)
		k, s := old.Public(), old.Sign(crypto.Mint, e.net.Network.ID, m.ID)
		_, err = e.is.ApproveMint(officerCtx, m.ID, k, s)
		wantCode(t, err, errcode.Unauthorized)
		m2, err := e.is.ApproveMint(officerCtx, m.ID, fresh.Public(), fresh.Sign(crypto.Mint, e.net.Network.ID, m.ID))
		if err != nil || len(m2.Approvers) != 1 || m2.Status != roles.MintPending {
			t.Fatalf("%s: approval by the new key: %+v, %v", when, m2, err)
		}
		sameState(t, before, e.state())
		// The ledger applies the new set too: the mint commits.
		k1, s1 := e.sig(1, m.ID)
		if m3, err := e.is.ApproveMint(officerCtx, m.ID, k1, s1); err != nil || m3.Status != roles.MintCommitted {
			t.Fatalf("%s: mint by the new set's quorum: %+v, %v", when, m3, err)
		}
		if info, err := e.ledger.Info(bg); err != nil || len(info.KeySets) != 1 || info.KeySets[0].KeySet.KeySet.Version != 2 {
			t.Fatalf("%s: the ledger's key sets %+v, %v", when, info.KeySets, err)
		}
		pp := e.proposePolicy(e.policy(1))
		_, err = e.approvePolicy(0, pp.ID)
		wantCode(t, err, errcode.Unauthorized)
		// The adopted proposal reads as in force.
		if got, _ := e.is.GetKeySetProposal(officerCtx, p.ID); got.Status != roles.PolicyInForce {
			t.Fatalf("%s: proposal status %s", when, got.Status)
		}
	}
	check("after the rotation")
	e.reopen()
	if ks, _ := e.is.KeySet(bg); ks.KeySet.Version != 2 {
		t.Fatalf("after a restart version %d is in force", ks.KeySet.Version)
	}
	// The next rotation needs the new set's quorum: the old key is out.
	third := next
	third.Version = 3
	third.Quorum = 3
	p3, err := e.is.ProposeKeySet(officerCtx, third)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.approveKeySet(old, p3.ID)
	wantCode(t, err, errcode.Unauthorized)
	if _, err := e.approveKeySet(fresh, p3.ID); err != nil {
		t.Fatal(err)
	}
}

// downRotator is the ledger with its key rotation down: every other call
// goes through.
type downRotator struct {
	roles.Ledger
	rotator roles.KeyRotator
	down    bool
}

func (d *downRotator) RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	if d.down {
		return roles.KeyEpoch{}, errcode.New(errcode.Unavailable, "the ledger cannot be reached")
	}
	return d.rotator.RotateMintKeys(ctx, s)
}

// TestKeyRotationReachesALedgerThatWasDown: a rotation comes into force at
// the desk while the ledger cannot take it; the desk still answers
// in_force, the ledger keeps the founding keys (a mint by the new set is
// refused there, and the desk marks it rejected without touching the
// reserve), and once the ledger is back the desk hands it the set at its
// next start, after which the new set mints.
func TestKeyRotationReachesALedgerThatWasDown(t *testing.T) {
	e := newEnv(t)
	link := &downRotator{Ledger: e.ledger, rotator: e.ledger, down: true}
	e.lg = link
	e.reopen()
	fresh, _ := crypto.GenerateKey()
	founding, _ := e.is.KeySet(bg)
	next := founding.KeySet
	next.Version = 2
	next.Keys = []crypto.PublicKey{fresh.Public(), e.net.Officers[1].Public(), e.net.Officers[2].Public()}
	p, err := e.is.ProposeKeySet(officerCtx, next)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []int{0, 1} {
		if p, err = e.approveKeySet(e.net.Officers[o], p.ID); err != nil {
			t.Fatal(err)
		}
	}
	if p.Status != roles.PolicyInForce {
		t.Fatalf("status %s", p.Status)
	}
	if info, _ := e.ledger.Info(bg); len(info.KeySets) != 0 {
		t.Fatalf("the ledger applied a rotation it could not be sent: %+v", info.KeySets)
	}
	reserve := e.reserve("bank-a")
	m := e.propose("bank-a", 100)
	if _, err := e.is.ApproveMint(officerCtx, m.ID, fresh.Public(), fresh.Sign(crypto.Mint, e.net.Network.ID, m.ID)); err != nil {
		t.Fatal(err)
	}
	m, err = e.approve(1, m.ID)
	if err == nil && m.Status == roles.MintCommitted {
		t.Fatal("the ledger committed a mint by keys it was never given")
	}
	if got := e.reserve("bank-a"); got != reserve {
		t.Fatalf("reserve %d after the refused mint, want %d", got, reserve)
	}

	link.down = false
	e.reopen()
	if info, _ := e.ledger.Info(bg); len(info.KeySets) != 1 || info.KeySets[0].KeySet.KeySet.Version != 2 {
		t.Fatalf("after the restart the ledger has %+v", info.KeySets)
	}
	m = e.propose("bank-a", 100)
	if _, err := e.is.ApproveMint(officerCtx, m.ID, fresh.Public(), fresh.Sign(crypto.Mint, e.net.Network.ID, m.ID)); err != nil {
		t.Fatal(err)
	}
	if m, err = e.approve(2, m.ID); err != nil || m.Status != roles.MintCommitted {
		t.Fatalf("mint by the new set once the ledger has it: %+v, %v", m, err)
	}
}

// TestApprovalByARotatedOutKeyStopsCounting: a mint approved by officer 1
// before officer 1's key was rotated out needs two approvals from the new
// set: one more old-set approval leaves it pending (not sent to a ledger
// that would refuse it), and the new key completes it.
func TestApprovalByARotatedOutKeyStopsCounting(t *testing.T) {
	e := newEnv(t)
	m := e.propose("bank-a", 100)
	if _, err := e.approve(0, m.ID); err != nil {
		t.Fatal(err)
	}
	fresh, _ := crypto.GenerateKey()
	founding, _ := e.is.KeySet(bg)
	next := founding.KeySet
	next.Version = 2
	next.Keys = []crypto.PublicKey{fresh.Public(), e.net.Officers[1].Public(), e.net.Officers[2].Public()}
	p, err := e.is.ProposeKeySet(officerCtx, next)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []int{1, 2} {
		if p, err = e.approveKeySet(e.net.Officers[o], p.ID); err != nil {
			t.Fatal(err)
		}
	}
	if p.Status != roles.PolicyInForce {
		t.Fatalf("rotation %s", p.Status)
	}
	got, err := e.approve(1, m.ID)
	if err != nil || got.Status != roles.MintPending || len(got.Approvers) != 1 {
		t.Fatalf("after the rotation, officer 2's approval: %+v, %v; want pending with 1 approval", got, err)
	}
	got, err = e.is.ApproveMint(officerCtx, m.ID, fresh.Public(), fresh.Sign(crypto.Mint, e.net.Network.ID, m.ID))
	if err != nil || got.Status != roles.MintCommitted {
		t.Fatalf("the new key's approval: %+v, %v", got, err)
	}
}
