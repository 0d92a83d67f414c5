package money_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/specie/specie/money"
)

var terms = money.Escrow{Payer: [32]byte{0xa1}, Payee: [32]byte{0xb2}, Expiry: 1000}

// escrowTx spends an escrowed note (input 1) beside a plain one (input 0)
// by the given path.
func escrowTx(path uint8) *money.Tx {
	w := money.Witness{Escrow: terms, Path: path}
	if path == money.PathJoint {
		w.PayeeSig = money.Sig{0xcc}
	}
	return &money.Tx{
		Kind:  money.Transfer,
		Nonce: 1,
		Inputs: []money.Note{
			{TxID: money.Hash{1}, Output: money.Output{Value: 10, Lock: money.KeyLock([32]byte{9})}},
			{TxID: money.Hash{2}, Index: 1, Output: money.Output{Value: 90, Lock: terms.Lock()}},
		},
		Outputs:   []money.Output{{Value: 70, Lock: money.KeyLock(terms.Payee)}, {Value: 30, Lock: money.KeyLock(terms.Payer)}},
		InputSigs: []money.Sig{{1}, {2}},
		Witnesses: []money.Witness{w},
	}
}

// TestEscrowHashIsPinned: the lock's key is SHA-256 over the domain tag
// and the terms in this order; changing it would strand escrowed notes.
func TestEscrowHashIsPinned(t *testing.T) {
	b := []byte("specie/escrow/v1\x00")
	b = append(b, terms.Payer[:]...)
	b = append(b, terms.Payee[:]...)
	b = binary.BigEndian.AppendUint64(b, terms.Expiry)
	if want := sha256.Sum256(b); terms.Hash() != want {
		t.Fatalf("Escrow.Hash = %x, want %x", terms.Hash(), want)
	}
	l := terms.Lock()
	if money.LockEscrow != 3 || l.Kind != money.LockEscrow || l.String() != "escrow:"+hex.EncodeToString(l.Key[:]) {
		t.Fatalf("lock %v", l)
	}
	other := terms
	other.Expiry++
	if other.Hash() == terms.Hash() {
		t.Fatal("the hash does not cover the expiry")
	}
}

func TestEscrowRoundTrip(t *testing.T) {
	net := money.Network{ID: "n1", Currency: usd}
	for _, path := range []uint8{money.PathJoint, money.PathRefund} {
		tx := escrowTx(path)
		if err := tx.Check(); err != nil {
			t.Fatalf("path %d: %v", path, err)
		}
		b, err := tx.MarshalBinary()
		if err != nil || len(b) != tx.EncodedSize() {
			t.Fatalf("path %d: %d bytes, EncodedSize %d, %v", path, len(b), tx.EncodedSize(), err)
		}
		var got money.Tx
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("path %d: %v", path, err)
		}
		if b2, _ := got.MarshalBinary(); !bytes.Equal(b, b2) {
			t.Fatalf("path %d: re-encoding differs", path)
		}
		if len(got.Witnesses) != 1 || got.Witnesses[0] != tx.Witnesses[0] {
			t.Fatalf("path %d: witness %+v, want %+v", path, got.Witnesses, tx.Witnesses)
		}
		// The witness is outside the txid: its terms are bound by the
		// lock's hash, its signature covers the txid.
		noWit := *tx
		noWit.Witnesses = nil
		if net.TxID(tx) != net.TxID(&noWit) {
			t.Fatalf("path %d: the txid covers the witness", path)
		}
	}
	if got := escrowTx(money.PathRefund).RefundAfter(); got != terms.Expiry {
		t.Errorf("RefundAfter of a refund = %d, want %d", got, terms.Expiry)
	}
	if got := escrowTx(money.PathJoint).RefundAfter(); got != 0 {
		t.Errorf("RefundAfter of a joint spend = %d, want 0", got)
	}
}

// TestPlainEncodingUnchanged: a transaction without escrowed inputs
// encodes as it did before escrow locks existed (the length formula and the
// layout of sampleTx, written out here by hand).
func TestPlainEncodingUnchanged(t *testing.T) {
	tx := sampleTx()
	b, _ := tx.MarshalBinary()
	var want []byte
	want = append(want, 1, byte(money.Transfer))
	want = binary.BigEndian.AppendUint64(want, 7)
	want = binary.BigEndian.AppendUint16(want, 2)
	for _, n := range tx.Inputs {
		want = append(want, n.TxID[:]...)
		want = binary.BigEndian.AppendUint32(want, n.Index)
		want = binary.BigEndian.AppendUint64(want, n.Value)
		want = append(want, 1)
		want = append(want, n.Lock.Key[:]...)
	}
	want = binary.BigEndian.AppendUint16(want, 2)
	for _, o := range tx.Outputs {
		want = binary.BigEndian.AppendUint64(want, o.Value)
		want = append(want, 1)
		want = append(want, o.Lock.Key[:]...)
	}
	for _, s := range tx.InputSigs {
		want = append(want, s[:]...)
	}
	want = append(want, 0)
	if !bytes.Equal(b, want) {
		t.Fatal("the encoding of a plain transaction changed")
	}
}

func TestEscrowRejections(t *testing.T) {
	enc := func(f func(*money.Tx)) []byte {
		tx := escrowTx(money.PathJoint)
		f(tx)
		b, _ := tx.MarshalBinary()
		return b
	}
	good := enc(func(*money.Tx) {})
	cases := map[string][]byte{
		"no witness":          enc(func(tx *money.Tx) { tx.Witnesses = nil }),
		"witness for a plain": enc(func(tx *money.Tx) { tx.Inputs[1].Lock = money.KeyLock([32]byte{5}) }),
		"wrong payee":         enc(func(tx *money.Tx) { tx.Witnesses[0].Payee[0] ^= 1 }),
		"wrong payer":         enc(func(tx *money.Tx) { tx.Witnesses[0].Payer[0] ^= 1 }),
		"earlier expiry":      enc(func(tx *money.Tx) { tx.Witnesses[0].Expiry-- }),
		"unknown path":        append(good[:len(good)-65:len(good)-65], 7),
		"path zero":           append(good[:len(good)-65:len(good)-65], 0),
		"refund with payee signature": func() []byte {
			// Path byte says refund, and 64 more bytes follow.
			b := append([]byte(nil), good...)
			b[len(b)-65] = money.PathRefund
			return b
		}(),
		"truncated witness": good[:len(good)-1],
		"trailing byte":     append(append([]byte(nil), good...), 0),
		"witness missing":   good[:len(good)-(32+32+8+1+64)],
	}
	for name, b := range cases {
		var tx money.Tx
		if err := tx.UnmarshalBinary(b); !errors.Is(err, money.ErrMalformed) {
			t.Errorf("%s: got %v, want malformed", name, err)
		}
	}
	// Built in memory rather than decoded, Check refuses the same.
	for name, f := range map[string]func(*money.Tx){
		"two witnesses for one input": func(tx *money.Tx) { tx.Witnesses = append(tx.Witnesses, tx.Witnesses[0]) },
		"refund with payee signature": func(tx *money.Tx) { tx.Witnesses[0].Path = money.PathRefund },
		"witness without escrow":      func(tx *money.Tx) { tx.Inputs[1].Lock = money.KeyLock([32]byte{5}) },
	} {
		tx := escrowTx(money.PathJoint)
		f(tx)
		if err := tx.Check(); !errors.Is(err, money.ErrMalformed) {
			t.Errorf("Check %s: got %v, want malformed", name, err)
		}
	}
}

// FuzzDecodeEscrow mutates transactions that spend escrowed notes, the
// witness bytes above all: whatever decodes must re-encode to the same
// bytes and carry exactly one witness, matching its lock, per escrowed
// input.
func FuzzDecodeEscrow(f *testing.F) {
	for _, p := range []uint8{money.PathJoint, money.PathRefund} {
		b, _ := escrowTx(p).MarshalBinary()
		f.Add(b)
	}
	two := escrowTx(money.PathRefund)
	two.Inputs[0] = money.Note{TxID: money.Hash{3}, Output: money.Output{Value: 10, Lock: terms.Lock()}}
	two.Witnesses = append([]money.Witness{{Escrow: terms, Path: money.PathJoint}}, two.Witnesses...)
	b, _ := two.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var tx money.Tx
		if err := tx.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := tx.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) || len(out) != tx.EncodedSize() {
			t.Fatalf("accepted input does not re-encode identically")
		}
		k := 0
		for i := range tx.Inputs {
			if tx.Inputs[i].Lock.Kind != money.LockEscrow {
				continue
			}
			if k >= len(tx.Witnesses) || tx.Witnesses[k].Hash() != tx.Inputs[i].Lock.Key {
				t.Fatalf("input %d accepted without its witness", i)
			}
			k++
		}
		if k != len(tx.Witnesses) {
			t.Fatalf("%d witnesses for %d escrowed inputs", len(tx.Witnesses), k)
		}
	})
}
