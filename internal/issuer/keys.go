package issuer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Officer key rotation (roles.KeyDesk) runs like a policy change, by the
// quorum mechanism of governance.go: officers propose the next
// policy.KeySet, the quorum of the set in force approves it (domain
// crypto.KeySet), and with the approval that reaches the quorum the new
// set is in force: approvals of mints, policies and the next key set then
// count only from its keys, and an old key is refused (unauthorized).
// Version 1 is Config.MintKeys and MintQuorum.
//
// Store layout:
//
//	ks/<hash>    key set proposal record (JSON, field "key_set")
//	ks-in-force  the hash of the adopted proposal in force (32 bytes)
//
// Every adopted record is kept, so Open re-verifies the chain from the
// founding set to the set in force and refuses a store whose chain does
// not verify (a record edited on disk).
var keySets = &proposals[policy.KeySet]{
	noun:    "key set",
	field:   "key_set",
	prefix:  []byte("ks/"),
	inForce: []byte("ks-in-force"),
	version: func(k policy.KeySet) uint64 { return k.Version },
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
	inForce, found, err := keySets.pointer(is.db)
	if err != nil || !found {
		return err
	}
	adopted := map[uint64]*govRecord[policy.KeySet]{}
	ids := map[uint64]money.Hash{}
	err = keySets.scan(is.db, func(id money.Hash, r *govRecord[policy.KeySet]) error {
		if r.Adopted {
			if adopted[r.Doc.Version] != nil {
				return fmt.Errorf("two key sets adopted as version %d", r.Doc.Version)
			}
			adopted[r.Doc.Version] = r
			ids[r.Doc.Version] = money.Hash(r.Doc.Hash())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read key sets: %w", err)
	}
	for ver := uint64(2); adopted[ver] != nil; ver++ {
		s := policy.SignedKeySet{KeySet: adopted[ver].Doc, Approvals: adopted[ver].Approvals}
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

// keyView is what a key set proposal's status depends on. Caller holds mu.
func (is *Issuer) keyView() inForceView {
	return inForceView{id: is.keys.id, version: is.keys.signed.KeySet.Version}
}

func (is *Issuer) viewKeySet(id money.Hash, r *govRecord[policy.KeySet]) roles.KeySetProposal {
	return roles.KeySetProposal{
		ID:        id,
		KeySet:    cloneKeySet(r.Doc),
		Status:    keySets.status(id, r, is.keyView()),
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
	return governDesk(is, func() (policy.SignedKeySet, error) {
		return policy.SignedKeySet{KeySet: cloneKeySet(is.keys.signed.KeySet), Approvals: slices.Clone(is.keys.signed.Approvals)}, nil
	})
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
	return governDesk(is, func() (roles.KeySetProposal, error) {
		r, err := keySets.propose(is.db, id, cloneKeySet(k), is.keyView(), time.Now().UTC())
		if err != nil {
			return roles.KeySetProposal{}, err
		}
		is.log.Info("officer key set proposed", "id", id, "version", k.Version, "keys", len(k.Keys), "quorum", k.Quorum)
		return is.viewKeySet(id, r), nil
	})
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
	return governDesk(is, func() (roles.KeySetProposal, error) {
		a := approver{key: k, sig: sig, officer: is.mkeys[k], verified: verified}
		r, adopt, err := keySets.approve(is.db, id, a, is.keyView(), is.keys.signed.KeySet.Quorum)
		if err != nil {
			return roles.KeySetProposal{}, err
		}
		if adopt {
			old := is.keys.signed.KeySet
			signed := policy.SignedKeySet{KeySet: cloneKeySet(r.Doc), Approvals: slices.Clone(r.Approvals)}
			chain := append(is.keys.chain, signed)
			is.setKeys(id, signed)
			is.keys.chain = chain
			is.log.Info("officer key set in force", "id", id, "version", r.Doc.Version, "replaces", old.Version, "keys", len(r.Doc.Keys), "quorum", r.Doc.Quorum)
			adopted = true
		} else {
			is.log.Info("officer key set approved", "id", id, "by", k, "approvals", len(r.Approvals), "quorum", is.keys.signed.KeySet.Quorum)
		}
		return is.viewKeySet(id, r), nil
	})
}

// GetKeySetProposal reports one key set proposal.
func (is *Issuer) GetKeySetProposal(ctx context.Context, id money.Hash) (roles.KeySetProposal, error) {
	return getProposal(ctx, is, "govern the officer keys", keySets, id, is.viewKeySet)
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
		return fmt.Errorf("push key sets: this ledger connection takes no key rotation")
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
