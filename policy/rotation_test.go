package policy_test

import (
	"bytes"
	mrand "math/rand/v2"
	"reflect"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/policy"
)

// rotationOf is a set of n keys approved by a approvals, drawn from seed.
func rotationOf(seed uint64) policy.SignedKeySet {
	rng := mrand.New(mrand.NewPCG(seed, 7))
	s := policy.SignedKeySet{KeySet: policy.KeySet{Network: "net-" + string(rune('a'+rng.IntN(26))), Version: rng.Uint64(), Quorum: rng.IntN(20)}}
	for range 1 + rng.IntN(policy.MaxOfficers) {
		var k crypto.PublicKey
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		s.KeySet.Keys = append(s.KeySet.Keys, k)
	}
	for range rng.IntN(policy.MaxOfficers + 1) {
		var a policy.Approval
		for i := range a.Key {
			a.Key[i] = byte(rng.Uint32())
		}
		for i := range a.Sig {
			a.Sig[i] = byte(rng.Uint32())
		}
		s.Approvals = append(s.Approvals, a)
	}
	return s
}

// TestRotationRecord: a rotation record decodes to the set it encodes; a
// change of any part (a key, the quorum, an approval) changes its ID; a
// set that could not be valid does not encode; short, long and
// oversized records are errors.
func TestRotationRecord(t *testing.T) {
	s := rotationOf(1)
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got policy.SignedKeySet
	if err := got.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("decodes to %+v, %v", got, err)
	}
	id := policy.RotationID(b)
	for name, change := range map[string]func(s *policy.SignedKeySet){
		"a key":       func(s *policy.SignedKeySet) { s.KeySet.Keys[0][0] ^= 1 },
		"the quorum":  func(s *policy.SignedKeySet) { s.KeySet.Quorum++ },
		"an approval": func(s *policy.SignedKeySet) { s.Approvals = append(s.Approvals, policy.Approval{}) },
		"the network": func(s *policy.SignedKeySet) { s.KeySet.Network += "x" },
	} {
		c := rotationOf(1)
		change(&c)
		cb, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if policy.RotationID(cb) == id {
			t.Errorf("changing %s keeps the rotation's ID", name)
		}
	}
	big := rotationOf(2)
	big.KeySet.Keys = append(big.KeySet.Keys, make([]crypto.PublicKey, policy.MaxOfficers)...)
	if _, err := big.MarshalBinary(); err == nil {
		t.Error("encoded a set of more than MaxOfficers keys")
	}
	neg := rotationOf(3)
	neg.KeySet.Quorum = -1
	if _, err := neg.MarshalBinary(); err == nil {
		t.Error("encoded a negative quorum")
	}
	for name, bad := range map[string][]byte{
		"empty":    nil,
		"short":    b[:len(b)-1],
		"trailing": append(bytes.Clone(b), 0),
		"version":  append([]byte{9}, b[1:]...),
	} {
		before := got
		if err := got.UnmarshalBinary(bad); err == nil {
			t.Errorf("%s record decoded", name)
		}
		if !reflect.DeepEqual(got, before) {
			t.Errorf("%s record changed the set it was decoded into", name)
		}
	}
}

// A rotation record is read from the ledger's log and from what an API
// serves: any bytes must decode strictly or be an error, never panic, and
// what decodes re-encodes to the same bytes.
func FuzzRotationRecord(f *testing.F) {
	for seed := range uint64(4) {
		s := rotationOf(seed)
		b, _ := s.MarshalBinary()
		f.Add(b, seed)
		f.Add(b[:len(b)/2], seed)
	}
	f.Add([]byte{1, 0, 0}, uint64(9))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		var s policy.SignedKeySet
		if err := s.UnmarshalBinary(b); err == nil {
			if len(s.KeySet.Keys) > policy.MaxOfficers || len(s.Approvals) > policy.MaxOfficers {
				t.Fatalf("decoded %d keys, %d approvals", len(s.KeySet.Keys), len(s.Approvals))
			}
			again, err := s.MarshalBinary()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encodes to %x (%v), decoded from %x", again, err, b)
			}
		}
		want := rotationOf(seed)
		enc, err := want.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got policy.SignedKeySet
		if err := got.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("decodes to %+v (%v), encoded from %+v", got, err, want)
		}
	})
}
