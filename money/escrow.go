package money

import (
	"crypto/sha256"
	"encoding/binary"
)

// Reservations (issue 10, part 5): a note locked to an escrow can be spent
// by the payer's and the payee's keys together (capture, or void), or by
// the payer's key alone once the ledger is past the escrow's expiry batch
// (refund). Neither key alone can spend it before the expiry, and the
// payee's key alone never can.
//
// The lock stays 33 bytes, like every lock: Kind LockEscrow and, as Key,
// the SHA-256 of the escrow's terms. The terms are revealed, with the
// second signature, only when the note is spent, in a witness carried after
// the transaction's authority signatures. So a transaction without escrow
// inputs encodes exactly as before, note IDs and txids are computed as
// before, and the ledger stores an escrowed note like any other (its ID
// and value).
//
// The expiry is a batch sequence number, not a time: the ledger is a
// deterministic state machine with no clock, and the batch number is the
// one measure of progress every replica, replay and auditor agrees on (see
// docs/architecture.md, "Reservation locks").

// LockEscrow locks a note to an Escrow: Key is Escrow.Hash(). Kind 2 stays
// unassigned (the tests pin it as an unknown kind; DESIGN.md's plain m-of-n
// lock may take it).
const LockEscrow uint8 = 3

const tagEscrow = "specie/escrow/v1\x00"

// Escrow is the terms of a reservation.
type Escrow struct {
	Payer [32]byte // the payer's intermediary's key: signs every spend
	Payee [32]byte // the payee's intermediary's key: co-signs a joint spend
	// Expiry is a batch sequence number: the payer's key alone may spend
	// the note in any batch numbered above Expiry.
	Expiry uint64
}

// Hash commits to the terms; it is the Key of the escrow's lock.
func (e *Escrow) Hash() [32]byte {
	var buf [len(tagEscrow) + 32 + 32 + 8]byte
	b := append(buf[:0], tagEscrow...)
	b = append(b, e.Payer[:]...)
	b = append(b, e.Payee[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Expiry)
	return sha256.Sum256(b)
}

// Lock is the lock of a note reserved under these terms.
func (e *Escrow) Lock() Lock { return Lock{Kind: LockEscrow, Key: e.Hash()} }

// How a witness spends an escrowed note.
const (
	// PathJoint: the payer's signature (InputSigs[i]) and the payee's
	// (PayeeSig). Valid at any batch: capture (the payee gets up to the
	// reserved amount, the rest goes back) or void (all goes back).
	PathJoint uint8 = 1
	// PathRefund: the payer's signature alone, valid only in a batch
	// numbered above Expiry.
	PathRefund uint8 = 2
)

// Witness reveals an escrowed input's terms and says how it is spent.
// A transaction carries one per input locked with LockEscrow, in input
// order; the payer's signature is the input's InputSigs entry as for any
// input.
//
// The witness is not covered by the txid (signatures are over the txid).
// Its terms are bound by the lock's hash and the payee's signature covers
// the txid, so nothing in it can be changed to move money differently;
// after the expiry, anyone could turn a joint witness into a refund one by
// dropping PayeeSig, which changes the bytes but not the effect.
type Witness struct {
	Escrow
	Path     uint8
	PayeeSig Sig // PathJoint only; zero for PathRefund
}

// witnessSize is the encoded size of a witness of path p.
func witnessSize(p uint8) int {
	if p == PathJoint {
		return 32 + 32 + 8 + 1 + sigSize
	}
	return 32 + 32 + 8 + 1
}

// checkWitnesses checks that the transaction carries exactly one
// well-formed witness per escrowed input, each revealing that input's
// terms. Called by Check only when there are escrowed inputs or witnesses,
// so plain transactions pay nothing for it.
func (tx *Tx) checkWitnesses(escrowed int) error {
	if len(tx.Witnesses) != escrowed {
		return malformed("%d escrowed inputs but %d witnesses", escrowed, len(tx.Witnesses))
	}
	k := 0
	for i := range tx.Inputs {
		if tx.Inputs[i].Lock.Kind != LockEscrow {
			continue
		}
		w := &tx.Witnesses[k]
		switch w.Path {
		case PathJoint:
		case PathRefund:
			if w.PayeeSig != (Sig{}) {
				return malformed("witness %d: a refund carries no payee signature", k)
			}
		default:
			return malformed("witness %d: unknown path %d", k, w.Path)
		}
		if w.Hash() != tx.Inputs[i].Lock.Key {
			return malformed("witness %d: terms do not match the lock of input %d", k, i)
		}
		k++
	}
	return nil
}

// RefundAfter is the highest expiry among the escrowed inputs that this
// transaction spends by refund: it may commit only in a batch numbered
// above it. Zero when no input is refunded (every batch is above zero).
func (tx *Tx) RefundAfter() uint64 {
	var after uint64
	for i := range tx.Witnesses {
		if w := &tx.Witnesses[i]; w.Path == PathRefund && w.Expiry > after {
			after = w.Expiry
		}
	}
	return after
}

// SpendSigs calls fn for every owner signature over the txid that tx must
// carry, in order: for an input locked to a key, that key with
// InputSigs[i]; for an escrowed input, the payer's key with InputSigs[i]
// and, on the joint path, the payee's key with the witness's signature.
// tx must have passed Check (each escrowed input matched to its witness).
// The ledger and the independent auditor both verify through it, so they
// cannot disagree on who must sign what.
func (tx *Tx) SpendSigs(fn func(input int, key [32]byte, sig Sig)) {
	w := 0 // the next escrow witness
	for i := range tx.Inputs {
		if tx.Inputs[i].Lock.Kind != LockEscrow {
			fn(i, tx.Inputs[i].Lock.Key, tx.InputSigs[i])
			continue
		}
		wt := &tx.Witnesses[w]
		w++
		fn(i, wt.Payer, tx.InputSigs[i])
		if wt.Path == PathJoint {
			fn(i, wt.Payee, wt.PayeeSig)
		}
	}
}
