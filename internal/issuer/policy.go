package issuer

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Policy governance runs like a mint, by the quorum mechanism of
// governance.go: officers propose a version, approve it with their keys
// (domain crypto.Policy), and at the quorum it is in force.
//
// Store layout (beside the mint keys in state.go):
//
//	pol/<hash>    policy proposal record (JSON, field "policy")
//	pol-in-force  the hash of the proposal in force (32 bytes)
var (
	policies = &proposals[policy.Policy]{
		noun:    "policy",
		field:   "policy",
		prefix:  []byte("pol/"),
		inForce: []byte("pol-in-force"),
		version: func(p policy.Policy) uint64 { return p.Version },
	}
	errNoPolicy = errcode.New(errcode.NotFound, "no policy is in force yet")
)

// policyState is what the desk keeps in memory about policy: the version
// in force with its ID. Guarded by Issuer.mu.
type policyState struct {
	id     money.Hash
	signed *policy.Signed // nil until a first version is in force
}

// view is what a proposal's status depends on.
func (ps *policyState) view() inForceView {
	if ps.signed == nil {
		return inForceView{}
	}
	return inForceView{id: ps.id, version: ps.signed.Policy.Version}
}

// loadPolicy reads the version in force into memory. Caller holds mu (or
// is Open, before anyone else can).
func (is *Issuer) loadPolicy() error {
	id, found, err := policies.pointer(is.db)
	if err != nil || !found {
		return err
	}
	r, err := policies.get(is.db, id)
	if err != nil {
		return fmt.Errorf("read policy in force %s: %w", id, err)
	}
	// What the desk serves should verify as an intermediary will check
	// it. When it does not (the officer keys were changed since), the desk
	// still starts and serves it, so that officers can put a version
	// signed by the new keys in force; intermediaries keep refusing it.
	s := &policy.Signed{Policy: r.Doc, Approvals: r.Approvals}
	if err := s.Verify(is.cfg.Network.ID, is.cfg.MintKeys, is.cfg.MintQuorum); err != nil {
		is.log.Error("the policy in force does not verify with the configured officer keys; propose and approve a new version", "id", id, "err", err)
	}
	is.pol = policyState{id: id, signed: s}
	return nil
}

// viewPolicy turns a stored proposal into the contract's PolicyProposal.
// Caller holds mu.
func (is *Issuer) viewPolicy(id money.Hash, r *govRecord[policy.Policy]) roles.PolicyProposal {
	return roles.PolicyProposal{
		ID:        id,
		Policy:    r.Doc,
		Status:    policies.status(id, r, is.pol.view()),
		Approvals: slices.Clone(r.Approvals),
		Quorum:    is.cfg.MintQuorum,
		Created:   r.Created,
	}
}

// Policy returns the version in force with its officers' approvals; anyone
// may read it (intermediaries verify it before applying it). Before any
// version is in force it is errcode.NotFound.
func (is *Issuer) Policy(ctx context.Context) (policy.Signed, error) {
	return governDesk(is, func() (policy.Signed, error) {
		if is.pol.signed == nil {
			return policy.Signed{}, errNoPolicy
		}
		return cloneSigned(is.pol.signed), nil
	})
}

// cloneSigned copies s down to its slices, so what a caller in the same
// process does with its copy never changes the version in force.
func cloneSigned(s *policy.Signed) policy.Signed {
	out := *s
	out.Policy.Tiers = slices.Clone(s.Policy.Tiers)
	for i := range out.Policy.Tiers {
		out.Policy.Tiers[i].Evidence = slices.Clone(out.Policy.Tiers[i].Evidence)
	}
	out.Policy.AML.Actions = slices.Clone(s.Policy.AML.Actions)
	out.Approvals = slices.Clone(s.Approvals)
	return out
}

// ProposePolicy records a draft of the next policy version. It must be
// valid, for this network, and numbered the version in force plus one
// (1 for the first); nothing changes until a quorum of officers approves.
func (is *Issuer) ProposePolicy(ctx context.Context, p policy.Policy) (roles.PolicyProposal, error) {
	if err := requireIssuerTo(ctx, "govern the policy"); err != nil {
		return roles.PolicyProposal{}, err
	}
	if err := p.Validate(); err != nil {
		return roles.PolicyProposal{}, errcode.New(errcode.Malformed, "%v", err)
	}
	if p.Network != is.cfg.Network.ID {
		return roles.PolicyProposal{}, errcode.New(errcode.Malformed, "policy is for network %q; this is %q", p.Network, is.cfg.Network.ID)
	}
	id := money.Hash(p.Hash())
	return governDesk(is, func() (roles.PolicyProposal, error) {
		r, err := policies.propose(is.db, id, p, is.pol.view(), time.Now().UTC())
		if err != nil {
			return roles.PolicyProposal{}, err
		}
		is.log.Info("policy proposed", "id", id, "version", p.Version)
		return is.viewPolicy(id, r), nil
	})
}

// ApprovePolicy records one officer's signature over the proposal's ID.
// At the quorum the proposal comes into force, in the same write.
func (is *Issuer) ApprovePolicy(ctx context.Context, id money.Hash, k crypto.PublicKey, sig policy.Signature) (roles.PolicyProposal, error) {
	if err := requireIssuerTo(ctx, "govern the policy"); err != nil {
		return roles.PolicyProposal{}, err
	}
	// Verified before the lock, as for mints: the signature is over id
	// alone.
	a := approver{key: k, sig: sig, verified: crypto.Verify(k, crypto.Policy, is.cfg.Network.ID, id, sig)}
	return governDesk(is, func() (roles.PolicyProposal, error) {
		a.officer = is.mkeys[k] // under the lock: a key rotation changes it
		r, adopt, err := policies.approve(is.db, id, a, is.pol.view(), is.cfg.MintQuorum)
		if err != nil {
			return roles.PolicyProposal{}, err
		}
		if adopt {
			is.pol = policyState{id: id, signed: &policy.Signed{Policy: r.Doc, Approvals: slices.Clone(r.Approvals)}}
			is.log.Info("policy in force", "id", id, "version", r.Doc.Version, "approvals", len(r.Approvals))
		} else {
			is.log.Info("policy approved", "id", id, "by", k, "approvals", len(r.Approvals), "quorum", is.cfg.MintQuorum)
		}
		return is.viewPolicy(id, r), nil
	})
}

// GetPolicyProposal reports one policy proposal.
func (is *Issuer) GetPolicyProposal(ctx context.Context, id money.Hash) (roles.PolicyProposal, error) {
	return getProposal(ctx, is, "govern the policy", policies, id, is.viewPolicy)
}

// ListPolicyProposals reports every policy proposal, by version and then
// by creation time.
func (is *Issuer) ListPolicyProposals(ctx context.Context) ([]roles.PolicyProposal, error) {
	if err := requireIssuerTo(ctx, "govern the policy"); err != nil {
		return nil, err
	}
	out, err := governDesk(is, func() ([]roles.PolicyProposal, error) {
		out := []roles.PolicyProposal{}
		err := policies.scan(is.db, func(id money.Hash, r *govRecord[policy.Policy]) error {
			out = append(out, is.viewPolicy(id, r))
			return nil
		})
		if err != nil {
			return nil, storeErr(err, "list policy proposals")
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Policy.Version != out[j].Policy.Version {
			return out[i].Policy.Version < out[j].Policy.Version
		}
		return out[i].Created.Before(out[j].Created)
	})
	return out, nil
}

var _ roles.PolicyDesk = (*Issuer)(nil)
