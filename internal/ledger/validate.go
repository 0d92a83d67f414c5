package ledger

import (
	"slices"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
)

// Validation is stateless: format, sums and signatures. It needs no ledger
// state, so it runs on every core (and could run on other machines) before a
// transaction reaches the sequenced commit path.

// checked is a transaction that passed stateless validation, with the IDs
// the commit path needs precomputed.
type checked struct {
	tx   *money.Tx
	id   money.TxID
	ins  []money.NoteID
	outs []money.NoteID // the notes the transaction creates
	in   uint64
	out  uint64
	// refundAfter: the transaction refunds escrowed notes and may commit
	// only in a batch numbered above this (0: any batch). The one rule of
	// validation that needs ledger state, so apply checks it.
	refundAfter uint64
	err         error // set when validation failed
	done        chan result
	// part is set when this is one group's operation of a cross-group
	// transaction (parts.go): ins and outs are then the part's notes, not
	// tx's, and id the txid it is logged under.
	part *partOp
}

// inValue is the value of input j as the state machine sees it.
func (c *checked) inValue(j int) uint64 {
	if c.part != nil {
		return c.part.inVals[j]
	}
	return c.tx.Inputs[j].Value
}

// outValue is the value of created note j.
func (c *checked) outValue(j int) uint64 {
	if c.part != nil {
		return c.part.outVals[j]
	}
	return c.tx.Outputs[j].Value
}

type result struct {
	receipt receiptPos
	err     error
}

type receiptPos struct {
	batch uint64
	index uint32
}

// prepare checks format and sums and computes IDs; signatures are checked
// separately so that many can be verified in one batch.
func (l *Ledger) prepare(tx *money.Tx) *checked {
	c := &checked{tx: tx}
	if tx == nil {
		c.err = errcode.New(errcode.Malformed, "no transaction")
		return c
	}
	if err := tx.Check(); err != nil {
		c.err = errcode.New(errcode.Malformed, "%v", err)
		return c
	}
	c.id = l.net.TxID(tx)
	c.ins = make([]money.NoteID, len(tx.Inputs))
	for i := range tx.Inputs {
		c.ins[i] = l.net.NoteID(&tx.Inputs[i])
	}
	c.outs = make([]money.NoteID, len(tx.Outputs))
	for j := range tx.Outputs {
		n := money.Note{TxID: c.id, Index: uint32(j), Output: tx.Outputs[j]}
		c.outs[j] = l.net.NoteID(&n)
	}
	c.in, c.out = tx.Sums()
	if len(tx.Witnesses) != 0 {
		c.refundAfter = tx.RefundAfter()
	}
	if err := l.checkAuthorityKeys(tx); err != nil {
		c.err = err
	}
	return c
}

// checkAuthorityKeys enforces who may sign what, before any signature math:
// a mint needs a quorum of distinct mint keys, a redeem at least one redeem
// key, and no transaction may carry a key outside its set.
func (l *Ledger) checkAuthorityKeys(tx *money.Tx) error {
	switch tx.Kind {
	case money.Mint:
		// The key set in force (keys.go): the founding one until a
		// rotation.
		return l.auth.Load().check(tx)
	case money.Redeem:
		if len(tx.Auth) == 0 {
			return errcode.New(errcode.Unauthorized, "redeem lacks the issuer's acknowledgement")
		}
		for _, a := range tx.Auth {
			if !l.redeemKeys[a.Key] {
				return errcode.New(errcode.Unauthorized, "redeem signed by %x, which is not an issuer redeem key", a.Key[:4])
			}
		}
	}
	return nil
}

// verifySigs checks every signature of the prepared transactions in one
// batch, marking the ones that fail. A failed batch falls back to single
// verification inside crypto.Batch, so the outcome for each transaction is
// the same however they were grouped.
func (l *Ledger) verifySigs(b *crypto.Batch, cs []*checked) {
	owner := make([]int, 0, len(cs)*2)
	type keySig struct {
		key [32]byte
		sig money.Sig
	}
	var added []keySig // this transaction's, to verify each pair once
	for i, c := range cs {
		if c.err != nil {
			continue
		}
		tx := c.tx
		added = added[:0]
		tx.SpendSigs(func(_ int, key [32]byte, sig money.Sig) {
			// Inputs locked to one key all carry its signature of the
			// same txid: the same key, message and signature verify the
			// same way, so a payment from many of a wallet's notes costs
			// one verification, not one per note.
			if slices.Contains(added, keySig{key, sig}) {
				return
			}
			added = append(added, keySig{key, sig})
			b.Add(crypto.PublicKey(key), crypto.Spend, l.net.ID, c.id, sig)
			owner = append(owner, i)
		})
		d := crypto.Mint
		if tx.Kind == money.Redeem {
			d = crypto.Redeem
		}
		for j := range tx.Auth {
			b.Add(crypto.PublicKey(tx.Auth[j].Key), d, l.net.ID, c.id, tx.Auth[j].Sig)
			owner = append(owner, i)
		}
	}
	l.stats.verified.Add(uint64(b.Len()))
	ok, valid := b.Verify()
	if ok {
		return
	}
	for k, v := range valid {
		if !v {
			c := cs[owner[k]]
			if c.err == nil {
				c.err = errcode.New(errcode.BadSignature, "transaction %s: a signature does not verify", c.id)
			}
		}
	}
}
