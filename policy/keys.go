package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/specie/specie/crypto"
)

// KeySet is the issuer's officer keys with the quorum of them that a mint,
// a policy version or the next key set needs. Version 1 is the set the
// network was created with; rotating an officer key is proposing version
// n+1 and having the quorum of version n approve it (SignedKeySet.Verify),
// as a policy change is decided, so no single officer, and no operator
// editing a config file, can change who creates money.
type KeySet struct {
	Network string             `json:"network"`
	Version uint64             `json:"version"`
	Keys    []crypto.PublicKey `json:"keys"`
	Quorum  int                `json:"quorum"`
}

// MaxOfficers bounds a key set: more would not fit a mint's signatures.
const MaxOfficers = 16

// ErrKeySet reports an invalid key set or one not approved by the quorum
// of the set before it.
var ErrKeySet = errors.New("invalid key set")

// Validate checks k on its own: a network, a version, 1 to MaxOfficers
// distinct keys and a quorum between 1 and their number.
func (k *KeySet) Validate() error {
	switch {
	case k.Network == "":
		return fmt.Errorf("%w: no network", ErrKeySet)
	case k.Version < 1:
		return fmt.Errorf("%w: version %d, the first is 1", ErrKeySet, k.Version)
	case len(k.Keys) < 1 || len(k.Keys) > MaxOfficers:
		return fmt.Errorf("%w: %d keys, want 1 to %d", ErrKeySet, len(k.Keys), MaxOfficers)
	case k.Quorum < 1 || k.Quorum > len(k.Keys):
		return fmt.Errorf("%w: quorum %d of %d keys", ErrKeySet, k.Quorum, len(k.Keys))
	}
	for i, key := range k.Keys {
		if slices.Contains(k.Keys[:i], key) {
			return fmt.Errorf("%w: key %s listed twice", ErrKeySet, key)
		}
	}
	return nil
}

// Hash is what an officer's approval signs (domain crypto.KeySet, bound to
// the network): SHA-256 over a fixed binary encoding, so the same set in
// the same order always has the same ID.
func (k *KeySet) Hash() [32]byte {
	b := make([]byte, 0, 64+len(k.Network)+32*len(k.Keys))
	b = append(b, "specie/keyset/v1\x00"...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.Network)))
	b = append(b, k.Network...)
	b = binary.BigEndian.AppendUint64(b, k.Version)
	b = binary.BigEndian.AppendUint32(b, uint32(k.Quorum))
	b = binary.BigEndian.AppendUint32(b, uint32(len(k.Keys)))
	for _, key := range k.Keys {
		b = append(b, key[:]...)
	}
	return sha256.Sum256(b)
}

// Has reports whether key is one of the set's officer keys.
func (k *KeySet) Has(key crypto.PublicKey) bool { return slices.Contains(k.Keys, key) }

// SignKeySet is officer s's approval of k.
func SignKeySet(k *KeySet, s crypto.Signer) (Approval, error) {
	sig, err := s.TrySign(crypto.KeySet, k.Network, k.Hash())
	if err != nil {
		return Approval{}, fmt.Errorf("sign key set version %d: %w", k.Version, err)
	}
	return Approval{Key: s.Public(), Sig: sig}, nil
}

// SignedKeySet is a key set with the approvals that put it in force.
type SignedKeySet struct {
	KeySet    KeySet     `json:"key_set"`
	Approvals []Approval `json:"approvals"`
}

// Verify checks that s follows prev: valid, on prev's network, numbered
// prev's version plus one, and approved by at least prev's quorum of
// distinct keys of prev, every signature good.
func (s *SignedKeySet) Verify(prev *KeySet) error {
	if err := s.KeySet.Validate(); err != nil {
		return err
	}
	if s.KeySet.Network != prev.Network {
		return fmt.Errorf("%w: for network %q, not %q", ErrKeySet, s.KeySet.Network, prev.Network)
	}
	if s.KeySet.Version != prev.Version+1 {
		return fmt.Errorf("%w: version %d does not follow version %d", ErrKeySet, s.KeySet.Version, prev.Version)
	}
	h := s.KeySet.Hash()
	var good []crypto.PublicKey
	for _, a := range s.Approvals {
		if !prev.Has(a.Key) {
			return fmt.Errorf("%w: approved by %s, not an officer key of version %d", ErrKeySet, a.Key, prev.Version)
		}
		if slices.Contains(good, a.Key) {
			return fmt.Errorf("%w: %s approved twice", ErrKeySet, a.Key)
		}
		if !crypto.Verify(a.Key, crypto.KeySet, prev.Network, h, a.Sig) {
			return fmt.Errorf("%w: bad signature by %s", ErrKeySet, a.Key)
		}
		good = append(good, a.Key)
	}
	if len(good) < prev.Quorum {
		return fmt.Errorf("%w: %d of the %d approvals version %d needs", ErrKeySet, len(good), prev.Quorum, prev.Version)
	}
	return nil
}
