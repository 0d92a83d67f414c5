package roles

import (
	"context"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
)

// KeyDesk is the issuer's governance of its officer keys: rotating a key
// (replacing a compromised or departing officer's key with one generated
// on the HSM) is proposing the next policy.KeySet and having the quorum of
// the set in force approve it, as for a policy version. Statuses are the
// policy ones (PolicyPending, PolicyInForce, PolicySuperseded,
// PolicyStale).
type KeyDesk interface {
	// KeySet is the officer key set in force with the approvals that put
	// it there (none for version 1, the network's founding set).
	KeySet(ctx context.Context) (policy.SignedKeySet, error)
	// ProposeKeySet records a draft of the next key set: valid, for this
	// network, numbered the version in force plus one.
	ProposeKeySet(ctx context.Context, k policy.KeySet) (KeySetProposal, error)
	// ApproveKeySet adds one officer's signature (domain crypto.KeySet)
	// over the proposal's ID. Only keys of the set in force count; at its
	// quorum the new set is in force and the old keys approve nothing.
	ApproveKeySet(ctx context.Context, id money.Hash, key crypto.PublicKey, sig policy.Signature) (KeySetProposal, error)
	// GetKeySetProposal reports one proposal; errcode.NotFound if none.
	GetKeySetProposal(ctx context.Context, id money.Hash) (KeySetProposal, error)
}

// KeySetProposal is a proposed officer key set and its approvals so far.
type KeySetProposal struct {
	ID        money.Hash        `json:"id"` // KeySet.Hash: what officers sign
	KeySet    policy.KeySet     `json:"key_set"`
	Status    string            `json:"status"`
	Approvals []policy.Approval `json:"approvals"`
	Quorum    int               `json:"quorum"` // approvals needed, from the set in force
	Created   time.Time         `json:"created"`
}

// KeyEpoch is an officer key set as the ledger applies it: from batch
// FromBatch on, mints need KeySet's quorum of its keys. The ledger's
// founding set (LedgerInfo.MintKeys) applies before the first epoch.
// Batch is the rotation batch that records it in the log (FromBatch is
// the one after it); 0 for an epoch a ledger recorded beside its log
// before rotations were batches, which no auditor can check against the
// log.
type KeyEpoch struct {
	FromBatch uint64              `json:"from_batch"`
	Batch     uint64              `json:"batch,omitempty"`
	KeySet    policy.SignedKeySet `json:"key_set"`
}

// KeyRotator is the ledger's side of a key rotation: the issuer hands it
// each officer key set that came into force, and the ledger, having
// checked the approvals against the set it applies now, applies the new
// one from its next batch. Applying a set already applied answers the
// same epoch, so the issuer can retry.
type KeyRotator interface {
	RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (KeyEpoch, error)
}
