package issuer

import (
	"bytes"
	"testing"
)

// FuzzRegistryKey feeds the registry's checks the person and wallet a
// caller puts in a request path. Whatever is accepted makes keys that split
// back into exactly that person and wallet (so one reservation can never
// be read as another's), and a stored value decodes only at its one size.
func FuzzRegistryKey(f *testing.F) {
	person := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add(person, "bank-a.w1", []byte{})
	f.Add(person, "bank-a.w1/x", encodeShare(1, 2))
	f.Add(person+"/bank-a.x", "bank-a.w1", []byte{1})
	f.Add("", "", encodeShare(0, ^uint64(0)))
	f.Fuzz(func(t *testing.T, person, wallet string, value []byte) {
		if share, limit, err := decodeShare(value); err == nil {
			if !bytes.Equal(encodeShare(share, limit), value) {
				t.Fatalf("value %x decodes to %d/%d, which encodes otherwise", value, share, limit)
			}
		} else if len(value) == reservationLen {
			t.Fatalf("a %d-byte value does not decode: %v", reservationLen, err)
		}
		inter := "bank-a"
		if check(inter, person, wallet) != nil {
			return
		}
		sk := shareKey(person, wallet)
		p, w, ok := bytes.Cut(sk[len(prefShare):], []byte("/"))
		if !ok || string(p) != person || string(w) != wallet {
			t.Fatalf("share key %q splits into %q, %q", sk, p, w)
		}
		ik := indexKey(inter, person, wallet)
		rest, ok := bytes.CutPrefix(ik, append(append([]byte(nil), prefIndex...), inter+"/"...))
		if !ok {
			t.Fatalf("index key %q lacks its intermediary", ik)
		}
		p, w, ok = bytes.Cut(rest, []byte("/"))
		if !ok || string(p) != person || string(w) != wallet || !validPerson(string(p)) {
			t.Fatalf("index key %q splits into %q, %q", ik, p, w)
		}
	})
}
