package issuer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// polState is everything observable about policy at the desk.
type polState struct {
	inForce   string
	proposals string
}

func (e *env) polState() polState {
	e.t.Helper()
	var s polState
	if p, err := e.is.Policy(bg); err == nil {
		s.inForce = fmt.Sprintf("%+v", p)
	} else {
		s.inForce = string(errcode.Of(err))
	}
	ps, err := e.is.ListPolicyProposals(officerCtx)
	if err != nil {
		e.t.Fatal(err)
	}
	s.proposals = fmt.Sprintf("%+v", ps)
	return s
}

func (e *env) policy(version uint64) policy.Policy {
	p := policy.Default(e.net.Network.ID, e.net.Network.Currency)
	p.Version = version
	return p
}

func (e *env) approvePolicy(i int, id money.Hash) (roles.PolicyProposal, error) {
	k := e.net.Officers[i]
	return e.is.ApprovePolicy(officerCtx, id, k.Public(), policy.Signature(k.Sign(crypto.Policy, e.net.Network.ID, id)))
}

func (e *env) proposePolicy(p policy.Policy) roles.PolicyProposal {
	e.t.Helper()
	pp, err := e.is.ProposePolicy(officerCtx, p)
	if err != nil {
		e.t.Fatalf("propose policy v%d: %v", p.Version, err)
	}
	return pp
}

// verifyInForce checks the policy in force verifies as an intermediary
// checks it: with the ledger's officer keys and quorum.
func (e *env) verifyInForce(version uint64) policy.Signed {
	e.t.Helper()
	s, err := e.is.Policy(bg)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := e.ledger.Info(bg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.Verify(info.Network.ID, info.MintKeys, info.MintQuorum); err != nil {
		e.t.Fatalf("policy in force does not verify: %v", err)
	}
	if s.Policy.Version != version {
		e.t.Fatalf("version %d in force, want %d", s.Policy.Version, version)
	}
	return s
}

func TestPolicyLifecycle(t *testing.T) {
	e := newEnv(t)
	if _, err := e.is.Policy(bg); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("policy before any: %v", err)
	}
	v1 := e.proposePolicy(e.policy(1))
	if v1.Status != roles.PolicyPending || v1.Quorum != 2 || len(v1.Approvals) != 0 || v1.ID != money.Hash(v1.Policy.Hash()) {
		t.Fatalf("proposal %+v", v1)
	}
	got, err := e.approvePolicy(0, v1.ID)
	if err != nil || got.Status != roles.PolicyPending || len(got.Approvals) != 1 {
		t.Fatalf("first approval: %+v %v", got, err)
	}
	// One approval is not the quorum: nothing is in force.
	if _, err := e.is.Policy(bg); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("policy in force below the quorum: %v", err)
	}
	if got, err = e.approvePolicy(2, v1.ID); err != nil || got.Status != roles.PolicyInForce {
		t.Fatalf("second approval: %+v %v", got, err)
	}
	e.verifyInForce(1)

	// Two drafts of version 2: the first to reach the quorum wins, the
	// other can no longer be approved.
	a := e.policy(2)
	a.Tiers[0].Holding = 400_00
	b := e.policy(2)
	b.Tiers[0].Holding = 600_00
	pa, pb := e.proposePolicy(a), e.proposePolicy(b)
	if _, err := e.approvePolicy(1, pb.ID); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1} {
		if _, err := e.approvePolicy(i, pa.ID); err != nil {
			t.Fatal(err)
		}
	}
	s := e.verifyInForce(2)
	if s.Policy.Tiers[0].Holding != 400_00 {
		t.Fatalf("tier 0 holding %d in force", s.Policy.Tiers[0].Holding)
	}
	before := e.polState()
	_, err = e.approvePolicy(2, pb.ID)
	wantCode(t, err, errcode.Conflict)
	if after := e.polState(); after != before {
		t.Fatalf("a refused approval changed the state:\n%+v\n%+v", before, after)
	}
	want := map[money.Hash]string{v1.ID: roles.PolicySuperseded, pa.ID: roles.PolicyInForce, pb.ID: roles.PolicyStale}
	checkStatuses := func() {
		t.Helper()
		ps, err := e.is.ListPolicyProposals(officerCtx)
		if err != nil || len(ps) != 3 {
			t.Fatalf("list: %d %v", len(ps), err)
		}
		for _, p := range ps {
			if p.Status != want[p.ID] {
				t.Errorf("proposal v%d %s is %s, want %s", p.Policy.Version, p.ID, p.Status, want[p.ID])
			}
			one, err := e.is.GetPolicyProposal(officerCtx, p.ID)
			if err != nil || one.Status != p.Status || len(one.Approvals) != len(p.Approvals) {
				t.Errorf("get %s: %+v %v", p.ID, one, err)
			}
		}
	}
	checkStatuses()

	// A restart serves the same version and the same proposals.
	e.reopen()
	if after := e.polState(); after != before {
		t.Fatalf("restart changed the policy state:\n%+v\n%+v", before, after)
	}
	e.verifyInForce(2)
	checkStatuses()
	e.proposePolicy(e.policy(3)) // the next version is still 3
}

func TestPolicyRejectionsChangeNothing(t *testing.T) {
	e := newEnv(t)
	v1 := e.proposePolicy(e.policy(1))
	if _, err := e.approvePolicy(0, v1.ID); err != nil {
		t.Fatal(err)
	}
	stranger := ledgertest.MustKey()
	bad := e.policy(1)
	bad.Tiers[0].PerPayment = bad.Tiers[0].Daily + 1
	other := e.policy(1)
	other.Network = "elsewhere"
	sign := func(k *crypto.PrivateKey, over money.Hash) policy.Signature {
		return policy.Signature(k.Sign(crypto.Policy, e.net.Network.ID, over))
	}
	o1 := e.net.Officers[1]
	cases := []struct {
		name string
		call func() error
		want errcode.Code
	}{
		{"propose invalid", func() error { _, err := e.is.ProposePolicy(officerCtx, bad); return err }, errcode.Malformed},
		{"propose for another network", func() error { _, err := e.is.ProposePolicy(officerCtx, other); return err }, errcode.Malformed},
		{"propose a version that skips one", func() error { _, err := e.is.ProposePolicy(officerCtx, e.policy(2)); return err }, errcode.Conflict},
		{"propose the same twice", func() error { _, err := e.is.ProposePolicy(officerCtx, e.policy(1)); return err }, errcode.Conflict},
		{"propose as an intermediary", func() error { _, err := e.is.ProposePolicy(bankCtx("bank-a"), e.policy(1)); return err }, errcode.Unauthorized},
		{"propose with no caller", func() error { _, err := e.is.ProposePolicy(bg, e.policy(1)); return err }, errcode.Unauthorized},
		{"approve twice by one key", func() error { _, err := e.approvePolicy(0, v1.ID); return err }, errcode.Conflict},
		{"approve with a non-officer key", func() error {
			_, err := e.is.ApprovePolicy(officerCtx, v1.ID, stranger.Public(), sign(stranger, v1.ID))
			return err
		}, errcode.Unauthorized},
		{"approve with a bad signature", func() error {
			_, err := e.is.ApprovePolicy(officerCtx, v1.ID, o1.Public(), sign(o1, money.Hash{1}))
			return err
		}, errcode.BadSignature},
		{"approve with a mint signature", func() error {
			_, err := e.is.ApprovePolicy(officerCtx, v1.ID, o1.Public(), policy.Signature(o1.Sign(crypto.Mint, e.net.Network.ID, v1.ID)))
			return err
		}, errcode.BadSignature},
		{"approve an unknown proposal", func() error { _, err := e.approvePolicy(1, money.Hash{7}); return err }, errcode.NotFound},
		{"approve as an intermediary", func() error {
			_, err := e.is.ApprovePolicy(bankCtx("bank-a"), v1.ID, o1.Public(), sign(o1, v1.ID))
			return err
		}, errcode.Unauthorized},
		{"get an unknown proposal", func() error { _, err := e.is.GetPolicyProposal(officerCtx, money.Hash{7}); return err }, errcode.NotFound},
		{"list as an intermediary", func() error { _, err := e.is.ListPolicyProposals(bankCtx("bank-a")); return err }, errcode.Unauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.polState()
			wantCode(t, c.call(), c.want)
			if after := e.polState(); after != before {
				t.Fatalf("state changed:\n%+v\n%+v", before, after)
			}
		})
	}
	if _, err := e.is.Policy(bg); !errcode.Is(err, errcode.NotFound) {
		t.Fatalf("a policy came into force: %v", err)
	}
	if _, err := e.approvePolicy(1, v1.ID); err != nil {
		t.Fatal(err)
	}
	e.verifyInForce(1)
}

func TestPolicyIsReadByAnyone(t *testing.T) {
	e := newEnv(t)
	p := e.proposePolicy(e.policy(1))
	for _, i := range []int{1, 2} {
		if _, err := e.approvePolicy(i, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	for name, ctx := range map[string]context.Context{"anonymous": bg, "bank": bankCtx("bank-b"), "officer": officerCtx} {
		s, err := e.is.Policy(ctx)
		if err != nil || s.Policy.Version != 1 || len(s.Approvals) != 2 {
			t.Fatalf("%s: %+v %v", name, s, err)
		}
	}
	// The copy handed out is the caller's: changing it changes nothing.
	s, _ := e.is.Policy(bg)
	s.Policy.Tiers[0].Holding = 1
	s.Policy.Tiers[0].Evidence[0] = policy.Business
	s.Policy.AML.Actions[0].Action = policy.Alert
	s.Approvals[0].Sig[0] ^= 1
	if got := e.verifyInForce(1); got.Policy.Tiers[0].Holding != 500_00 {
		t.Fatalf("the policy in force was changed through a copy: holding %d", got.Policy.Tiers[0].Holding)
	}
}

// TestPolicySignedByRotatedKeysStillOpens: a desk whose officer keys were
// changed since the version in force was signed still starts and serves
// it (intermediaries refuse it), so the new officers can replace it.
func TestPolicySignedByRotatedKeysStillOpens(t *testing.T) {
	e := newEnv(t)
	p := e.proposePolicy(e.policy(1))
	for _, i := range []int{0, 1} {
		if _, err := e.approvePolicy(i, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.cfg.MintKeys = []crypto.PublicKey{e.net.Officers[2].Public(), ledgertest.MustKey().Public()}
	e.reopen()
	s, err := e.is.Policy(bg)
	if err != nil || s.Policy.Version != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	if err := s.Verify(e.net.Network.ID, e.cfg.MintKeys, e.cfg.MintQuorum); err == nil {
		t.Fatal("the old version verifies with the new keys")
	}
	e.proposePolicy(e.policy(2))
}
