package policy_test

import (
	"errors"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/policy"
)

// TestSignedKeySetVerify: a rotation verifies only when it follows the
// set before it and carries that set's quorum of good approvals.
func TestSignedKeySetVerify(t *testing.T) {
	var officers []*crypto.PrivateKey
	for range 3 {
		k, _ := crypto.GenerateKey()
		officers = append(officers, k)
	}
	fresh, _ := crypto.GenerateKey()
	prev := policy.KeySet{Network: "net", Version: 1, Quorum: 2}
	for _, k := range officers {
		prev.Keys = append(prev.Keys, k.Public())
	}
	next := policy.KeySet{Network: "net", Version: 2, Quorum: 2, Keys: []crypto.PublicKey{fresh.Public(), officers[1].Public(), officers[2].Public()}}
	sign := func(k *policy.KeySet, by ...crypto.Signer) policy.SignedKeySet {
		s := policy.SignedKeySet{KeySet: *k}
		for _, o := range by {
			a, err := policy.SignKeySet(k, o)
			if err != nil {
				t.Fatal(err)
			}
			s.Approvals = append(s.Approvals, a)
		}
		return s
	}
	wrongVersion, wrongNet, invalid := next, next, next
	wrongVersion.Version = 3
	wrongNet.Network = "other"
	invalid.Quorum = 5
	forged := sign(&next, officers[0], officers[1])
	forged.Approvals[1].Sig[3] ^= 1
	for _, c := range []struct {
		name string
		s    policy.SignedKeySet
		ok   bool
	}{
		{"quorum of the old set", sign(&next, officers[0], officers[2]), true},
		{"all old officers", sign(&next, officers[0], officers[1], officers[2]), true},
		{"one approval", sign(&next, officers[0]), false},
		{"approved by the new key", sign(&next, fresh, officers[1]), false},
		{"one officer twice", sign(&next, officers[1], officers[1]), false},
		{"forged signature", forged, false},
		{"skips a version", sign(&wrongVersion, officers[0], officers[1]), false},
		{"other network", sign(&wrongNet, officers[0], officers[1]), false},
		{"invalid set", sign(&invalid, officers[0], officers[1]), false},
	} {
		err := c.s.Verify(&prev)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, policy.ErrKeySet) {
			t.Errorf("%s: %v is not ErrKeySet", c.name, err)
		}
	}
	// Order matters to the hash: the same keys in another order are
	// another set, so an approval cannot be moved between them.
	swapped := next
	swapped.Keys = []crypto.PublicKey{next.Keys[1], next.Keys[0], next.Keys[2]}
	if swapped.Hash() == next.Hash() {
		t.Fatal("reordered key set hashes the same")
	}
}
