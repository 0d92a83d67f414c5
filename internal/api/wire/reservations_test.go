package wire

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// A reservation and the calls between intermediaries survive the wire
// both ways.
func TestReservationRoundTrip(t *testing.T) {
	cur := &money.Currency{Code: "USD", Exponent: 2}
	at := time.Unix(1700000000, 0).UTC()
	rs := []roles.FundsReservation{
		{ID: "bank-a.k1", Side: "payer", Payer: "bank-a.x", Payee: "bank-b.y", Amount: 600, Captured: 250, Reference: "room",
			State: roles.ReservationCaptured, Expiry: 9, ExpiresAt: at, CreateTx: money.TxID{1}, Note: money.NoteID{2},
			SettleTx: money.TxID{3}, Batch: 7, Created: at},
		{ID: "bank-a.k2", Side: "payee", Payer: "bank-a.x", Payee: "bank-a.z", Amount: 1, State: roles.ReservationPending, ExpiresAt: at, Created: at},
	}
	for _, r := range rs {
		got, err := FromFundsReservation(r, cur).ToFundsReservation()
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("reservation %+v, %v; want %+v", got, err, r)
		}
	}
	k := crypto.PublicKey{4}
	o := roles.ReservationOffer{ID: "bank-a.k1", Payer: "bank-a.x", Payee: "bank-b.y", Amount: 600, Expiry: 9, ExpiresAt: at,
		PayerKey: k, PayerLock: money.KeyLock(k), Reference: "room"}
	if got, err := FromReservationOffer(o).ToReservationOffer(); err != nil || got != o {
		t.Fatalf("offer %+v, %v", got, err)
	}
	terms := roles.ReservationTerms{PayeeKey: k, PayeeLock: money.KeyLock(k)}
	if got, err := FromReservationTerms(terms).ToReservationTerms(); err != nil || got != terms {
		t.Fatalf("terms %+v, %v", got, err)
	}
	esc := money.Escrow{Payer: k, Payee: [32]byte{7}, Expiry: 9}
	tx := &money.Tx{Kind: money.Transfer, Inputs: []money.Note{{TxID: money.TxID{5}, Output: money.Output{Value: 600, Lock: esc.Lock()}}},
		Outputs: []money.Output{{Value: 600, Lock: money.KeyLock(k)}}, InputSigs: make([]money.Sig, 1),
		Witnesses: []money.Witness{{Escrow: esc, Path: money.PathRefund}}}
	s := roles.ReservationSettled{State: roles.ReservationRefunded, Tx: tx, Receipt: roles.Receipt{TxID: money.TxID{8}, Batch: 10}}
	w, err := FromReservationSettled(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.ToReservationSettled(); err != nil || !reflect.DeepEqual(got.Tx, tx) || got.State != s.State || got.Receipt != s.Receipt {
		t.Fatalf("settled %+v, %v", got, err)
	}
	// Malformed fields are refused, each with its field named.
	for _, bad := range []ReservationOffer{
		{Amount: "-1", PayerKey: k.String(), PayerLock: money.KeyLock(k).String()},
		{Amount: "1", PayerKey: "zz", PayerLock: money.KeyLock(k).String()},
		{Amount: "1", PayerKey: k.String(), PayerLock: "escrow:" + k.String()},
	} {
		if _, err := bad.ToReservationOffer(); err == nil {
			t.Fatalf("offer %+v accepted", bad)
		}
	}
	if _, err := (ReservationSettle{Amount: "1", PayeeSig: "ab"}).ToReservationSettle("bank-a.k1"); err == nil || !strings.Contains(err.Error(), "payee_sig") {
		t.Fatalf("short signature: %v", err)
	}
}

// FuzzDecodeReservation: the bodies intermediaries send each other about
// reservations (an offer, a settle, a settle's answer) and a reservation
// as a client reads it never panic; whatever converts converts back to
// the same.
func FuzzDecodeReservation(f *testing.F) {
	k := strings.Repeat("ab", 32)
	f.Add([]byte(`{"id":"bank-a.k1","payer":"bank-a.x","payee":"bank-b.y","amount":"600","expiry_batch":9,"expires_at":"2030-01-01T00:00:00Z","payer_key":"` + k + `","payer_lock":"ed25519:` + k + `"}`))
	f.Add([]byte(`{"amount":"0","payee_sig":"` + strings.Repeat("00", 64) + `"}`))
	f.Add([]byte(`{"state":"captured","captured":"5","tx":"AQI=","receipt":{"txid":"` + strings.Repeat("0", 64) + `","batch":1,"index":0}}`))
	f.Add([]byte(`{"id":"bank-a.k1","side":"payer","amount":"1","captured":"x","state":"active","expiry_batch":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o ReservationOffer
		if DecodeStrictBytes(b, &o) == nil {
			if ro, err := o.ToReservationOffer(); err == nil {
				if back, err := FromReservationOffer(ro).ToReservationOffer(); err != nil || back != ro {
					t.Fatalf("offer %+v: back %+v, %v", ro, back, err)
				}
			}
		}
		var s ReservationSettle
		if DecodeStrictBytes(b, &s) == nil {
			if rs, err := s.ToReservationSettle("bank-a.k1"); err == nil && rs.ID != "bank-a.k1" {
				t.Fatalf("settle %+v", rs)
			}
		}
		var st ReservationSettled
		if DecodeStrictBytes(b, &st) == nil {
			rs, err := st.ToReservationSettled()
			if err != nil && !errcode.Is(err, errcode.Internal) {
				t.Fatalf("settled: %v", err)
			}
			if err == nil && rs.Tx != nil {
				if w, err := FromReservationSettled(rs); err != nil || w.Tx == "" {
					t.Fatalf("settled %+v: back %+v, %v", rs, w, err)
				}
			}
		}
		var r FundsReservation
		if DecodeStrictBytes(b, &r) == nil {
			if rr, err := r.ToFundsReservation(); err == nil {
				if back, err := FromFundsReservation(rr, nil).ToFundsReservation(); err != nil || !reflect.DeepEqual(back, rr) {
					t.Fatalf("reservation %+v: back %+v, %v", rr, back, err)
				}
			}
		}
	})
}
