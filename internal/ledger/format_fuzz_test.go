package ledger

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/codec"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
)

// The formats of format.go are read back from disk at every open: bytes
// from outside the process. Each decoder has a fuzzer that checks both
// directions of its round trip: whatever decodes re-encodes to the same
// bytes (one encoding per value, so nothing damaged passes for something
// else), and whatever the encoder writes decodes to the same value. The
// seeds include every file of testdata/datadir-v1, written by the ledger
// before these formats were redrawn, so the encoders are also pinned to
// the bytes already on disk.

// v1Files returns the files of testdata/datadir-v1/sub.
func v1Files(tb testing.TB, sub string) [][]byte {
	tb.Helper()
	dir := filepath.Join("testdata", "datadir-v1", sub)
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// v1Records returns the payloads of the v1 log's records (framing drawn in
// store/log.go).
func v1Records(tb testing.TB) [][]byte {
	var out [][]byte
	for _, seg := range v1Files(tb, "wal") {
		for len(seg) > 0 {
			r := codec.NewReader(seg)
			n := int(r.U32())
			r.Take(4 + 8)
			p := r.Take(n)
			if r.Err() != nil {
				tb.Fatal("v1 log segment does not parse")
			}
			out = append(out, p)
			seg = seg[16+n:]
		}
	}
	return out
}

// gen draws values for the encode-then-decode direction.
type gen struct{ *rand.Rand }

func newGen(seed uint64) gen { return gen{rand.New(rand.NewPCG(seed, 0x5eed))} }

func (g gen) hash() (h money.Hash) {
	for i := 0; i < len(h); i += 8 {
		binary.BigEndian.PutUint64(h[i:], g.Uint64())
	}
	return h
}

func (g gen) hashes(n int) []money.Hash {
	out := make([]money.Hash, n)
	for i := range out {
		out[i] = g.hash()
	}
	return out
}

// record is a random well-formed log record.
func (g gen) record() record {
	n := g.IntN(6)
	r := record{ids: g.hashes(n), unspent: g.Uint64(), unspentSum: g.Uint64()}
	r.header = money.BatchHeader{Seq: g.Uint64(), Prev: g.hash(), TxRoot: g.hash(), TxCount: uint32(n), Minted: g.Uint64(), Redeemed: g.Uint64()}
	r.body = encodeBatch(&r.header, r.ids)
	r.kinds, r.outputs = make([]money.Kind, n), make([]uint16, n)
	for i := range n {
		r.kinds[i], r.outputs[i] = money.Kind(g.IntN(256)), uint16(g.IntN(1<<16))
	}
	r.dels = g.hashes(g.IntN(4))
	r.puts = make([]created, g.IntN(4))
	for i := range r.puts {
		r.puts[i] = created{g.hash(), g.Uint64() | 1}
	}
	return r
}

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

// sampleRotation is a well-formed rotation record (version 2) of batch 4.
func sampleRotation(tb testing.TB) []byte {
	s := policy.SignedKeySet{KeySet: policy.KeySet{Network: "fuzz", Version: 2, Quorum: 1, Keys: []crypto.PublicKey{{1}, {2}}}, Approvals: []policy.Approval{{Key: crypto.PublicKey{3}}}}
	ks, err := s.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	id := money.Hash(policy.RotationID(ks))
	r := record{header: money.BatchHeader{Seq: 4, Prev: money.Hash{8}, TxRoot: money.MerkleRoot([]money.Hash{id}), TxCount: 1, Minted: 9},
		ids: []money.Hash{id}, unspent: 1, unspentSum: 9, kinds: []money.Kind{kindRotation}, outputs: []uint16{0}, keySet: ks}
	r.body = encodeBatch(&r.header, r.ids)
	return r.appendTo(nil)
}

// A damaged log record must be an error, never a panic or a record that
// decodes into something else.
func FuzzDecodeRecord(f *testing.F) {
	good := sampleRecord()
	f.Add(good, uint64(0))
	f.Add(good[:len(good)-1], uint64(1))
	f.Add([]byte{recordVersion}, uint64(2))
	f.Add(hugeLength(), uint64(3))
	for i, p := range v1Records(f) {
		f.Add(p, uint64(i))
	}
	rot := sampleRotation(f)
	f.Add(rot, uint64(4))
	f.Add(rot[:len(rot)-1], uint64(5))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		if r, err := decodeRecord(b); err == nil {
			if r.keySet != nil && (len(r.ids) != 1 || r.ids[0] != policy.RotationID(r.keySet) || len(r.dels)+len(r.puts) != 0) {
				t.Fatalf("decoded a rotation record that is not one: %+v", r.header)
			}
			if int(r.header.TxCount) != len(r.ids) || len(r.kinds) != len(r.ids) || len(r.outputs) != len(r.ids) {
				t.Fatalf("decoded an inconsistent record: %+v", r.header)
			}
			for _, p := range r.puts {
				if p.value == 0 {
					t.Fatal("decoded a created note of value 0")
				}
			}
			if again := r.appendTo(nil); !bytes.Equal(again, b) {
				t.Fatalf("record re-encodes to %d bytes, decoded from %d", len(again), len(b))
			}
		}
		want := newGen(seed).record()
		got, err := decodeRecord(want.appendTo(nil))
		if err != nil {
			t.Fatalf("an encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record decodes to %+v, encoded from %+v", got, want)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(&money.BatchHeader{Seq: 1, TxCount: 1}, []money.Hash{{7}}), uint64(0))
	f.Add(make([]byte, batchHeadSize-1), uint64(1))
	f.Add(make([]byte, batchHeadSize+31), uint64(2))
	for i, p := range v1Records(f) {
		if r, err := decodeRecord(p); err == nil {
			f.Add(r.body, uint64(i))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		if h, ids, err := decodeBatch(b); err == nil {
			if again := encodeBatch(&h, ids); !bytes.Equal(again, b) {
				t.Fatalf("batch body re-encodes to %x, decoded from %x", again, b)
			}
		}
		g := newGen(seed)
		h := money.BatchHeader{Seq: g.Uint64(), Prev: g.hash(), TxRoot: g.hash(), TxCount: g.Uint32(), Minted: g.Uint64(), Redeemed: g.Uint64()}
		ids := g.hashes(g.IntN(5))
		gh, gids, err := decodeBatch(appendBatch(nil, &h, ids))
		if err != nil || gh != h || !slices.Equal(gids, ids) {
			t.Fatalf("batch body decodes to %+v %x, %v; encoded from %+v %x", gh, gids, err, h, ids)
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(make([]byte, metaSize), uint64(0))
	f.Add(make([]byte, metaSize+1), uint64(1))
	f.Add([]byte{1, 2, 3}, uint64(2))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		var m meta
		if err := m.decode(b); err == nil {
			if again := m.encode(); !bytes.Equal(again, b) {
				t.Fatalf("meta re-encodes to %x, decoded from %x", again, b)
			}
		} else if m != (meta{}) {
			t.Fatalf("a failed decode changed the meta: %+v", m)
		}
		g := newGen(seed)
		want := meta{seq: g.Uint64(), head: g.hash(), minted: g.Uint64(), redeemed: g.Uint64(), unspent: g.Uint64(), unspentSum: g.Uint64()}
		var got meta
		if err := got.decode(want.encode()); err != nil || got != want {
			t.Fatalf("meta decodes to %+v, %v; encoded from %+v", got, err, want)
		}
	})
}

func FuzzDecodeTxLoc(f *testing.F) {
	var v [txLocSize]byte
	loc := txLoc{seq: 3, index: 1, kind: money.Redeem, outputs: 2}
	loc.put(&v)
	f.Add(v[:], uint64(0))
	f.Add(v[:txLocSize-1], uint64(1))
	f.Add(append(v[:], 0), uint64(2))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		if loc, err := decodeTxLoc(b); err == nil {
			var again [txLocSize]byte
			if loc.put(&again); !bytes.Equal(again[:], b) {
				t.Fatalf("txid location re-encodes to %x, decoded from %x", again, b)
			}
		}
		g := newGen(seed)
		want := txLoc{seq: g.Uint64(), index: g.Uint32(), kind: money.Kind(g.IntN(256)), outputs: uint16(g.IntN(1 << 16))}
		var enc [txLocSize]byte
		want.put(&enc)
		if got, err := decodeTxLoc(enc[:]); err != nil || got != want {
			t.Fatalf("txid location decodes to %+v, %v; encoded from %+v", got, err, want)
		}
	})
}

// The old format's note values have no encoder left in the ledger (only
// the migration reads them); the round trip is with the u64 they were
// written as.
func FuzzDecodeNoteValue(f *testing.F) {
	f.Add(binary.BigEndian.AppendUint64(nil, 5), uint64(0))
	f.Add(make([]byte, 8), uint64(1))
	f.Add(make([]byte, 9), uint64(2))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		encode := func(v uint64) []byte {
			return codec.NewWriter(nil).U64(v).Bytes()
		}
		if v, err := decodeNoteValue(b); err == nil {
			if v == 0 || !bytes.Equal(encode(v), b) {
				t.Fatalf("note value %d decoded from %x", v, b)
			}
		}
		want := seed | 1
		if got, err := decodeNoteValue(encode(want)); err != nil || got != want {
			t.Fatalf("note value decodes to %d, %v; encoded from %d", got, err, want)
		}
	})
}

// snapshotOf encodes a snapshot of slots.
func snapshotOf(tb testing.TB, shard, shards int, seq uint64, slots []slot) []byte {
	var buf bytes.Buffer
	if err := encodeSnapshot(&buf, shard, shards, seq, slots); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// readSnapshot decodes a whole snapshot, whatever its header names.
func readSnapshot(b []byte) (snapHead, []slot, error) {
	var notes []slot
	h, err := decodeSnapshot(bytes.NewReader(b), int64(len(b)), func(*snapHead) error { return nil }, func(k *[24]byte, v uint64) error {
		notes = append(notes, slot{*k, v})
		return nil
	})
	return h, notes, err
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(snapshotOf(f, 1, 16, 9, []slot{{key: [24]byte{1}, value: 5}, {}, {key: [24]byte{2}, value: 7}}), uint64(0))
	f.Add(snapshotOf(f, 0, 1, 1, nil), uint64(1))
	for i, b := range v1Files(f, "snap") {
		f.Add(b, uint64(i))
	}
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		if h, notes, err := readSnapshot(b); err == nil {
			if again := snapshotOf(t, int(h.shard), int(h.shards), h.seq, notes); !bytes.Equal(again, b) {
				t.Fatalf("snapshot re-encodes to %d bytes, decoded from %d", len(again), len(b))
			}
		}
		g := newGen(seed)
		slots := make([]slot, g.IntN(8))
		var want []slot
		for i := range slots {
			if g.IntN(3) == 0 {
				continue // an empty slot: not written
			}
			binary.BigEndian.PutUint64(slots[i].key[:], g.Uint64())
			slots[i].value = g.Uint64N(1<<40) + 1
			want = append(want, slots[i])
		}
		shard, shards, seq := g.IntN(256), g.IntN(256)+1, g.Uint64()
		h, got, err := readSnapshot(snapshotOf(t, shard, shards, seq, slots))
		if err != nil || int(h.shard) != shard || int(h.shards) != shards || h.seq != seq || h.count != uint64(len(want)) || !slices.Equal(got, want) {
			t.Fatalf("snapshot decodes to %+v %v, %v; encoded from %d notes", h, got, err, len(want))
		}
	})
}

// The encoders write exactly the bytes the v1 ledger wrote.
func TestEncodersMatchV1Bytes(t *testing.T) {
	recs := v1Records(t)
	if len(recs) == 0 {
		t.Fatal("no v1 log records")
	}
	for i, p := range recs {
		r, err := decodeRecord(p)
		if err != nil {
			t.Fatalf("v1 record %d: %v", i, err)
		}
		if again := r.appendTo(nil); !bytes.Equal(again, p) {
			t.Fatalf("v1 record %d re-encodes differently", i)
		}
	}
	for i, b := range v1Files(t, "snap") {
		h, notes, err := readSnapshot(b)
		if err != nil {
			t.Fatalf("v1 snapshot %d: %v", i, err)
		}
		if again := snapshotOf(t, int(h.shard), int(h.shards), h.seq, notes); !bytes.Equal(again, b) {
			t.Fatalf("v1 snapshot %d re-encodes differently", i)
		}
	}
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
	for _, b := range [][]byte{
		hugeLength(),
		// a record that ends where the count of spent notes claims 2^32-1
		binary.BigEndian.AppendUint32(sampleRecord()[:len(sampleRecord())-4-32-4-40], 0xffffffff),
	} {
		runtime.ReadMemStats(&before)
		if _, err := decodeRecord(b); err == nil {
			t.Fatal("decoded a record whose count points past its end")
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Fatalf("decoding a %d-byte record allocated %d bytes", len(b), d)
		}
	}
}

// encodeArchiveRaw is an archive entry of already encoded transactions.
func encodeArchiveRaw(txs [][]byte) []byte {
	w := codec.NewWriter(appendArchiveHead(nil, len(txs)))
	for _, tx := range txs {
		w = w.U32(uint32(len(tx))).Put(tx)
	}
	return w.Bytes()
}

func FuzzDecodeArchive(f *testing.F) {
	f.Add(encodeArchiveRaw([][]byte{{1, 2, 3}, {}}), uint64(0))
	f.Add(encodeArchiveRaw(nil), uint64(1))
	f.Add([]byte{archiveVersion, 0, 0, 0, 9}, uint64(2))
	f.Add(hugeLength(), uint64(3))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		if txs, err := decodeArchive(b); err == nil {
			if again := encodeArchiveRaw(txs); !bytes.Equal(again, b) {
				t.Fatalf("archive entry re-encodes to %x, decoded from %x", again, b)
			}
		}
		g := newGen(seed)
		want := make([][]byte, g.IntN(5))
		for i := range want {
			want[i] = []byte{}
			for _, h := range g.hashes(g.IntN(3)) {
				want[i] = append(want[i], h[:]...)
			}
		}
		got, err := decodeArchive(encodeArchiveRaw(want))
		if err != nil || len(got) != len(want) {
			t.Fatalf("archive entry of %d decodes to %d, %v", len(want), len(got), err)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("archive entry tx %d: %x, want %x", i, got[i], want[i])
			}
		}
	})
}

// A replicated entry comes from the network (a raft peer): a damaged one
// must be an error, never a panic; whatever decodes re-encodes to the
// same bytes and carries one archived transaction per txid.
func FuzzDecodeEntry(f *testing.F) {
	rec := sampleRecord()
	good := appendEntry(nil, rec, encodeArchiveRaw([][]byte{{1, 2, 3}, {4}}))
	f.Add(good, uint64(0))
	f.Add(good[:len(good)-1], uint64(1))
	f.Add(rec, uint64(2))
	f.Add(appendEntry(nil, rec, encodeArchiveRaw([][]byte{{1}})), uint64(3))
	f.Add([]byte{entryVersion, 0, 0, 0, 0}, uint64(4))
	f.Add([]byte{entryVersion, 0xff, 0xff, 0xff, 0xff}, uint64(5))
	f.Add(append([]byte{entryVersion}, hugeLength()...), uint64(6))
	f.Fuzz(func(t *testing.T, b []byte, seed uint64) {
		if recBytes, r, arch, err := decodeEntry(b); err == nil {
			if again := appendEntry(nil, recBytes, arch); !bytes.Equal(again, b) {
				t.Fatalf("entry re-encodes to %x, decoded from %x", again, b)
			}
			if arch != nil {
				txs, err := decodeArchive(arch)
				if err != nil || len(txs) != len(r.ids) {
					t.Fatalf("entry decoded with an archive of %d for %d txids (%v)", len(txs), len(r.ids), err)
				}
			}
		}
		g := newGen(seed)
		h := g.hash()
		txs := [][]byte{h[:], {}}
		if g.IntN(2) == 0 {
			txs = txs[:1]
		}
		e := appendEntry(nil, rec, encodeArchiveRaw(txs))
		recBytes, _, arch, err := decodeEntry(e)
		switch {
		case len(txs) == 2 && (err != nil || !bytes.Equal(recBytes, rec) || !bytes.Equal(arch, encodeArchiveRaw(txs))):
			t.Fatalf("entry of a record and its archive: %v", err)
		case len(txs) != 2 && err == nil:
			t.Fatal("entry whose archive does not count the record's txids decoded")
		}
	})
}
