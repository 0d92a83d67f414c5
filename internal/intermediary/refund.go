package intermediary

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Refunds. A refund is a payment (roles.Payment with RefundOf) from the
// wallet that received a payment back to the wallet that paid it, here or
// at another intermediary, naming the original txid. It is made by the
// payee's (the merchant's) intermediary, which knows from the wallet's
// history what the wallet received, from whom and how much, and enforces
// there, in its store:
//
//   - only a payment the wallet received (an "in" line of its history with
//     a known payer) is refunded, and only to the wallet that paid it;
//   - the refunds of one payment never add up to more than it: each
//     refund's claim on the original is written in the batch that reserves
//     its notes (putPending), under the paying wallet's lock, after adding
//     up the claims already there; a refund the ledger does not commit
//     gives its claim back in the batch that releases its notes
//     (unreserve). So concurrent refunds, a crash at any point and retries
//     never refund more than was paid.
//
// Both history lines of a refund carry RefundOf; a refund to another
// intermediary's wallet carries it in the delivery's memo. Idempotency
// keys work as for any payment; the refunded txid is part of the request
// a key stands for.
//
// Key layout:
//
//	refund/<original txid 32><refund txid 32>  u64 BE amount: a refund of the original, pending or committed

const pRefund = "refund/"

func refundPrefix(of money.TxID) []byte { return append([]byte(pRefund), of[:]...) }

func refundKey(of, txid money.TxID) []byte { return append(refundPrefix(of), txid[:]...) }

// receiptKey names a wallet's receipt of a payment in Intermediary.receipts.
type receiptKey struct {
	wallet string
	txid   money.TxID
}

// received finds the history line of wallet's receipt of payment txid:
// the "in" line with that txid. A history line never changes once
// written, so a line found is remembered: a refund reads it again under
// the wallet's lock (claimRefund), where a scan of a long history would
// hold up the wallet's other payments.
func (in *Intermediary) received(wallet string, txid money.TxID) (roles.Entry, bool, error) {
	k := receiptKey{wallet, txid}
	if e, ok := in.receipts.Load(k); ok {
		return e.(roles.Entry), true, nil
	}
	e, found, err := in.historyLine(wallet, txid, "in")
	if found {
		in.receipts.Store(k, e)
	}
	return e, found, err
}

// historyLine finds wallet's history line of txid in direction dir ("in"
// or "out"). History keys carry the txid and the direction, so only the
// matching line is decoded.
func (in *Intermediary) historyLine(wallet string, txid money.TxID, dir string) (roles.Entry, bool, error) {
	var e roles.Entry
	found := false
	prefix := historyPrefix(wallet)
	err := in.db.Scan(prefix, nil, func(k, v []byte) error {
		if len(k) != len(prefix)+8+32+1 || k[len(k)-1] != dir[0] || !bytes.Equal(k[len(prefix)+8:len(k)-1], txid[:]) {
			return nil
		}
		found = true
		if err := decodeRec(v, &e); err != nil {
			return err
		}
		return store.ErrStop
	})
	if err != nil {
		return roles.Entry{}, false, internalErr("history of "+wallet, err)
	}
	return e, found, nil
}

// refundable checks refund p (p.RefundOf set) against the payment it
// refunds and returns that payment's history line: p.From received it,
// from a known wallet, p.To is that wallet (filled in when empty), and
// p.Amount is not more than was paid. What earlier refunds took is
// checked when the notes are reserved (claimRefund).
func (in *Intermediary) refundable(p *roles.Payment) (roles.Entry, error) {
	if err := in.ownWallet(p.From); err != nil {
		return roles.Entry{}, err
	}
	if _, err := in.loadWallet(p.From); err != nil {
		return roles.Entry{}, err
	}
	orig, found, err := in.received(p.From, p.RefundOf)
	if err != nil {
		return roles.Entry{}, err
	}
	switch {
	case !found:
		return roles.Entry{}, errcode.New(errcode.NotFound, "wallet %s received no payment %s", p.From, p.RefundOf)
	case orig.Counterparty == "":
		return roles.Entry{}, errcode.New(errcode.Conflict, "payment %s to %s names no payer wallet (a mint or a delivery without a memo): it cannot be refunded", p.RefundOf, p.From)
	case orig.RefundOf != money.TxID{}:
		return roles.Entry{}, errcode.New(errcode.Conflict, "payment %s is itself a refund (of %s): it cannot be refunded", p.RefundOf, orig.RefundOf)
	case p.To == "":
		p.To = orig.Counterparty
	case p.To != orig.Counterparty:
		return roles.Entry{}, errcode.New(errcode.Malformed, "a refund of %s goes to the wallet that paid it, %s, not %s", p.RefundOf, orig.Counterparty, p.To)
	}
	if p.Amount > orig.Amount {
		cur := in.cfg.Network.Currency
		return roles.Entry{}, errcode.New(errcode.Conflict, "refund of %s %s is more than payment %s of %s %s",
			cur.Format(p.Amount), cur.Code, p.RefundOf, cur.Format(orig.Amount), cur.Code)
	}
	return orig, nil
}

// claimRefund adds to b the claim of refund pend (txid) on the payment it
// refunds, refused (errcode.Conflict) when it and the claims already made
// (refunds committed or in flight) would come to more than the payment.
// With b nil it only checks. The caller holds the paying wallet's lock,
// under which every refund of the payment (received by that wallet) is
// claimed.
func (in *Intermediary) claimRefund(b *store.Batch, pend *pendingRec, txid money.TxID) error {
	orig, found, err := in.received(pend.From, pend.RefundOf)
	if err != nil {
		return err
	}
	if !found {
		return errcode.New(errcode.NotFound, "wallet %s received no payment %s", pend.From, pend.RefundOf)
	}
	done, err := in.refunded(pend.RefundOf)
	if err != nil {
		return err
	}
	left := orig.Amount - min(orig.Amount, done)
	if pend.Amount > left {
		cur := in.cfg.Network.Currency
		return errcode.New(errcode.Conflict, "refund of %s %s is more than is left of payment %s: %s of %s %s refunded already, %s %s left",
			cur.Format(pend.Amount), cur.Code, pend.RefundOf, cur.Format(done), cur.Format(orig.Amount), cur.Code, cur.Format(left), cur.Code)
	}
	if b != nil {
		b.Set(refundKey(pend.RefundOf, txid), binary.BigEndian.AppendUint64(nil, pend.Amount))
	}
	return nil
}

// refunded is the sum of the refunds of payment of, committed or in
// flight.
func (in *Intermediary) refunded(of money.TxID) (uint64, error) {
	var sum uint64
	err := in.db.Scan(refundPrefix(of), nil, func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("refund record %x: %d bytes", k, len(v))
		}
		sum = addSat(sum, binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return 0, internalErr("refunds of "+of.String(), err)
	}
	return sum, nil
}

// unclaimRefund adds to b the release of refund pend's claim (txid did
// not commit).
func unclaimRefund(b *store.Batch, txid money.TxID, pend *pendingRec) {
	if pend.RefundOf != (money.TxID{}) {
		b.Delete(refundKey(pend.RefundOf, txid))
	}
}

// withRefund makes a payment's idempotency fingerprint fp that of a
// refund of payment of: the same key for a refund of another payment is
// another request. A payment that is no refund keeps fp.
func withRefund(fp string, of money.TxID) string {
	if of == (money.TxID{}) {
		return fp
	}
	h := sha256.New()
	h.Write([]byte("specie/refund-idempotency/v1\x00"))
	h.Write([]byte(fp))
	h.Write(of[:])
	return hex.EncodeToString(h.Sum(nil))
}
