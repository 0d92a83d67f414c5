package audit

import (
	"context"
	"fmt"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// CheckKeySet reports an officer key rotation that does not follow the
// set before it: a rotation batch of the log whose rotation record does
// not decode, is not approved by the quorum of the set in force, or skips
// a version (found at its batch; mints keep being checked against the
// last set that verified), or rotations GET /v1/info key_sets serves that
// are not the log's (found at the log's rotation batch, or at the served
// one's when the log has none).
const CheckKeySet = "key_set"

// epoch is a verified rotation: from batch on, mints need trust's quorum
// of mint's keys.
type epoch struct {
	from  uint64
	trust Trust
	mint  map[crypto.PublicKey]bool
}

// savedRotation is a rotation verified in the log, as the auditor's state
// keeps it: the batch that holds it, the set it put in force, and the ID
// of its rotation record (what the batch's header commits to).
type savedRotation struct {
	Batch  uint64        `json:"batch"`
	KeySet policy.KeySet `json:"key_set"`
	ID     money.Hash    `json:"id"`
}

// loadEpochs rebuilds the epochs from the rotations earlier runs verified.
func (a *run) loadEpochs() {
	for _, r := range a.m.Rotations {
		a.addEpoch(r)
	}
}

func (a *run) addEpoch(r savedRotation) {
	t := a.trust
	t.MintKeys, t.MintQuorum = r.KeySet.Keys, r.KeySet.Quorum
	a.epochs = append(a.epochs, epoch{from: r.Batch + 1, trust: t, mint: keySet(t.MintKeys)})
}

// current is the key set in force after the last verified rotation, or
// the trusted founding set.
func (a *run) current() policy.KeySet {
	if n := len(a.m.Rotations); n > 0 {
		return a.m.Rotations[n-1].KeySet
	}
	return policy.KeySet{Network: a.trust.Network.ID, Version: 1, Keys: a.trust.MintKeys, Quorum: a.trust.MintQuorum}
}

// rotate checks the rotation record of batch seq, whose header commits to
// it, against the set in force, and follows it from the next batch when
// it verifies. Nothing but the trusted keys is taken on faith: a rotation
// counts only with the approvals of the set before it.
func (a *run) rotate(seq uint64, rec []byte) {
	cur := a.current()
	var s policy.SignedKeySet
	err := s.UnmarshalBinary(rec)
	if err == nil {
		err = s.Verify(&cur)
	}
	if err != nil {
		a.find(Finding{Batch: seq, Tx: -1, Input: -1, Field: "key_set", Check: CheckKeySet,
			Message: fmt.Sprintf("the rotation logged in batch %d does not follow officer key set version %d: %v; mints are checked against version %d", seq, cur.Version, err, cur.Version)})
		return
	}
	r := savedRotation{Batch: seq, KeySet: s.KeySet, ID: money.Hash(policy.RotationID(rec))}
	a.m.Rotations = append(a.m.Rotations, r)
	a.addEpoch(r)
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

// checkServedKeySets compares the rotations GET /v1/info serves (read
// after the replay, so it covers every batch replayed) with the ones
// verified in the log: the same sets, in the same batches. A served
// rotation past the replayed head was committed since, and is left to the
// next run.
func (a *run) checkServedKeySets(ctx context.Context, l roles.Ledger) {
	info, err := l.Info(ctx)
	if err != nil {
		a.find(Finding{Tx: -1, Input: -1, Field: "info", Check: CheckUnavailable, Message: fmt.Sprintf("info after the replay: %v", err)})
		return
	}
	var head uint64
	if a.m.Head != nil {
		head = a.m.Head.Seq
	}
	bad := func(batch uint64, field, format string, args ...any) {
		a.find(Finding{Batch: batch, Tx: -1, Input: -1, Field: field, Check: CheckKeySet, Message: fmt.Sprintf(format, args...)})
	}
	logged := a.m.Rotations
	for i, e := range info.KeySets {
		field := fmt.Sprintf("info.key_sets[%d]", i)
		if i >= len(logged) {
			if e.Batch == 0 || e.Batch <= head {
				bad(max(e.Batch, e.FromBatch), field, "GET /v1/info serves officer key set version %d from batch %d (recorded in batch %d), which the log does not hold", e.KeySet.KeySet.Version, e.FromBatch, e.Batch)
			}
			continue
		}
		r := logged[i]
		if e.Batch != r.Batch || e.FromBatch != r.Batch+1 || e.KeySet.KeySet.Hash() != r.KeySet.Hash() {
			bad(r.Batch, field, "GET /v1/info serves officer key set version %d recorded in batch %d from batch %d; the log holds version %d in batch %d, from batch %d", e.KeySet.KeySet.Version, e.Batch, e.FromBatch, r.KeySet.Version, r.Batch, r.Batch+1)
			continue
		}
		if b, err := e.KeySet.MarshalBinary(); err != nil || money.Hash(policy.RotationID(b)) != r.ID {
			bad(r.Batch, field, "GET /v1/info serves the approvals of officer key set version %d otherwise than the log's rotation record in batch %d", r.KeySet.Version, r.Batch)
		}
	}
	for i := len(info.KeySets); i < len(logged); i++ {
		bad(logged[i].Batch, "info.key_sets", "GET /v1/info does not serve officer key set version %d, which the log holds in batch %d", logged[i].KeySet.Version, logged[i].Batch)
	}
}
