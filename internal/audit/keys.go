package audit

import (
	"fmt"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// CheckKeySet reports an officer key rotation the ledger serves (GET
// /v1/info key_sets) that does not follow the set before it: not
// approved by that set's quorum, out of order, or starting before the
// one before it. Its epoch and every later one are ignored: mints keep
// being checked against the last set that verified.
const CheckKeySet = "key_set"

// epoch is a verified rotation: from batch on, mints need trust's quorum
// of mint's keys.
type epoch struct {
	from  uint64
	trust Trust
	mint  map[crypto.PublicKey]bool
}

// loadEpochs verifies the served rotations as a chain from the trusted
// founding keys and keeps those that verify, in order. Nothing but the
// trusted keys is taken on faith: a rotation counts only with the
// approvals of the set before it.
func (a *run) loadEpochs(served []roles.KeyEpoch) {
	cur := policy.KeySet{Network: a.trust.Network.ID, Version: 1, Keys: a.trust.MintKeys, Quorum: a.trust.MintQuorum}
	var last uint64
	for i, e := range served {
		err := e.KeySet.Verify(&cur)
		if err == nil && (e.FromBatch == 0 || e.FromBatch < last) {
			err = fmt.Errorf("applies from batch %d, before the rotation before it (batch %d)", e.FromBatch, last)
		}
		if err != nil {
			a.find(Finding{Batch: e.FromBatch, Tx: -1, Input: -1, Field: fmt.Sprintf("key_sets[%d]", i), Check: CheckKeySet,
				Message: fmt.Sprintf("officer key set version %d does not follow version %d: %v; mints are checked against version %d", e.KeySet.KeySet.Version, cur.Version, err, cur.Version)})
			return
		}
		t := a.trust
		t.MintKeys, t.MintQuorum = e.KeySet.KeySet.Keys, e.KeySet.KeySet.Quorum
		a.epochs = append(a.epochs, epoch{from: e.FromBatch, trust: t, mint: keySet(t.MintKeys)})
		cur, last = e.KeySet.KeySet, e.FromBatch
	}
}

// keysAt is the trust batch seq's mints are checked against: the last
// verified rotation applying from seq or before, else the founding keys.
func (a *run) keysAt(seq uint64) (*Trust, map[crypto.PublicKey]bool) {
	for i := len(a.epochs) - 1; i >= 0; i-- {
		if a.epochs[i].from <= seq {
			return &a.epochs[i].trust, a.epochs[i].mint
		}
	}
	return &a.trust, a.mintKeys
}
