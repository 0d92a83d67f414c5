package audit

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
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
