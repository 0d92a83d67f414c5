package ledger

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"slices"
	"testing"

	"github.com/specie/specie/money"
)

// sampleRecord is a well-formed log record of two transactions.
func sampleRecord() []byte {
	ids := []money.Hash{{1}, {2}}
	h := money.BatchHeader{Seq: 7, Prev: money.Hash{9}, TxRoot: money.MerkleRoot(ids), TxCount: 2, Minted: 500}
	b := []byte{recordVersion}
	b = binary.BigEndian.AppendUint64(b, 3)
	b = binary.BigEndian.AppendUint64(b, 500)
	body := encodeBatch(&h, ids)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	b = append(b, byte(money.Transfer), 0, 2, byte(money.Transfer), 0, 1)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, make([]byte, 32)...)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = append(b, 5)
	b = append(b, make([]byte, 31)...)
	return binary.BigEndian.AppendUint64(b, 500)
}

// The log is read back from disk at every open: its records are bytes from
// outside the process, and a damaged one must be an error, never a panic
// or a record that decodes into something else.
func FuzzDecodeRecord(f *testing.F) {
	good := sampleRecord()
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{recordVersion})
	f.Add(hugeLength())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if int(r.header.TxCount) != len(r.ids) || len(r.kinds) != len(r.ids) || len(r.outputs) != len(r.ids) {
			t.Fatalf("decoded an inconsistent record: %+v", r.header)
		}
		for _, p := range r.puts {
			if p.value == 0 {
				t.Fatal("decoded a created note of value 0")
			}
		}
		// One encoding per record: what decodes re-encodes to the same bytes.
		if again := r.appendTo(nil); !bytes.Equal(again, b) {
			t.Fatalf("record re-encodes to %d bytes, decoded from %d", len(again), len(b))
		}
	})
}

func TestDecodeRecord(t *testing.T) {
	good := sampleRecord()
	if bad := binary.BigEndian.AppendUint64(slices.Clone(good[:len(good)-8]), 0); true {
		if _, err := decodeRecord(bad); err == nil {
			t.Error("decoded a created note of value 0")
		}
	}
	r, err := decodeRecord(good)
	if err != nil {
		t.Fatal(err)
	}
	if r.header.Seq != 7 || len(r.ids) != 2 || len(r.dels) != 1 || len(r.puts) != 1 || r.puts[0].value != 500 || r.unspent != 3 || r.outputs[0] != 2 {
		t.Fatalf("decoded %+v", r)
	}
	for _, bad := range [][]byte{good[:len(good)-1], append(good, 0), append([]byte{2}, good[1:]...), nil} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("decoded a damaged record of %d bytes", len(bad))
		}
	}
}

// hugeLength is a record whose batch length field claims 4 GiB: found by
// FuzzDecodeRecord, when the decoder still allocated what a damaged length
// asked for (4 GiB per bad record, a crash on open for a small machine).
func hugeLength() []byte {
	b := sampleRecord()[:17]
	return binary.BigEndian.AppendUint32(b, 0xffffffff)
}

func TestDecodeRecordDoesNotTrustLengths(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := decodeRecord(hugeLength()); err == nil {
		t.Fatal("decoded a record whose length field points past its end")
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("decoding a 21-byte record allocated %d bytes", d)
	}
}
