package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"reflect"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
)

// sampleParts are parts shaped like each step of two-phase commit: a
// prepare (spends, a lock, an exclusion, expiry), a commit (creations
// only, verified), an abort alone (an exclusion only).
func sampleParts(tb testing.TB) []ledger.Part {
	tb.Helper()
	n := ledgertest.New()
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 70_00), ledgertest.To(alice, 30_00))
	notes := n.Notes(mint)
	tx := n.Spend(money.Transfer, notes, []*crypto.PrivateKey{alice, alice}, ledgertest.To(bob, 100_00))
	name := func(s string) money.Hash { return sha256.Sum256([]byte(s)) }
	return []ledger.Part{
		{Tx: tx, ID: name("prepare"), Spend: []ledger.NoteValue{{ID: n.Network.NoteID(&notes[0]), Value: 70_00}, {ID: n.Network.NoteID(&notes[1]), Value: 30_00}},
			Create: []ledger.NoteValue{{ID: name("lock"), Value: 100_00}}, Excludes: []money.TxID{name("abort")}, Expiry: true},
		{Tx: tx, ID: n.Network.TxID(tx), Create: []ledger.NoteValue{{ID: name("out"), Value: 100_00}}, Verified: true},
		{Tx: tx, ID: name("abort"), Excludes: []money.TxID{name("prepare")}, Verified: true},
		{Tx: mint, ID: name("begin")},
	}
}

// TestPartWireRoundTrip: every step's part encodes and decodes to itself,
// and the encoding is the one the fuzzer starts from.
func TestPartWireRoundTrip(t *testing.T) {
	for i, p := range sampleParts(t) {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ledger.DecodePart(b)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("part %d: decoded %+v, want %+v", i, got, p)
		}
	}
}

// TestPartWireRefusals: damaged or oversized forms are refused malformed,
// never decoded into something else.
func TestPartWireRefusals(t *testing.T) {
	good, err := sampleParts(t)[0].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown version", edit(func(b []byte) []byte { b[0] = 2; return b })},
		{"unknown flag", edit(func(b []byte) []byte { b[1] |= 0x80; return b })},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"tx length past the end", edit(func(b []byte) []byte { b[34], b[35] = 0xff, 0xff; return b })},
		{"tx with a byte cut", edit(func(b []byte) []byte { b[37]--; return b })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ledger.DecodePart(tc.b); !errcode.Is(err, errcode.Malformed) {
				t.Fatalf("DecodePart: %v, want malformed", err)
			}
		})
	}
	big := sampleParts(t)[2]
	big.Excludes = make([]money.TxID, 5)
	if _, err := big.MarshalBinary(); !errcode.Is(err, errcode.Malformed) {
		t.Fatalf("5 exclusions encoded: %v", err)
	}
	if _, err := (ledger.Part{}).MarshalBinary(); !errcode.Is(err, errcode.Malformed) {
		t.Fatalf("a part without a transaction encoded: %v", err)
	}
}

// FuzzDecodePart: POST /v1/parts hands DecodePart bytes from the network.
// It never panics, refuses with malformed only, and whatever decodes
// re-encodes to the same bytes.
func FuzzDecodePart(f *testing.F) {
	for _, p := range sampleParts(f) {
		b, err := p.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ledger.DecodePart(b)
		if err != nil {
			if !errcode.Is(err, errcode.Malformed) {
				t.Fatalf("refused with %v, want malformed", err)
			}
			return
		}
		again, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded part does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encodes to other bytes:\n%x\n%x", b, again)
		}
	})
}
