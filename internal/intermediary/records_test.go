package intermediary

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func samplePending() pendingRec {
	return pendingRec{Kind: kindPay, From: "bank-a.abc", To: "bank-b.xyz", Peer: "bank-b", Amount: 12_345,
		Reference: "rent ✓", IdemKey: "k-1", Tx: []byte{1, 2, 3}, Created: time.Unix(1, 2).UTC()}
}

func sampleIdem() idemRec {
	return idemRec{Fingerprint: fingerprint("a", "b", 1, "r"), State: idemRejected, TxID: [32]byte{7},
		Receipt: roles.Receipt{TxID: [32]byte{8}, Batch: 9, Index: 10}, Code: "insufficient_funds",
		Message: "available 0.00", Status: 422, Created: time.Unix(3, 4).UTC()}
}

// Each record survives its binary form, and the JSON form older stores
// hold still reads.
func TestRecordsRoundTrip(t *testing.T) {
	p := samplePending()
	b, err := recBytes(p)
	if err != nil || b[0] != recV1 {
		t.Fatalf("%x %v", b, err)
	}
	var p2 pendingRec
	if err := decodeRec(b, &p2); err != nil || !reflect.DeepEqual(p, p2) {
		t.Fatalf("pending: %+v %v, want %+v", p2, err, p)
	}
	w := samplePending()
	w.PayerAccount, w.FromAccount, w.PayeeAccount, w.ToAccount = "DE-1", 300, "DE-2", 50
	if b, err := recBytes(w); err != nil || b[0] != recV2 {
		t.Fatalf("%x %v", b, err)
	} else if err := decodeRec(b, &p2); err != nil || !reflect.DeepEqual(w, p2) {
		t.Fatalf("pending with a waterfall: %+v %v, want %+v", p2, err, w)
	}
	for _, h := range []pendingRec{samplePending(), w} { // with the payee's hold, with and without a waterfall
		h.Hold = "habc"
		if b, err := recBytes(h); err != nil || b[0] != recV3 {
			t.Fatalf("%x %v", b, err)
		} else if err := decodeRec(b, &p2); err != nil || !reflect.DeepEqual(h, p2) {
			t.Fatalf("pending with a hold: %+v %v, want %+v", p2, err, h)
		}
	}
	for _, r := range []pendingRec{samplePending(), w} { // a refund, with and without a hold
		r.RefundOf = [32]byte{5}
		for _, hold := range []string{"", "habc"} {
			r.Hold = hold
			if b, err := recBytes(r); err != nil || b[0] != recV4 {
				t.Fatalf("%x %v", b, err)
			} else if err := decodeRec(b, &p2); err != nil || !reflect.DeepEqual(r, p2) {
				t.Fatalf("pending refund: %+v %v, want %+v", p2, err, r)
			}
		}
	}
	j, _ := json.Marshal(p)
	var p3 pendingRec
	if err := decodeRec(j, &p3); err != nil || p3.From != p.From || !bytes.Equal(p3.Tx, p.Tx) {
		t.Fatalf("pending from JSON: %+v %v", p3, err)
	}
	i := sampleIdem()
	if b, err = recBytes(i); err != nil {
		t.Fatal(err)
	}
	var i2 idemRec
	if err := decodeRec(b, &i2); err != nil || !reflect.DeepEqual(i, i2) {
		t.Fatalf("idempotency: %+v %v, want %+v", i2, err, i)
	}
	j, _ = json.Marshal(i)
	var i3 idemRec
	if err := decodeRec(j, &i3); err != nil || i3.Fingerprint != i.Fingerprint || i3.State != i.State {
		t.Fatalf("idempotency from JSON: %+v %v", i3, err)
	}
}

// Any bytes decode to a record or an error, never a panic; whatever
// decodes encodes back to the same bytes.
func FuzzPendingRecord(f *testing.F) {
	b, _ := recBytes(samplePending())
	f.Add(b)
	w := samplePending()
	w.PayerAccount, w.FromAccount, w.PayeeAccount, w.ToAccount = "DE-1", 300, "", 0
	b, _ = recBytes(w)
	f.Add(b)
	w.Hold = "h1"
	b, _ = recBytes(w)
	f.Add(b)
	w.RefundOf = [32]byte{9}
	b, _ = recBytes(w)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p pendingRec
		if decodeRec(b, &p) != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		again, err := recBytes(p)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x (%v)", b, p, again, err)
		}
	})
}

func FuzzIdemRecord(f *testing.F) {
	b, _ := recBytes(sampleIdem())
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var i idemRec
		if decodeRec(b, &i) != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		again, err := recBytes(i)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x (%v)", b, i, again, err)
		}
	})
}

func sampleEntry() roles.Entry {
	return roles.Entry{TxID: [32]byte{5}, Direction: "in", Amount: 1_234, Counterparty: "bank-a.abc",
		Reference: "invoice ✓", Batch: 77, Time: time.Unix(5, 6).UTC()}
}

func sampleOutbox() outboxRec {
	return outboxRec{Peer: "bank-b", Tx: []byte{4, 5, 6}, From: "bank-a.abc", To: "bank-b.xyz", Ref: "rent",
		Hold: "h7", Attempts: 3, Created: time.Unix(7, 8).UTC(), LastErr: "unavailable: peer down"}
}

// History entries and outbox records survive their binary form (with and
// without their optional fields), the JSON older stores hold still reads
// (and reads the same), and damaged binary is an error, not a record.
func TestEntryAndOutboxRecordsRoundTrip(t *testing.T) {
	bare := roles.Entry{TxID: [32]byte{9}, Direction: "out", Amount: 1, Batch: 2, Time: time.Unix(0, 3).UTC()}
	refund := sampleEntry()
	refund.RefundOf = money.TxID{7, 7, 7}
	for _, e := range []roles.Entry{sampleEntry(), bare, refund} {
		b, err := recBytes(e)
		want := byte(recV1)
		if e.RefundOf != (money.TxID{}) {
			want = recV2 // a refund's line keeps what it refunds
		}
		if err != nil || b[0] != want {
			t.Fatalf("%x %v", b, err)
		}
		var got roles.Entry
		if err := decodeRec(b, &got); err != nil || !reflect.DeepEqual(e, got) {
			t.Fatalf("entry: %+v %v, want %+v", got, err, e)
		}
		j, _ := json.Marshal(e)
		var fromJSON roles.Entry
		if err := decodeRec(j, &fromJSON); err != nil || !reflect.DeepEqual(e, fromJSON) {
			t.Fatalf("entry from JSON: %+v %v, want %+v", fromJSON, err, e)
		}
		if err := decodeRec(b[:len(b)-1], &got); err == nil {
			t.Fatalf("a truncated entry decoded: %+v", got)
		}
	}
	if _, err := recBytes(roles.Entry{Direction: "sideways"}); err == nil {
		t.Fatal("an entry of no direction encoded")
	}
	bareOut := outboxRec{Peer: "bank-b", Tx: []byte{1}, Created: time.Unix(0, 1).UTC()}
	paysRequest, refunds := sampleOutbox(), sampleOutbox()
	paysRequest.Request = "bank-b.rq123"
	refunds.RefundOf = money.TxID{5}
	for _, o := range []outboxRec{sampleOutbox(), bareOut, paysRequest, refunds} {
		b, err := recBytes(o)
		want := byte(recV1)
		if o.Request != "" || o.RefundOf != (money.TxID{}) {
			want = recV2 // the request it pays and what it refunds travel with it
		}
		if err != nil || b[0] != want {
			t.Fatalf("%x %v", b, err)
		}
		var got outboxRec
		if err := decodeRec(b, &got); err != nil || !reflect.DeepEqual(o, got) {
			t.Fatalf("outbox: %+v %v, want %+v", got, err, o)
		}
		j, _ := json.Marshal(o)
		var fromJSON outboxRec
		if err := decodeRec(j, &fromJSON); err != nil || !reflect.DeepEqual(o, fromJSON) {
			t.Fatalf("outbox from JSON: %+v %v, want %+v", fromJSON, err, o)
		}
		if err := decodeRec(append(b, 0), &got); err == nil {
			t.Fatalf("an outbox record with a trailing byte decoded: %+v", got)
		}
	}
	if _, err := recBytes(outboxRec{Attempts: -1}); err == nil {
		t.Fatal("an outbox record of -1 attempts encoded")
	}
}

func FuzzEntryRecord(f *testing.F) {
	b, _ := recBytes(sampleEntry())
	f.Add(b)
	f.Add([]byte(`{"txid":"00","direction":"in"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e roles.Entry
		if decodeRec(b, &e) != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		again, err := recBytes(e)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x (%v)", b, e, again, err)
		}
	})
}

func FuzzOutboxRecord(f *testing.F) {
	b, _ := recBytes(sampleOutbox())
	f.Add(b)
	f.Add([]byte(`{"peer":"bank-b","attempts":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o outboxRec
		if decodeRec(b, &o) != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		again, err := recBytes(o)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x (%v)", b, o, again, err)
		}
	})
}
