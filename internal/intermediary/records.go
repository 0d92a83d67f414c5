package intermediary

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/codec"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Binary records. The records every payment writes, pendingRec and
// idemRec (which the keyed retry reads), the history entries of both
// sides and the outbox entry of a payment across intermediaries, are
// stored in a compact binary form (version byte recV1) instead of JSON;
// the reader also takes the JSON of stores written before (a JSON record
// starts with '{', never with recV1). Strings are a length then bytes; times are Unix
// nanoseconds, read back in UTC.
//
//	pendingRec v1:
//	[0x01][kind u8: 1 pay, 2 redeem]
//	[from len u16][from][to len u16][to][peer len u16][peer]
//	[amount u64][reference len u16][reference][idempotency key len u16][key]
//	[tx len u32][tx: canonical encoding][created nanos u64]
//
//	pendingRec v2, a payment with a waterfall: v1 with version 0x02, then
//	[payer account len u16][payer account][from account u64]
//	[payee account len u16][payee account][to account u64]
//
//	pendingRec v3, a payment to another intermediary that holds the
//	payee's capacity (holds.go): v2 with version 0x03 (its waterfall
//	fields possibly empty), then
//	[hold len u16][hold]
//
//	pendingRec v4, a refund (refund.go): v3 with version 0x04 (its
//	waterfall fields and hold possibly empty), then
//	[refund_of 32: the txid of the payment refunded]
//
//	idemRec v1:
//	[0x01][state u8: 1 pending, 2 committed, 3 rejected]
//	[fingerprint 32: the SHA-256 its hex form names][txid 32]
//	[receipt txid 32][receipt batch u64][receipt index u32]
//	[code len u16][code][message len u32][message][status u16]
//	[created nanos u64]
//
//	history entry (roles.Entry) v1:
//	[0x01][direction u8: 1 in, 2 out][txid 32][amount u64][batch u64]
//	[time nanos u64][counterparty len u16][counterparty]
//	[reference len u16][reference]
//
//	history entry v2, a line of a refund: v1 with version 0x02, then
//	[refund_of 32]
//
//	outboxRec v1:
//	[0x01][peer len u16][peer][tx len u32][tx: canonical encoding]
//	[from len u16][from][to len u16][to][reference len u16][reference]
//	[hold len u16][hold][attempts u32][created nanos u64]
//	[last error len u32][last error]
//
//	outboxRec v2, a delivery that pays a request or is a refund: v1 with
//	version 0x02, then [request len u16][request][refund_of 32]
const (
	recV1 = 0x01
	recV2 = 0x02 // pendingRec with its waterfall
	recV3 = 0x03 // pendingRec with its waterfall and the payee's hold
	recV4 = 0x04 // pendingRec of a refund: v3 and the refunded payment's txid
)

var entryDirections = []string{"in", "out"}
var pendingKinds = []string{kindPay, kindRedeem, kindReserve}
var idemStates = []string{idemPending, idemCommitted, idemRejected}

func indexOf(list []string, s string) (uint8, error) {
	for i, v := range list {
		if v == s {
			return uint8(i + 1), nil
		}
	}
	return 0, fmt.Errorf("%q not one of %q", s, list)
}

func ofIndex(list []string, i uint8) (string, error) {
	if i == 0 || int(i) > len(list) {
		return "", fmt.Errorf("value %d not one of %q", i, list)
	}
	return list[i-1], nil
}

func putStr16(w codec.Writer, s string) codec.Writer { return w.U16(uint16(len(s))).Put([]byte(s)) }

func str16(r *codec.Reader) string { return string(r.Take(int(r.U16()))) }

func nanos(t time.Time) uint64 { return uint64(t.UnixNano()) }

func fromNanos(n uint64) time.Time { return time.Unix(0, int64(n)).UTC() }

func (p *pendingRec) encode() ([]byte, error) {
	kind, err := indexOf(pendingKinds, p.Kind)
	if err != nil {
		return nil, fmt.Errorf("pending record kind: %w", err)
	}
	for _, s := range []string{p.From, p.To, p.Peer, p.Reference, p.IdemKey} {
		if len(s) > 0xffff {
			return nil, fmt.Errorf("pending record: field of %d bytes", len(s))
		}
	}
	if len(p.PayerAccount) > 0xffff || len(p.PayeeAccount) > 0xffff {
		return nil, fmt.Errorf("pending record: account of %d or %d bytes", len(p.PayerAccount), len(p.PayeeAccount))
	}
	if len(p.Hold) > 0xffff {
		return nil, fmt.Errorf("pending record: hold of %d bytes", len(p.Hold))
	}
	v2 := p.PayerAccount != "" || p.PayeeAccount != "" || p.FromAccount != 0 || p.ToAccount != 0
	version := uint8(recV1)
	switch {
	case p.RefundOf != (money.TxID{}):
		version, v2 = recV4, true
	case p.Hold != "":
		version, v2 = recV3, true
	case v2:
		version = recV2
	}
	w := codec.NewWriter(make([]byte, 0, 98+len(p.Hold)+len(p.From)+len(p.To)+len(p.Peer)+len(p.Reference)+len(p.IdemKey)+len(p.Tx)+len(p.PayerAccount)+len(p.PayeeAccount)))
	w = w.U8(version).U8(kind)
	w = putStr16(putStr16(putStr16(w, p.From), p.To), p.Peer)
	w = putStr16(putStr16(w.U64(p.Amount), p.Reference), p.IdemKey)
	w = w.U32(uint32(len(p.Tx))).Put(p.Tx).U64(nanos(p.Created))
	if v2 {
		w = putStr16(w, p.PayerAccount).U64(p.FromAccount)
		w = putStr16(w, p.PayeeAccount).U64(p.ToAccount)
	}
	if version >= recV3 {
		w = putStr16(w, p.Hold)
	}
	if version == recV4 {
		w = w.Put(p.RefundOf[:])
	}
	return w.Bytes(), nil
}

func decodePending(b []byte, p *pendingRec) error {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSON(b, p)
	}
	r := codec.NewReader(b)
	v := r.U8()
	if v != recV1 && v != recV2 && v != recV3 && v != recV4 && r.Err() == nil {
		return fmt.Errorf("pending record: version %d", v)
	}
	kind := r.U8()
	p.From, p.To, p.Peer = str16(&r), str16(&r), str16(&r)
	p.Amount = r.U64()
	p.Reference, p.IdemKey = str16(&r), str16(&r)
	p.Tx = append([]byte(nil), r.Take(int(r.U32()))...)
	p.Created = fromNanos(r.U64())
	if v == recV2 || v == recV3 || v == recV4 {
		p.PayerAccount, p.FromAccount = str16(&r), r.U64()
		p.PayeeAccount, p.ToAccount = str16(&r), r.U64()
		if v == recV2 && p.PayerAccount == "" && p.PayeeAccount == "" && p.FromAccount == 0 && p.ToAccount == 0 && r.Err() == nil {
			return fmt.Errorf("pending record: version 2 without a waterfall")
		}
	}
	if v == recV3 {
		if p.Hold = str16(&r); p.Hold == "" && r.Err() == nil {
			return fmt.Errorf("pending record: version 3 without a hold")
		}
	}
	if v == recV4 {
		p.Hold = str16(&r)
		if r.Copy(p.RefundOf[:]); p.RefundOf == (money.TxID{}) && r.Err() == nil {
			return fmt.Errorf("pending record: version 4 without the refunded payment")
		}
	}
	if err := r.End(); err != nil {
		return fmt.Errorf("pending record: %w", err)
	}
	var err error
	if p.Kind, err = ofIndex(pendingKinds, kind); err != nil {
		return fmt.Errorf("pending record kind: %w", err)
	}
	return nil
}

func (i *idemRec) encode() ([]byte, error) {
	state, err := indexOf(idemStates, i.State)
	if err != nil {
		return nil, fmt.Errorf("idempotency record state: %w", err)
	}
	fp, err := hex.DecodeString(i.Fingerprint)
	if err != nil || len(fp) != 32 {
		return nil, fmt.Errorf("idempotency record fingerprint %q", i.Fingerprint)
	}
	if len(i.Code) > 0xffff || i.Status < 0 || i.Status > 0xffff {
		return nil, fmt.Errorf("idempotency record: code of %d bytes, status %d", len(i.Code), i.Status)
	}
	w := codec.NewWriter(make([]byte, 0, 160+len(i.Code)+len(i.Message)))
	w = w.U8(recV1).U8(state).Put(fp).Put(i.TxID[:])
	w = w.Put(i.Receipt.TxID[:]).U64(i.Receipt.Batch).U32(i.Receipt.Index)
	w = putStr16(w, string(i.Code)).U32(uint32(len(i.Message))).Put([]byte(i.Message)).U16(uint16(i.Status))
	return w.U64(nanos(i.Created)).Bytes(), nil
}

func decodeIdem(b []byte, i *idemRec) error {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSON(b, i)
	}
	r := codec.NewReader(b)
	if v := r.U8(); v != recV1 && r.Err() == nil {
		return fmt.Errorf("idempotency record: version %d", v)
	}
	state := r.U8()
	var fp [32]byte
	r.Copy(fp[:])
	r.Copy(i.TxID[:])
	var rid money.TxID
	r.Copy(rid[:])
	i.Receipt = roles.Receipt{TxID: rid, Batch: r.U64(), Index: r.U32()}
	i.Code = errcode.Code(str16(&r))
	i.Message = string(r.Take(int(r.U32())))
	i.Status = int(r.U16())
	i.Created = fromNanos(r.U64())
	if err := r.End(); err != nil {
		return fmt.Errorf("idempotency record: %w", err)
	}
	i.Fingerprint = hex.EncodeToString(fp[:])
	var err error
	if i.State, err = ofIndex(idemStates, state); err != nil {
		return fmt.Errorf("idempotency record state: %w", err)
	}
	return nil
}

// encodeEntry is a history entry's binary form; history is written for
// every payment on both sides, so it is no longer JSON.
func encodeEntry(e *roles.Entry) ([]byte, error) {
	dir, err := indexOf(entryDirections, e.Direction)
	if err != nil {
		return nil, fmt.Errorf("history entry direction: %w", err)
	}
	if len(e.Counterparty) > 0xffff || len(e.Reference) > 0xffff {
		return nil, fmt.Errorf("history entry: counterparty of %d bytes, reference of %d", len(e.Counterparty), len(e.Reference))
	}
	v := uint8(recV1)
	if !(e.RefundOf == money.TxID{}) {
		v = recV2
	}
	w := codec.NewWriter(make([]byte, 0, 94+len(e.Counterparty)+len(e.Reference)))
	w = w.U8(v).U8(dir).Put(e.TxID[:]).U64(e.Amount).U64(e.Batch).U64(nanos(e.Time))
	w = putStr16(putStr16(w, e.Counterparty), e.Reference)
	if v == recV2 {
		w = w.Put(e.RefundOf[:])
	}
	return w.Bytes(), nil
}

func decodeEntry(b []byte, e *roles.Entry) error {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSON(b, e)
	}
	r := codec.NewReader(b)
	v := r.U8()
	if v != recV1 && v != recV2 && r.Err() == nil {
		return fmt.Errorf("history entry: version %d", v)
	}
	dir := r.U8()
	r.Copy(e.TxID[:])
	e.Amount, e.Batch, e.Time = r.U64(), r.U64(), fromNanos(r.U64())
	e.Counterparty, e.Reference = str16(&r), str16(&r)
	e.RefundOf = money.TxID{}
	if v == recV2 {
		r.Copy(e.RefundOf[:])
		if (e.RefundOf == money.TxID{}) && r.Err() == nil {
			return fmt.Errorf("history entry: version 2 without the refunded txid")
		}
	}
	if err := r.End(); err != nil {
		return fmt.Errorf("history entry: %w", err)
	}
	var err error
	if e.Direction, err = ofIndex(entryDirections, dir); err != nil {
		return fmt.Errorf("history entry direction: %w", err)
	}
	return nil
}

func (o *outboxRec) encode() ([]byte, error) {
	for _, s := range []string{o.Peer, o.From, o.To, o.Ref, o.Hold, o.Request} {
		if len(s) > 0xffff {
			return nil, fmt.Errorf("outbox record: field of %d bytes", len(s))
		}
	}
	if o.Attempts < 0 || int64(o.Attempts) > 0xffffffff || len(o.Tx) > 0xffffffff || len(o.LastErr) > 0xffffffff {
		return nil, fmt.Errorf("outbox record: %d attempts, tx of %d bytes, last error of %d", o.Attempts, len(o.Tx), len(o.LastErr))
	}
	v := uint8(recV1)
	if o.Request != "" || !(o.RefundOf == money.TxID{}) {
		v = recV2
	}
	w := codec.NewWriter(make([]byte, 0, 65+len(o.Peer)+len(o.Tx)+len(o.From)+len(o.To)+len(o.Ref)+len(o.Hold)+len(o.LastErr)+len(o.Request)))
	w = putStr16(w.U8(v), o.Peer).U32(uint32(len(o.Tx))).Put(o.Tx)
	w = putStr16(putStr16(putStr16(putStr16(w, o.From), o.To), o.Ref), o.Hold)
	w = w.U32(uint32(o.Attempts)).U64(nanos(o.Created))
	w = w.U32(uint32(len(o.LastErr))).Put([]byte(o.LastErr))
	if v == recV2 {
		w = putStr16(w, o.Request).Put(o.RefundOf[:])
	}
	return w.Bytes(), nil
}

func decodeOutbox(b []byte, o *outboxRec) error {
	if len(b) > 0 && b[0] == '{' {
		return decodeJSON(b, o)
	}
	r := codec.NewReader(b)
	v := r.U8()
	if v != recV1 && v != recV2 && r.Err() == nil {
		return fmt.Errorf("outbox record: version %d", v)
	}
	o.Peer = str16(&r)
	o.Tx = append([]byte(nil), r.Take(int(r.U32()))...)
	o.From, o.To, o.Ref, o.Hold = str16(&r), str16(&r), str16(&r), str16(&r)
	o.Attempts = int(r.U32())
	o.Created = fromNanos(r.U64())
	o.LastErr = string(r.Take(int(r.U32())))
	o.Request, o.RefundOf = "", money.TxID{}
	if v == recV2 {
		o.Request = str16(&r)
		r.Copy(o.RefundOf[:])
		if o.Request == "" && (o.RefundOf == money.TxID{}) && r.Err() == nil {
			return fmt.Errorf("outbox record: version 2 with neither a request nor a refunded txid")
		}
	}
	if err := r.End(); err != nil {
		return fmt.Errorf("outbox record: %w", err)
	}
	return nil
}
