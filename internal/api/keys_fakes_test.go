package api_test

import (
	"context"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// The fake issuer's officer key governance (roles.KeyDesk), recorded like
// its other calls.

func testKeySet() policy.KeySet {
	return policy.KeySet{Network: testNet.ID, Version: 1, Keys: []crypto.PublicKey{key(4).Public(), key(5).Public()}, Quorum: 2}
}

func (f *fakeIssuer) KeySet(ctx context.Context) (policy.SignedKeySet, error) {
	if err := f.record(ctx, "KeySet"); err != nil {
		return policy.SignedKeySet{}, err
	}
	return policy.SignedKeySet{KeySet: testKeySet()}, nil
}

func (f *fakeIssuer) ProposeKeySet(ctx context.Context, k policy.KeySet) (roles.KeySetProposal, error) {
	if err := f.record(ctx, "ProposeKeySet", k); err != nil {
		return roles.KeySetProposal{}, err
	}
	return roles.KeySetProposal{ID: money.Hash(k.Hash()), KeySet: k, Status: roles.PolicyPending, Quorum: 2, Created: t0}, nil
}

func (f *fakeIssuer) ApproveKeySet(ctx context.Context, id money.Hash, k crypto.PublicKey, sig policy.Signature) (roles.KeySetProposal, error) {
	if err := f.record(ctx, "ApproveKeySet", id, k, sig); err != nil {
		return roles.KeySetProposal{}, err
	}
	ks := testKeySet()
	return roles.KeySetProposal{ID: id, KeySet: ks, Status: roles.PolicyPending, Approvals: []policy.Approval{{Key: k, Sig: sig}}, Quorum: 2, Created: t0}, nil
}

func (f *fakeIssuer) GetKeySetProposal(ctx context.Context, id money.Hash) (roles.KeySetProposal, error) {
	if err := f.record(ctx, "GetKeySetProposal", id); err != nil {
		return roles.KeySetProposal{}, err
	}
	return roles.KeySetProposal{ID: id, KeySet: testKeySet(), Status: roles.PolicyPending, Quorum: 2, Created: t0}, nil
}

// The fake ledger takes key rotations (roles.KeyRotator), recorded.
func (f *fakeLedger) RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	if err := f.record(ctx, "RotateMintKeys", s); err != nil {
		return roles.KeyEpoch{}, err
	}
	return roles.KeyEpoch{FromBatch: 2, KeySet: s}, nil
}
