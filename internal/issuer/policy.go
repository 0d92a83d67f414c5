package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Policy governance runs like a mint: officers propose a version, approve
// it with their keys, and at the quorum it is in force. The proposal's ID
// is its policy.Hash, which is what each officer signs (domain
// crypto.Policy), so two proposals with the same content are one.
//
// Store layout (beside the mint keys in state.go):
//
//	pol/<hash>    policy proposal record (JSON, policyRecord)
//	pol-in-force  the hash of the proposal in force (32 bytes)
//
// The approval that reaches the quorum writes its record and pol-in-force
// in one synced batch, so a crash leaves either the old version in force
// and the approval unrecorded, or both written.
var (
	prefPolicy  = []byte("pol/")
	keyInForce  = []byte("pol-in-force")
	errNoPolicy = errcode.New(errcode.NotFound, "no policy is in force yet")
)

// policyRecord is a policy proposal as stored. Adopted is set once it came
// into force; whether it still is, or is stale, follows from the version
// in force (see status), so no other record is rewritten when a version
// comes into force.
type policyRecord struct {
	Policy    policy.Policy     `json:"policy"`
	Approvals []policy.Approval `json:"approvals"`
	Adopted   bool              `json:"adopted"`
	Created   time.Time         `json:"created"`
}

// policyState is what the desk keeps in memory about policy: the version
// in force with its ID. Guarded by Issuer.mu.
type policyState struct {
	id     money.Hash
	signed *policy.Signed // nil until a first version is in force
}

// version is the version in force, 0 before any.
func (ps *policyState) version() uint64 {
	if ps.signed == nil {
		return 0
	}
	return ps.signed.Policy.Version
}

// status is what a stored proposal is now, given the state in force.
func (ps *policyState) status(id money.Hash, r *policyRecord) string {
	switch {
	case r.Adopted && ps.signed != nil && id == ps.id:
		return roles.PolicyInForce
	case r.Adopted:
		return roles.PolicySuperseded
	case r.Policy.Version <= ps.version():
		return roles.PolicyStale
	}
	return roles.PolicyPending
}

// loadPolicy reads the version in force into memory. Caller holds mu (or
// is Open, before anyone else can).
func (is *Issuer) loadPolicy() error {
	v, err := is.db.Get(keyInForce)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read policy in force: %w", err)
	}
	if len(v) != len(money.Hash{}) {
		return fmt.Errorf("policy in force: %d bytes, want %d", len(v), len(money.Hash{}))
	}
	id := money.Hash(v)
	r, err := is.getPolicyRecord(id)
	if err != nil {
		return fmt.Errorf("read policy in force %s: %w", id, err)
	}
	// What the desk serves should verify as an intermediary will check
	// it. When it does not (the officer keys were changed since), the desk
	// still starts and serves it, so that officers can put a version
	// signed by the new keys in force; intermediaries keep refusing it.
	s := &policy.Signed{Policy: r.Policy, Approvals: r.Approvals}
	if err := s.Verify(is.cfg.Network.ID, is.cfg.MintKeys, is.cfg.MintQuorum); err != nil {
		is.log.Error("the policy in force does not verify with the configured officer keys; propose and approve a new version", "id", id, "err", err)
	}
	is.pol = policyState{id: id, signed: s}
	return nil
}

func (is *Issuer) getPolicyRecord(id money.Hash) (*policyRecord, error) {
	v, err := is.db.Get(key(prefPolicy, id[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errcode.New(errcode.NotFound, "no policy proposal %s", id)
	}
	if err != nil {
		return nil, storeErr(err, "read policy proposal %s", id)
	}
	r := new(policyRecord)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, errcode.New(errcode.Internal, "decode policy proposal %s: %v", id, err)
	}
	return r, nil
}

// savePolicyRecord writes r and, when it has just come into force, the
// pointer to it, in one synced batch. Caller holds mu.
func (is *Issuer) savePolicyRecord(id money.Hash, r *policyRecord, inForce bool) error {
	v, err := json.Marshal(r)
	if err != nil {
		return errcode.New(errcode.Internal, "encode policy proposal %s: %v", id, err)
	}
	b := is.db.NewBatch()
	b.Set(key(prefPolicy, id[:]), v)
	if inForce {
		b.Set(keyInForce, id[:])
	}
	if err := b.Commit(true); err != nil {
		return storeErr(err, "save policy proposal %s", id)
	}
	return nil
}

// viewPolicy turns a stored proposal into the contract's PolicyProposal.
// Caller holds mu.
func (is *Issuer) viewPolicy(id money.Hash, r *policyRecord) roles.PolicyProposal {
	return roles.PolicyProposal{
		ID:        id,
		Policy:    r.Policy,
		Status:    is.pol.status(id, r),
		Approvals: slices.Clone(r.Approvals),
		Quorum:    is.cfg.MintQuorum,
		Created:   r.Created,
	}
}

// Policy returns the version in force with its officers' approvals; anyone
// may read it (intermediaries verify it before applying it). Before any
// version is in force it is errcode.NotFound.
func (is *Issuer) Policy(ctx context.Context) (policy.Signed, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return policy.Signed{}, err
	}
	if is.pol.signed == nil {
		return policy.Signed{}, errNoPolicy
	}
	return cloneSigned(is.pol.signed), nil
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
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return roles.PolicyProposal{}, err
	}
	if want := is.pol.version() + 1; p.Version != want {
		return roles.PolicyProposal{}, errcode.New(errcode.Conflict, "policy version %d is in force: propose version %d, not %d", want-1, want, p.Version)
	}
	if has, err := is.db.Has(key(prefPolicy, id[:])); err != nil {
		return roles.PolicyProposal{}, storeErr(err, "read policy proposal %s", id)
	} else if has {
		return roles.PolicyProposal{}, errcode.New(errcode.Conflict, "policy proposal %s already exists", id)
	}
	r := &policyRecord{Policy: p, Approvals: []policy.Approval{}, Created: time.Now().UTC()}
	if err := is.savePolicyRecord(id, r, false); err != nil {
		return roles.PolicyProposal{}, err
	}
	is.log.Info("policy proposed", "id", id, "version", p.Version)
	return is.viewPolicy(id, r), nil
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
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return roles.PolicyProposal{}, err
	}
	r, err := is.getPolicyRecord(id)
	if err != nil {
		return roles.PolicyProposal{}, err
	}
	a.officer = is.mkeys[k] // under the lock: a key rotation changes it
	adopt, err := decidePolicyApproval(id, r, is.pol.status(id, r), a, is.cfg.MintQuorum)
	if err != nil {
		return roles.PolicyProposal{}, err
	}
	if err := is.savePolicyRecord(id, r, adopt); err != nil {
		return roles.PolicyProposal{}, err
	}
	if adopt {
		is.pol = policyState{id: id, signed: &policy.Signed{Policy: r.Policy, Approvals: slices.Clone(r.Approvals)}}
		is.log.Info("policy in force", "id", id, "version", r.Policy.Version, "approvals", len(r.Approvals))
	} else {
		is.log.Info("policy approved", "id", id, "by", k, "approvals", len(r.Approvals), "quorum", is.cfg.MintQuorum)
	}
	return is.viewPolicy(id, r), nil
}

// decidePolicyApproval is ApprovePolicy's decision, a pure function of the
// stored record r, its status now and the approval. It returns a rejection,
// or r with the approval added and whether r comes into force with it.
// The checks come in the order mints make them, so the same mistake gets
// the same code in both.
func decidePolicyApproval(id money.Hash, r *policyRecord, status string, a approver, quorum int) (bool, error) {
	if status != roles.PolicyPending {
		return false, errcode.New(errcode.Conflict, "policy proposal %s (version %d) is %s, not pending", id, r.Policy.Version, status)
	}
	if !a.officer {
		return false, errcode.New(errcode.Unauthorized, "key %s is not an officer key", a.key)
	}
	if slices.ContainsFunc(r.Approvals, func(x policy.Approval) bool { return x.Key == a.key }) {
		return false, errcode.New(errcode.Conflict, "key %s already approved policy proposal %s", a.key, id)
	}
	if !a.verified {
		return false, errcode.New(errcode.BadSignature, "approval of policy proposal %s by %s does not verify", id, a.key)
	}
	r.Approvals = append(r.Approvals, policy.Approval{Key: a.key, Sig: policy.Signature(a.sig)})
	if len(r.Approvals) < quorum {
		return false, nil
	}
	r.Adopted = true
	return true, nil
}

// GetPolicyProposal reports one policy proposal.
func (is *Issuer) GetPolicyProposal(ctx context.Context, id money.Hash) (roles.PolicyProposal, error) {
	if err := requireIssuerTo(ctx, "govern the policy"); err != nil {
		return roles.PolicyProposal{}, err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return roles.PolicyProposal{}, err
	}
	r, err := is.getPolicyRecord(id)
	if err != nil {
		return roles.PolicyProposal{}, err
	}
	return is.viewPolicy(id, r), nil
}

// ListPolicyProposals reports every policy proposal, by version and then
// by creation time.
func (is *Issuer) ListPolicyProposals(ctx context.Context) ([]roles.PolicyProposal, error) {
	if err := requireIssuerTo(ctx, "govern the policy"); err != nil {
		return nil, err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return nil, err
	}
	out := []roles.PolicyProposal{}
	err := is.db.Scan(prefPolicy, nil, func(k, v []byte) error {
		if len(k) != len(prefPolicy)+len(money.Hash{}) {
			return fmt.Errorf("bad policy proposal key %x", k)
		}
		id := money.Hash(k[len(prefPolicy):])
		r := new(policyRecord)
		if err := json.Unmarshal(v, r); err != nil {
			return fmt.Errorf("decode policy proposal %s: %w", id, err)
		}
		out = append(out, is.viewPolicy(id, r))
		return nil
	})
	if err != nil {
		return nil, storeErr(err, "list policy proposals")
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
