package devnet

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// memDesk is a policy desk in memory that puts a proposal in force at
// quorum 2, enough to drive ensurePolicy through a start after a crash.
type memDesk struct {
	props    map[money.Hash]*roles.PolicyProposal
	inForce  *policy.Signed
	proposed int
	approved []crypto.PublicKey
}

func (d *memDesk) Policy(context.Context) (policy.Signed, error) {
	if d.inForce == nil {
		return policy.Signed{}, errcode.New(errcode.NotFound, "none")
	}
	return *d.inForce, nil
}

func (d *memDesk) ProposePolicy(_ context.Context, p policy.Policy) (roles.PolicyProposal, error) {
	id := money.Hash(p.Hash())
	if _, ok := d.props[id]; ok {
		return roles.PolicyProposal{}, errcode.New(errcode.Conflict, "exists")
	}
	d.proposed++
	d.props[id] = &roles.PolicyProposal{ID: id, Policy: p, Status: roles.PolicyPending, Quorum: 2}
	return *d.props[id], nil
}

func (d *memDesk) ApprovePolicy(_ context.Context, id money.Hash, k crypto.PublicKey, sig policy.Signature) (roles.PolicyProposal, error) {
	p := d.props[id]
	p.Approvals = append(p.Approvals, policy.Approval{Key: k, Sig: sig})
	d.approved = append(d.approved, k)
	if len(p.Approvals) == p.Quorum {
		p.Status = roles.PolicyInForce
		d.inForce = &policy.Signed{Policy: p.Policy, Approvals: p.Approvals}
	}
	return *p, nil
}

func (d *memDesk) GetPolicyProposal(_ context.Context, id money.Hash) (roles.PolicyProposal, error) {
	p, ok := d.props[id]
	if !ok {
		return roles.PolicyProposal{}, errcode.New(errcode.NotFound, "none")
	}
	return *p, nil
}

func (d *memDesk) ListPolicyProposals(context.Context) ([]roles.PolicyProposal, error) {
	return nil, fmt.Errorf("not used")
}

// TestEnsurePolicyResumesAfterACrash: a start that finds the default
// proposed and approved by officer 1 (a crash came before the second
// approval) approves it with the next officer only, and the start after
// that changes nothing.
func TestEnsurePolicyResumesAfterACrash(t *testing.T) {
	dir := t.TempDir()
	c := &Config{Network: money.Network{ID: "devnet-test", Currency: money.Currency{Code: "USD", Exponent: 2}}}
	var keys []*crypto.PrivateKey
	for i := range 3 {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("officer-%d.key", i+1))
		if err := crypto.SaveKey(f, k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		c.OfficerKeyFiles = append(c.OfficerKeyFiles, f)
	}
	d := &memDesk{props: map[money.Hash]*roles.PolicyProposal{}}
	p := policy.Default(c.Network.ID, c.Network.Currency)
	ctx := context.Background()
	pp, _ := d.ProposePolicy(ctx, p)
	a := policy.Sign(&p, keys[0])
	if _, err := d.ApprovePolicy(ctx, pp.ID, a.Key, a.Sig); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := ensurePolicy(ctx, c, d); err != nil {
			t.Fatal(err)
		}
	}
	if d.proposed != 1 || len(d.approved) != 2 || d.approved[1] != keys[1].Public() {
		t.Fatalf("proposed %d times, approved by %v", d.proposed, d.approved)
	}
	if err := d.inForce.Verify(c.Network.ID, []crypto.PublicKey{keys[0].Public(), keys[1].Public(), keys[2].Public()}, 2); err != nil {
		t.Fatal(err)
	}
}
