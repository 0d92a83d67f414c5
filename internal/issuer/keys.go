package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Officer key rotation (roles.KeyDesk) runs like a policy change: officers
// propose the next policy.KeySet, the quorum of the set in force approves
// it (domain crypto.KeySet), and with the approval that reaches the quorum
// the new set is in force: approvals of mints, policies and the next key
// set then count only from its keys, and an old key is refused
// (unauthorized). Version 1 is Config.MintKeys and MintQuorum.
//
// Store layout:
//
//	ks/<hash>    key set proposal record (JSON, keySetRecord)
//	ks-in-force  the hash of the adopted proposal in force (32 bytes)
//
// Every adopted record is kept, so Open re-verifies the chain from the
// founding set to the set in force and refuses a store whose chain does
// not verify (a record edited on disk).
var (
	prefKeySet    = []byte("ks/")
	keyKeyInForce = []byte("ks-in-force")
)

// keySetRecord is a key set proposal as stored.
type keySetRecord struct {
	KeySet    policy.KeySet     `json:"key_set"`
	Approvals []policy.Approval `json:"approvals"`
	Adopted   bool              `json:"adopted"`
	Created   time.Time         `json:"created"`
}

// keyState is the officer key set in force. Guarded by mu; mkeys,
// cfg.MintKeys and cfg.MintQuorum always mirror it.
type keyState struct {
	id     money.Hash // zero for version 1
	signed policy.SignedKeySet
	chain  []policy.SignedKeySet // every adopted set after the founding one, oldest first
}

// founding is version 1 of the key set: the configured one.
func (is *Issuer) founding() policy.KeySet {
	return policy.KeySet{Network: is.cfg.Network.ID, Version: 1, Keys: slices.Clone(is.cfg.MintKeys), Quorum: is.cfg.MintQuorum}
}

// setKeys puts ks in force in memory. Caller holds mu (or is Open).
func (is *Issuer) setKeys(id money.Hash, s policy.SignedKeySet) {
	is.keys = keyState{id: id, signed: s}
	is.cfg.MintKeys = slices.Clone(s.KeySet.Keys)
	is.cfg.MintQuorum = s.KeySet.Quorum
	is.mkeys = make(map[crypto.PublicKey]bool, len(s.KeySet.Keys))
	for _, k := range s.KeySet.Keys {
		is.mkeys[k] = true
	}
}

// loadKeySets puts the key set in force after verifying every adopted set
// from the founding one. Called by Open before anything else reads keys.
func (is *Issuer) loadKeySets() error {
	cur := is.founding()
	is.setKeys(money.Hash{}, policy.SignedKeySet{KeySet: cur})
	v, err := is.db.Get(keyKeyInForce)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read key set in force: %w", err)
	}
	if len(v) != len(money.Hash{}) {
		return fmt.Errorf("key set in force: %d bytes, want %d", len(v), len(money.Hash{}))
	}
	inForce := money.Hash(v)
	adopted := map[uint64]*keySetRecord{}
	ids := map[uint64]money.Hash{}
	err = is.db.Scan(prefKeySet, nil, func(k, v []byte) error {
		r := new(keySetRecord)
		if err := json.Unmarshal(v, r); err != nil {
			return fmt.Errorf("decode key set proposal %x: %w", k, err)
		}
		if r.Adopted {
			if adopted[r.KeySet.Version] != nil {
				return fmt.Errorf("two key sets adopted as version %d", r.KeySet.Version)
			}
			adopted[r.KeySet.Version] = r
			ids[r.KeySet.Version] = money.Hash(r.KeySet.Hash())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read key sets: %w", err)
	}
	for ver := uint64(2); adopted[ver] != nil; ver++ {
		s := policy.SignedKeySet{KeySet: adopted[ver].KeySet, Approvals: adopted[ver].Approvals}
		if err := s.Verify(&cur); err != nil {
			return fmt.Errorf("key set version %d: %w", ver, err)
		}
		chain := append(is.keys.chain, s)
		is.setKeys(ids[ver], s)
		is.keys.chain = chain
		cur = s.KeySet
	}
	if is.keys.id != inForce {
		return fmt.Errorf("key set in force %s is not the last of the verified chain (version %d, %s)", inForce, cur.Version, is.keys.id)
	}
	is.log.Info("officer key set in force", "version", cur.Version, "keys", len(cur.Keys), "quorum", cur.Quorum)
	return nil
}

func (is *Issuer) getKeySetRecord(id money.Hash) (*keySetRecord, error) {
	v, err := is.db.Get(key(prefKeySet, id[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errcode.New(errcode.NotFound, "no key set proposal %s", id)
	}
	if err != nil {
		return nil, storeErr(err, "read key set proposal %s", id)
	}
	r := new(keySetRecord)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, errcode.New(errcode.Internal, "decode key set proposal %s: %v", id, err)
	}
	return r, nil
}

// saveKeySetRecord writes r and, when it has just come into force, the
// pointer to it, in one synced batch: a crash leaves the old set in force
// and the approval unrecorded, or both written. Caller holds mu.
func (is *Issuer) saveKeySetRecord(id money.Hash, r *keySetRecord, inForce bool) error {
	v, err := json.Marshal(r)
	if err != nil {
		return errcode.New(errcode.Internal, "encode key set proposal %s: %v", id, err)
	}
	b := is.db.NewBatch()
	b.Set(key(prefKeySet, id[:]), v)
	if inForce {
		b.Set(keyKeyInForce, id[:])
	}
	if err := b.Commit(true); err != nil {
		return storeErr(err, "save key set proposal %s", id)
	}
	return nil
}

// keySetStatus is what a stored proposal is now. Caller holds mu.
func (is *Issuer) keySetStatus(id money.Hash, r *keySetRecord) string {
	switch {
	case r.Adopted && id == is.keys.id:
		return roles.PolicyInForce
	case r.Adopted:
		return roles.PolicySuperseded
	case r.KeySet.Version <= is.keys.signed.KeySet.Version:
		return roles.PolicyStale
	}
	return roles.PolicyPending
}

func (is *Issuer) viewKeySet(id money.Hash, r *keySetRecord) roles.KeySetProposal {
	return roles.KeySetProposal{
		ID:        id,
		KeySet:    cloneKeySet(r.KeySet),
		Status:    is.keySetStatus(id, r),
		Approvals: slices.Clone(r.Approvals),
		Quorum:    is.keys.signed.KeySet.Quorum,
		Created:   r.Created,
	}
}

func cloneKeySet(k policy.KeySet) policy.KeySet {
	k.Keys = slices.Clone(k.Keys)
	return k
}

// KeySet reports the officer key set in force with its approvals. Anyone
// may read it: whoever checks a mint's or a policy's approvals needs it.
func (is *Issuer) KeySet(ctx context.Context) (policy.SignedKeySet, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return policy.SignedKeySet{}, err
	}
	return policy.SignedKeySet{KeySet: cloneKeySet(is.keys.signed.KeySet), Approvals: slices.Clone(is.keys.signed.Approvals)}, nil
}

// ProposeKeySet records a draft of the next officer key set.
func (is *Issuer) ProposeKeySet(ctx context.Context, k policy.KeySet) (roles.KeySetProposal, error) {
	if err := requireIssuerTo(ctx, "govern the officer keys"); err != nil {
		return roles.KeySetProposal{}, err
	}
	if err := k.Validate(); err != nil {
		return roles.KeySetProposal{}, errcode.New(errcode.Malformed, "%v", err)
	}
	if k.Network != is.cfg.Network.ID {
		return roles.KeySetProposal{}, errcode.New(errcode.Malformed, "key set is for network %q; this is %q", k.Network, is.cfg.Network.ID)
	}
	if k.Quorum > money.MaxAuth {
		return roles.KeySetProposal{}, errcode.New(errcode.Malformed, "quorum %d exceeds %d signatures per transaction", k.Quorum, money.MaxAuth)
	}
	id := money.Hash(k.Hash())
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return roles.KeySetProposal{}, err
	}
	if want := is.keys.signed.KeySet.Version + 1; k.Version != want {
		return roles.KeySetProposal{}, errcode.New(errcode.Conflict, "key set version %d is in force: propose version %d, not %d", want-1, want, k.Version)
	}
	if has, err := is.db.Has(key(prefKeySet, id[:])); err != nil {
		return roles.KeySetProposal{}, storeErr(err, "read key set proposal %s", id)
	} else if has {
		return roles.KeySetProposal{}, errcode.New(errcode.Conflict, "key set proposal %s already exists", id)
	}
	r := &keySetRecord{KeySet: cloneKeySet(k), Approvals: []policy.Approval{}, Created: time.Now().UTC()}
	if err := is.saveKeySetRecord(id, r, false); err != nil {
		return roles.KeySetProposal{}, err
	}
	is.log.Info("officer key set proposed", "id", id, "version", k.Version, "keys", len(k.Keys), "quorum", k.Quorum)
	return is.viewKeySet(id, r), nil
}

// ApproveKeySet records one officer's approval; at the quorum of the set
// in force the proposal comes into force, in the same write.
func (is *Issuer) ApproveKeySet(ctx context.Context, id money.Hash, k crypto.PublicKey, sig policy.Signature) (roles.KeySetProposal, error) {
	if err := requireIssuerTo(ctx, "govern the officer keys"); err != nil {
		return roles.KeySetProposal{}, err
	}
	verified := crypto.Verify(k, crypto.KeySet, is.cfg.Network.ID, id, sig)
	adopted := false
	defer func() {
		// After the lock is released (deferred calls run last first): the
		// ledger applies the set in force from its next batch. A failure
		// is retried by the background loop and at the next Open.
		if adopted {
			if err := is.pushKeySets(ctx); err != nil {
				is.log.Warn("the ledger has not applied the officer key set in force yet; retrying in the background", "err", err)
			}
		}
	}()
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return roles.KeySetProposal{}, err
	}
	r, err := is.getKeySetRecord(id)
	if err != nil {
		return roles.KeySetProposal{}, err
	}
	a := approver{key: k, sig: sig, officer: is.mkeys[k], verified: verified}
	adopt, err := decideKeySetApproval(id, r, is.keySetStatus(id, r), a, is.keys.signed.KeySet.Quorum)
	if err != nil {
		return roles.KeySetProposal{}, err
	}
	if err := is.saveKeySetRecord(id, r, adopt); err != nil {
		return roles.KeySetProposal{}, err
	}
	if adopt {
		old := is.keys.signed.KeySet
		signed := policy.SignedKeySet{KeySet: cloneKeySet(r.KeySet), Approvals: slices.Clone(r.Approvals)}
		chain := append(is.keys.chain, signed)
		is.setKeys(id, signed)
		is.keys.chain = chain
		is.log.Info("officer key set in force", "id", id, "version", r.KeySet.Version, "replaces", old.Version, "keys", len(r.KeySet.Keys), "quorum", r.KeySet.Quorum)
		adopted = true
	} else {
		is.log.Info("officer key set approved", "id", id, "by", k, "approvals", len(r.Approvals), "quorum", is.keys.signed.KeySet.Quorum)
	}
	return is.viewKeySet(id, r), nil
}

// decideKeySetApproval is ApproveKeySet's decision, a pure function of the
// stored record, its status and the approval, with the checks in the
// order mints and policies make them.
func decideKeySetApproval(id money.Hash, r *keySetRecord, status string, a approver, quorum int) (bool, error) {
	if status != roles.PolicyPending {
		return false, errcode.New(errcode.Conflict, "key set proposal %s (version %d) is %s, not pending", id, r.KeySet.Version, status)
	}
	if !a.officer {
		return false, errcode.New(errcode.Unauthorized, "key %s is not an officer key of the set in force", a.key)
	}
	if slices.ContainsFunc(r.Approvals, func(x policy.Approval) bool { return x.Key == a.key }) {
		return false, errcode.New(errcode.Conflict, "key %s already approved key set proposal %s", a.key, id)
	}
	if !a.verified {
		return false, errcode.New(errcode.BadSignature, "approval of key set proposal %s by %s does not verify", id, a.key)
	}
	r.Approvals = append(r.Approvals, policy.Approval{Key: a.key, Sig: policy.Signature(a.sig)})
	if len(r.Approvals) < quorum {
		return false, nil
	}
	r.Adopted = true
	return true, nil
}

// GetKeySetProposal reports one key set proposal.
func (is *Issuer) GetKeySetProposal(ctx context.Context, id money.Hash) (roles.KeySetProposal, error) {
	if err := requireIssuerTo(ctx, "govern the officer keys"); err != nil {
		return roles.KeySetProposal{}, err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.usable(); err != nil {
		return roles.KeySetProposal{}, err
	}
	r, err := is.getKeySetRecord(id)
	if err != nil {
		return roles.KeySetProposal{}, err
	}
	return is.viewKeySet(id, r), nil
}

var _ roles.KeyDesk = (*Issuer)(nil)

// pushKeySets hands the ledger, when it takes rotations
// (roles.KeyRotator), every adopted key set it has not applied yet, in
// order. Applying one twice is harmless: the ledger answers the same
// epoch.
func (is *Issuer) pushKeySets(ctx context.Context) error {
	is.mu.Lock()
	chain := slices.Clone(is.keys.chain)
	is.mu.Unlock()
	if len(chain) == 0 {
		return nil
	}
	rot, ok := is.ledger.(roles.KeyRotator)
	if !ok {
		return fmt.Errorf("push key sets: this ledger connection takes no key rotation (a replicated ledger does not yet)")
	}
	info, err := is.ledger.Info(ctx)
	if err != nil {
		return fmt.Errorf("push key sets: %w", err)
	}
	applied := uint64(1)
	if n := len(info.KeySets); n > 0 {
		applied = info.KeySets[n-1].KeySet.KeySet.Version
	}
	for _, s := range chain {
		if s.KeySet.Version <= applied {
			continue
		}
		e, err := rot.RotateMintKeys(roles.WithCaller(ctx, self), s)
		if err != nil {
			return fmt.Errorf("push key set version %d: %w", s.KeySet.Version, err)
		}
		is.log.Info("the ledger applies the officer key set", "version", s.KeySet.Version, "from_batch", e.FromBatch)
	}
	return nil
}
