package hsm_test

import (
	"bytes"
	"testing"

	"github.com/specie/specie/internal/hsm"
)

// FuzzParseECPoint: whatever a PKCS#11 module returns as CKA_EC_POINT,
// parsing never panics, and a key it accepts is the 32 bytes given, bare or
// in one DER OCTET STRING.
func FuzzParseECPoint(f *testing.F) {
	pt := bytes.Repeat([]byte{0xab}, 32)
	f.Add(pt)
	f.Add(append([]byte{0x04, 0x20}, pt...))
	f.Add(append([]byte{0x04, 0x21}, append(pt, 0)...))
	f.Add(append([]byte{0x04, 0x20}, append(pt, 0)...))
	f.Add([]byte{0x04, 0x81, 0x20})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := hsm.ParseECPoint(b)
		if err != nil {
			return
		}
		if !bytes.Equal(k[:], b) && !(len(b) == 34 && b[0] == 0x04 && b[1] == 0x20 && bytes.Equal(k[:], b[2:])) {
			t.Fatalf("accepted %x as %x", b, k[:])
		}
	})
}

// TestParseECPoint pins the forms accepted and refused.
func TestParseECPoint(t *testing.T) {
	pt := bytes.Repeat([]byte{7}, 32)
	for _, c := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"bare", pt, true},
		{"DER octet string", append([]byte{0x04, 0x20}, pt...), true},
		{"short", pt[:31], false},
		{"DER with trailing byte", append(append([]byte{0x04, 0x20}, pt...), 1), false},
		{"DER 33-byte point", append([]byte{0x04, 0x21, 0}, pt...), false},
		{"DER bit string", append([]byte{0x03, 0x21, 0}, pt...), false},
		{"empty", nil, false},
	} {
		k, err := hsm.ParseECPoint(c.in)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if c.ok && !bytes.Equal(k[:], pt) {
			t.Errorf("%s: got %x", c.name, k)
		}
	}
}
