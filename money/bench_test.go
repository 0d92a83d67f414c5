package money_test

import (
	"testing"

	"github.com/specie/specie/money"
)

func BenchmarkDecode(b *testing.B) {
	enc, _ := sampleTx().MarshalBinary()
	var tx money.Tx
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if err := tx.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTxID(b *testing.B) {
	tx := sampleTx()
	net := money.Network{ID: "specie-devnet", Currency: usd}
	b.ReportAllocs()
	for b.Loop() {
		net.TxID(tx)
	}
}

func BenchmarkNoteID(b *testing.B) {
	n := sampleTx().Inputs[0]
	net := money.Network{ID: "specie-devnet", Currency: usd}
	b.ReportAllocs()
	for b.Loop() {
		net.NoteID(&n)
	}
}
