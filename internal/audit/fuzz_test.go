package audit

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// The auditor reads two things from outside its own code: checkpoint files
// (--from-checkpoint, handed over by anyone) and its state store on disk.
// Each decoder must reject what it cannot use without panicking, and what
// it accepts must survive a round trip.

func FuzzDecodeCheckpoint(f *testing.F) {
	good, _ := json.Marshal(Checkpoint{Network: "net", Batch: 7, Head: money.Hash{1}, Minted: 10, Redeemed: 3})
	f.Add(good)
	f.Add([]byte(`{"network":"n","batch":0}`))
	f.Add([]byte(`{"network":"n","batch":1,"head":"00","minted":"1","redeemed":"2"}`))
	f.Add(append(good, '{'))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheckpoint(b)
		if err != nil {
			return
		}
		if c.Batch == 0 || c.Redeemed > c.Minted {
			t.Fatalf("accepted %+v", c)
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := DecodeCheckpoint(again)
		if err != nil || *c2 != *c {
			t.Fatalf("checkpoint round trip: %+v, %v; from %+v", c2, err, c)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	m := savedMeta{Version: stateVersion, Trust: Trust{
		Network:    money.Network{ID: "n", Currency: money.Currency{Code: "USD", Exponent: 2}},
		MintKeys:   []crypto.PublicKey{{1}, {2}},
		MintQuorum: 2,
		RedeemKeys: []crypto.PublicKey{{3}},
	}, Head: &money.BatchHeader{Seq: 3}, Totals: Totals{Minted: 5}}
	good, _ := json.Marshal(m)
	f.Add(good, (&verifiedHeader{Hash: money.Hash{9}, Minted: 4, Redeemed: 1}).encode())
	f.Add([]byte(`{"version":1}`), []byte{1, 2, 3})
	f.Add(append(good, 'x'), make([]byte, spendSize))
	f.Fuzz(func(t *testing.T, meta, rec []byte) {
		if got, err := decodeMeta(meta); err == nil {
			again, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeMeta(again); err != nil {
				t.Fatalf("state meta round trip: %v", err)
			}
		}
		if v, err := decodeVerifiedHeader(rec); err == nil && !bytes.Equal(v.encode(), rec) {
			t.Fatalf("verified header re-encodes to %x, decoded from %x", v.encode(), rec)
		}
		if _, err := decodeSpend(rec); err == nil && len(rec) != spendSize {
			t.Fatalf("spend record of %d bytes accepted", len(rec))
		}
		if v, err := decodeValue(rec); err == nil && (len(rec) != 8 || v == 0) {
			t.Fatalf("note value %d of %d bytes accepted", v, len(rec))
		}
	})
}

// memNotes is the notes view over maps, for tests of the pure step.
type memNotes struct {
	unspentSet map[money.NoteID]uint64
	spentSet   map[money.NoteID]Loc
	marks      map[money.Hash]Loc
}

func newMemNotes() *memNotes {
	return &memNotes{unspentSet: map[money.NoteID]uint64{}, spentSet: map[money.NoteID]Loc{}, marks: map[money.Hash]Loc{}}
}

func (m *memNotes) unspent(id *money.NoteID) (uint64, bool, error) {
	v, ok := m.unspentSet[*id]
	return v, ok, nil
}

func (m *memNotes) spentAt(id *money.NoteID) (Loc, bool, error) {
	l, ok := m.spentSet[*id]
	return l, ok, nil
}

func (m *memNotes) spend(id *money.NoteID, at Loc) error {
	delete(m.unspentSet, *id)
	m.spentSet[*id] = at
	return nil
}

func (m *memNotes) create(id *money.NoteID, v uint64) error {
	m.unspentSet[*id] = v
	return nil
}

func (m *memNotes) mark(id *money.Hash, at Loc) error {
	m.marks[*id] = at
	return nil
}

func (m *memNotes) markedAt(id *money.Hash) (Loc, bool, error) {
	l, ok := m.marks[*id]
	return l, ok, nil
}

// FuzzReplayStep feeds the replay whatever a ledger might serve as a
// batch's transactions: it must judge them (findings), never panic, and
// keep the totals it replays consistent with the notes it holds.
func FuzzReplayStep(f *testing.F) {
	tx := money.Tx{Kind: money.Mint, Nonce: 1, Outputs: []money.Output{{Value: 5, Lock: money.KeyLock([32]byte{1})}}}
	good, _ := tx.MarshalBinary()
	f.Add(good, []byte{}, uint32(1))
	f.Add(good, good, uint32(2))
	f.Add([]byte{1, 1}, []byte{1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint32(0))
	tr := fuzzTrust
	f.Fuzz(func(t *testing.T, a, b []byte, count uint32) {
		ns := newMemNotes()
		h := money.BatchHeader{Seq: 1, TxCount: count}
		batch := roles.BatchContents{Header: h, Txs: [][]byte{a, b}}
		_, tot, _, err := step(&tr, keySet(tr.MintKeys), keySet(tr.RedeemKeys), nil, Totals{}, h, batch, ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkTotals(t, tot, ns)
	})
}

// FuzzReplayShardStep is FuzzReplayStep on a sharded network's log (a
// group's or the coordinator's, by g): whatever transactions and whatever
// leaves are served (each the txid, a step of it, or any hash, by pick),
// the replay judges them, never panics, and its totals match its notes.
func FuzzReplayShardStep(f *testing.F) {
	tx := money.Tx{Kind: money.Mint, Nonce: 1, Outputs: []money.Output{{Value: 5, Lock: money.KeyLock([32]byte{1})}, {Value: 7, Lock: money.KeyLock([32]byte{2})}}}
	good, _ := tx.MarshalBinary()
	f.Add(good, good, byte(0), byte(3), int8(1))
	f.Add(good, good, byte(1), byte(4), int8(-1))
	f.Add(good, []byte{1, 3, 0}, byte(2), byte(7), int8(0))
	tr := fuzzTrust
	f.Fuzz(func(t *testing.T, a, b []byte, pickA, pickB byte, g int8) {
		ns := newMemNotes()
		var needs []need
		sh := &shardCtx{group: int(g%3) - 1, groups: 2, name: "fuzz", needs: &needs}
		leaf := func(raw []byte, pick byte) money.Hash {
			var x money.Tx
			_ = x.UnmarshalBinary(raw)
			id := tr.Network.TxID(&x)
			st := shard.StepsOf(tr.Network, id)
			return [...]money.Hash{id, st.Begin, st.Prepare, st.Abort, st.DecideCommit, st.DecideAbort, st.End, {pick}}[pick%8]
		}
		h := money.BatchHeader{Seq: 1, TxCount: 2}
		batch := roles.BatchContents{Header: h, Txs: [][]byte{a, b}, IDs: []money.Hash{leaf(a, pickA), leaf(b, pickB)}}
		_, tot, _, err := step(&tr, keySet(tr.MintKeys), keySet(tr.RedeemKeys), nil, Totals{}, h, batch, ns, sh)
		if err != nil {
			t.Fatal(err)
		}
		checkTotals(t, tot, ns)
	})
}

// TestVerifySigsMatchesOneByOne: batching over cores never changes which
// signatures are valid; a bad one among hundreds is found exactly.
func TestVerifySigsMatchesOneByOne(t *testing.T) {
	k, err := crypto.KeyFromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	items := make([]sigItem, 700)
	for i := range items {
		h := money.Hash{byte(i), byte(i >> 8)}
		items[i] = sigItem{pub: k.Public(), d: crypto.Spend, hash: h, sig: k.Sign(crypto.Spend, "net", h)}
		if i%97 == 5 {
			items[i].sig[3] ^= 1
		}
		if i%131 == 7 {
			items[i].d = crypto.Mint // signed for another purpose
		}
	}
	got := verifySigs("net", items)
	for i, it := range items {
		if want := crypto.Verify(it.pub, it.d, "net", it.hash, it.sig); got[i] != want {
			t.Fatalf("signature %d: batched says %v, alone %v", i, got[i], want)
		}
	}
}

// fuzzTrust is the network the replay fuzzers judge transactions under.
var fuzzTrust = Trust{Network: money.Network{ID: "fuzz", Currency: money.Currency{Code: "USD", Exponent: 2}}, MintKeys: []crypto.PublicKey{{1}, {2}}, MintQuorum: 2, RedeemKeys: []crypto.PublicKey{{3}}}

// checkTotals fails t unless the replay's totals are what its notes hold.
func checkTotals(t *testing.T, tot Totals, ns *memNotes) {
	t.Helper()
	var sum uint64
	for _, v := range ns.unspentSet {
		sum += v
	}
	if sum != tot.UnspentSum || uint64(len(ns.unspentSet)) != tot.Unspent {
		t.Fatalf("totals say %d in %d notes, the notes hold %d in %d", tot.UnspentSum, tot.Unspent, sum, len(ns.unspentSet))
	}
}
