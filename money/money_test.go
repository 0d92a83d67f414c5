package money_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/specie/specie/money"
)

var usd = money.Currency{Code: "USD", Exponent: 2}

func TestParseFormat(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"1000000.00", 100000000, true},
		{"12.5", 1250, true},
		{"0.01", 1, true},
		{"1250", 1250, true},
		{"0", 0, true},
		{"184467440737095516.15", 18446744073709551615, true},
		{"184467440737095516.16", 0, false},
		{"18446744073709551616", 0, false},
		{"1.234", 0, false},
		{"-3", 0, false},
		{"1e5", 0, false},
		{"", 0, false},
		{".5", 0, false},
		{"5.", 0, false},
		{"1,000.00", 0, false},
		{" 1", 0, false},
		{"+1", 0, false},
	}
	for _, c := range cases {
		got, err := usd.Parse(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Parse(%q) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
	for v, s := range map[uint64]string{0: "0.00", 1: "0.01", 100: "1.00", 100000000: "1000000.00", 18446744073709551615: "184467440737095516.15"} {
		if got := usd.Format(v); got != s {
			t.Errorf("Format(%d) = %q, want %q", v, got, s)
		}
		if back, err := usd.Parse(s); err != nil || back != v {
			t.Errorf("Parse(Format(%d)) = %d, %v", v, back, err)
		}
	}
	if got := (money.Currency{Code: "JPY"}).Format(500); got != "500" {
		t.Errorf("JPY format %q", got)
	}
}

func sampleTx() *money.Tx {
	return &money.Tx{
		Kind:  money.Transfer,
		Nonce: 7,
		Inputs: []money.Note{
			{TxID: money.Hash{1}, Index: 0, Output: money.Output{Value: 60, Lock: money.KeyLock([32]byte{9})}},
			{TxID: money.Hash{2}, Index: 3, Output: money.Output{Value: 40, Lock: money.KeyLock([32]byte{8})}},
		},
		Outputs:   []money.Output{{Value: 99, Lock: money.KeyLock([32]byte{7})}, {Value: 1, Lock: money.KeyLock([32]byte{6})}},
		InputSigs: []money.Sig{{1}, {2}},
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	tx := sampleTx()
	b, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != tx.EncodedSize() {
		t.Fatalf("size %d, EncodedSize %d", len(b), tx.EncodedSize())
	}
	var got money.Tx
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b2, _ := got.MarshalBinary()
	if !bytes.Equal(b, b2) {
		t.Fatal("re-encoding differs")
	}
	net := money.Network{ID: "n1", Currency: usd}
	if net.TxID(tx) != net.TxID(&got) {
		t.Fatal("txid differs after round trip")
	}
	// Signatures are not part of the txid; the network is.
	got.InputSigs[0][0] ^= 1
	if net.TxID(tx) != net.TxID(&got) {
		t.Fatal("txid covers signatures")
	}
	if net.TxID(tx) == (money.Network{ID: "n2", Currency: usd}).TxID(tx) {
		t.Fatal("txid not bound to the network")
	}
	n := tx.Inputs[0]
	n2 := n
	n2.Value++
	if net.NoteID(&n) == net.NoteID(&n2) {
		t.Fatal("note ID does not cover the value")
	}
	if net.NoteID(&n) == money.Hash(net.TxID(tx)) {
		t.Fatal("domains collide")
	}
}

// mutate returns the encoding of sampleTx after f changes it.
func mutate(f func(tx *money.Tx)) []byte {
	tx := sampleTx()
	f(tx)
	b, _ := tx.MarshalBinary()
	return b
}

func TestDecoderRejectsNonCanonical(t *testing.T) {
	good, _ := sampleTx().MarshalBinary()
	overflow := mutate(func(tx *money.Tx) {
		tx.Inputs[0].Value = 1 << 63
		tx.Inputs[1].Value = 1 << 63
		tx.Outputs[0].Value = 1
		tx.Outputs[1].Value = 1
	})
	manyInputs := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(manyInputs[10:], 65)
	cases := map[string][]byte{
		"empty":           {},
		"trailing byte":   append(append([]byte(nil), good...), 0),
		"truncated":       good[:len(good)-1],
		"unknown version": append([]byte{2}, good[1:]...),
		"unknown kind":    append([]byte{1, 9}, good[2:]...),
		"duplicate input": mutate(func(tx *money.Tx) {
			tx.Inputs[1] = tx.Inputs[0]
			tx.Outputs = tx.Outputs[:1]
			tx.Outputs[0].Value = 120
		}),
		"zero output": mutate(func(tx *money.Tx) { tx.Outputs[1].Value = 0; tx.Outputs[0].Value = 100 }),
		"zero input": mutate(func(tx *money.Tx) {
			tx.Inputs[1].Value = 0
			tx.Outputs[1].Value = 0
			tx.Outputs = tx.Outputs[:1]
			tx.Outputs[0].Value = 60
		}),
		"sum overflow":      overflow,
		"outputs != inputs": mutate(func(tx *money.Tx) { tx.Outputs[0].Value = 100 }),
		"unknown lock":      mutate(func(tx *money.Tx) { tx.Outputs[0].Lock.Kind = 2 }),
		"too many inputs":   manyInputs,
		"transfer with auth": mutate(func(tx *money.Tx) {
			tx.Auth = []money.KeySig{{Key: [32]byte{1}}}
		}),
		"mint with inputs": mutate(func(tx *money.Tx) { tx.Kind = money.Mint }),
		"auth unsorted": mutate(func(tx *money.Tx) {
			tx.Kind = money.Mint
			tx.Inputs, tx.InputSigs = nil, nil
			tx.Auth = []money.KeySig{{Key: [32]byte{2}}, {Key: [32]byte{1}}}
		}),
		"auth duplicated": mutate(func(tx *money.Tx) {
			tx.Kind = money.Mint
			tx.Inputs, tx.InputSigs = nil, nil
			tx.Auth = []money.KeySig{{Key: [32]byte{1}}, {Key: [32]byte{1}}}
		}),
		"redeem destroying nothing": mutate(func(tx *money.Tx) { tx.Kind = money.Redeem }),
	}
	for name, b := range cases {
		var tx money.Tx
		if err := tx.UnmarshalBinary(b); !errors.Is(err, money.ErrMalformed) {
			t.Errorf("%s: got %v, want malformed", name, err)
		}
	}
}

func TestMerkleProofsAllSizes(t *testing.T) {
	for n := 1; n <= 33; n++ {
		ids := make([]money.Hash, n)
		for i := range ids {
			ids[i] = money.Hash{byte(i), byte(n)}
		}
		root := money.MerkleRoot(ids)
		for i := range ids {
			p := money.MerkleProof(ids, i)
			if err := money.VerifyInclusion(ids[i], uint64(i), uint64(n), p, root); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			if err := money.VerifyInclusion(money.Hash{0xff}, uint64(i), uint64(n), p, root); err == nil {
				t.Fatalf("n=%d i=%d: wrong leaf accepted", n, i)
			}
			if n > 1 {
				if err := money.VerifyInclusion(ids[i], uint64((i+1)%n), uint64(n), p, root); err == nil {
					t.Fatalf("n=%d i=%d: wrong index accepted", n, i)
				}
			}
		}
	}
}

// TestVerifyNext: a chain built by the rules passes link by link, and each
// rule refuses the header that breaks it.
func TestVerifyNext(t *testing.T) {
	net := money.Network{ID: "test", Currency: usd}
	h1 := money.BatchHeader{Seq: 1, TxRoot: money.Hash{1}, TxCount: 1, Minted: 100}
	h2 := money.BatchHeader{Seq: 2, Prev: net.HeaderHash(&h1), TxRoot: money.Hash{2}, TxCount: 2, Minted: 100, Redeemed: 30}
	if err := net.VerifyNext(nil, &h1); err != nil {
		t.Fatal(err)
	}
	if err := net.VerifyNext(&h1, &h2); err != nil {
		t.Fatal(err)
	}
	other := money.Network{ID: "other", Currency: usd}
	if err := other.VerifyNext(&h1, &h2); err == nil {
		t.Fatal("a header chained on another network passed")
	}
	for name, bad := range map[string]func(h *money.BatchHeader){
		"sequence":          func(h *money.BatchHeader) { h.Seq = 3 },
		"previous hash":     func(h *money.BatchHeader) { h.Prev[0] ^= 1 },
		"minted backwards":  func(h *money.BatchHeader) { h.Minted = 99; h.Redeemed = 0 },
		"redeemed > minted": func(h *money.BatchHeader) { h.Redeemed = 101 },
		"empty":             func(h *money.BatchHeader) { h.TxCount = 0 },
	} {
		h := h2
		bad(&h)
		if err := net.VerifyNext(&h1, &h); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := net.VerifyNext(nil, &h2); err == nil {
		t.Error("batch 2 accepted as the first")
	}
}

// FuzzTxDecode feeds arbitrary bytes to the decoder: it must never panic,
// and whatever it accepts must re-encode to exactly the same bytes.
func FuzzTxDecode(f *testing.F) {
	good, _ := sampleTx().MarshalBinary()
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	mint := mutate(func(tx *money.Tx) {
		tx.Kind = money.Mint
		tx.Inputs, tx.InputSigs = nil, nil
		tx.Auth = []money.KeySig{{Key: [32]byte{1}}, {Key: [32]byte{2}}}
	})
	f.Add(mint)
	for _, p := range []uint8{money.PathJoint, money.PathRefund} {
		esc, _ := escrowTx(p).MarshalBinary()
		f.Add(esc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var tx money.Tx
		if err := tx.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := tx.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted input does not re-encode identically")
		}
	})
}

// FuzzParseAmount checks that any accepted amount formats back to a string
// that parses to the same value.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1.00", "12", "0.5", "184467440737095516.15", "1e3", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := usd.Parse(s)
		if err != nil {
			return
		}
		back, err := usd.Parse(usd.Format(v))
		if err != nil || back != v {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, v, usd.Format(v), back, err)
		}
	})
}
