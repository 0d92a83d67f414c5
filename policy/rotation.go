package policy

import (
	"crypto/sha256"
	"fmt"
	"math"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/codec"
)

// A rotation record is a SignedKeySet in the canonical binary form the
// ledger's log carries it in (a rotation batch, internal/ledger) and an
// auditor reads it back from (GET /v1/log/batches/{seq}): the log commits
// to these exact bytes through RotationID, so a set whose keys, quorum or
// approvals were changed after it was logged no longer matches its batch.
//
//	+---------+-------------+---------+---------+--------+-----------+
//	| version | network len | network | version | quorum | key count |
//	| u8 = 1  |     u16     |         |   u64   |  u32   |    u32    |
//	+---------+-------------+---------+---------+--------+-----------+
//	| key count x public key (32)                                    |
//	+----------------+-----------------------------------------------+
//	| approvals  u32 | approvals x (key (32), signature (64))        |
//	+----------------+-----------------------------------------------+
//
// Integers are big-endian. The decoder is strict (short input, trailing
// bytes, more than MaxOfficers keys or approvals are errors) and whatever
// it accepts re-encodes to the same bytes; it checks the shape only:
// whether the set is valid and approved is SignedKeySet.Verify's part.
const rotationVersion = 1

const tagRotation = "specie/rotation/v1\x00"

// MarshalBinary is s's rotation record. It fails only for a set that
// could not be valid: more than MaxOfficers keys or approvals, a quorum
// outside 0..2^32-1, or a network name over 65535 bytes.
func (s *SignedKeySet) MarshalBinary() ([]byte, error) {
	k := &s.KeySet
	if len(k.Keys) > MaxOfficers || len(s.Approvals) > MaxOfficers || k.Quorum < 0 || int64(k.Quorum) > math.MaxUint32 || len(k.Network) > math.MaxUint16 {
		return nil, fmt.Errorf("%w: cannot encode %d keys, %d approvals, quorum %d", ErrKeySet, len(k.Keys), len(s.Approvals), k.Quorum)
	}
	w := codec.NewWriter(make([]byte, 0, 1+2+len(k.Network)+8+4+4+32*len(k.Keys)+4+96*len(s.Approvals)))
	w = w.U8(rotationVersion).U16(uint16(len(k.Network))).Put([]byte(k.Network))
	w = w.U64(k.Version).U32(uint32(k.Quorum)).U32(uint32(len(k.Keys)))
	for i := range k.Keys {
		w = w.Put(k.Keys[i][:])
	}
	w = w.U32(uint32(len(s.Approvals)))
	for i := range s.Approvals {
		w = w.Put(s.Approvals[i].Key[:]).Put(s.Approvals[i].Sig[:])
	}
	return w.Bytes(), nil
}

// UnmarshalBinary decodes a rotation record strictly; on error s is left
// unchanged.
func (s *SignedKeySet) UnmarshalBinary(b []byte) error {
	var v SignedKeySet
	r := codec.NewReader(b)
	if ver := r.U8(); ver != rotationVersion && r.Err() == nil {
		return fmt.Errorf("rotation record version %d", ver)
	}
	v.KeySet.Network = string(r.Take(int(r.U16())))
	v.KeySet.Version = r.U64()
	v.KeySet.Quorum = int(r.U32())
	nk := uint64(r.U32())
	if nk > MaxOfficers && r.Err() == nil {
		return fmt.Errorf("rotation record: %d keys, at most %d", nk, MaxOfficers)
	}
	if n := r.Count(nk, 32); n > 0 {
		v.KeySet.Keys = make([]crypto.PublicKey, n)
		for i := range v.KeySet.Keys {
			r.Copy(v.KeySet.Keys[i][:])
		}
	}
	na := uint64(r.U32())
	if na > MaxOfficers && r.Err() == nil {
		return fmt.Errorf("rotation record: %d approvals, at most %d", na, MaxOfficers)
	}
	if n := r.Count(na, 32+64); n > 0 {
		v.Approvals = make([]Approval, n)
		for i := range v.Approvals {
			r.Copy(v.Approvals[i].Key[:])
			r.Copy(v.Approvals[i].Sig[:])
		}
	}
	if err := r.End(); err != nil {
		return fmt.Errorf("rotation record: %w", err)
	}
	*s = v
	return nil
}

// RotationID is what a rotation batch commits to in place of a txid (its
// header's one Merkle leaf): the SHA-256 of a rotation record, domain
// separated from txids. The record names its network, so the ID does too.
func RotationID(record []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagRotation))
	h.Write(record)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
