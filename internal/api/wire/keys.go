package wire

import (
	"time"

	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// KeySetRequest is POST /v1/issuer/keysets: the proposed next officer key
// set.
type KeySetRequest struct {
	KeySet policy.KeySet `json:"key_set"`
}

// KeySetProposal is a key set proposal as served.
type KeySetProposal struct {
	ID        money.Hash        `json:"id"`
	Status    string            `json:"status"`
	KeySet    policy.KeySet     `json:"key_set"`
	Approvals []policy.Approval `json:"approvals"`
	Quorum    int               `json:"quorum"`
	Created   time.Time         `json:"created"`
}

// FromKeySetProposal converts a key set proposal for the wire; empty
// lists are [] rather than null.
func FromKeySetProposal(p roles.KeySetProposal) KeySetProposal {
	out := KeySetProposal{ID: p.ID, Status: p.Status, KeySet: p.KeySet, Approvals: p.Approvals, Quorum: p.Quorum, Created: p.Created}
	if out.Approvals == nil {
		out.Approvals = []policy.Approval{}
	}
	return out
}

// ToKeySetProposal converts back a key set proposal.
func (w KeySetProposal) ToKeySetProposal() roles.KeySetProposal {
	return roles.KeySetProposal{ID: w.ID, Status: w.Status, KeySet: w.KeySet, Approvals: nilIfEmpty(w.Approvals), Quorum: w.Quorum, Created: w.Created}
}

// FromSignedKeySet converts the key set in force for the wire.
func FromSignedKeySet(s policy.SignedKeySet) policy.SignedKeySet {
	if s.Approvals == nil {
		s.Approvals = []policy.Approval{}
	}
	return s
}
