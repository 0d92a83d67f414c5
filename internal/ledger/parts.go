package ledger

import (
	"context"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Parts of cross-group transactions. In a sharded network (internal/shard)
// each ledger group holds the unspent notes of a range of note-ID prefixes,
// and a transaction whose notes live in several groups is committed by
// two-phase commit: each group locks its inputs (prepare), then spends the
// locked value and creates its outputs (commit), or gives the inputs back
// (abort). Each of those steps is a Part: one operation on this ledger's
// unspent set, named by a txid of its own, that goes through the same
// commit loop, state machine step, log record, replication and recovery as
// a transaction does. The ledger knows nothing of the protocol: a part
// spends exactly the notes it names and creates exactly the notes it names,
// unless its txid, or any txid it excludes, is already in the log. That
// one rule makes every step idempotent (a retried step is refused as
// already committed) and lets two steps exclude each other (a prepare and
// the abort of the same transaction: whichever is logged first wins, on
// every replica alike).
//
// A part's value need not balance within the group: what it creates beyond
// what it spends entered the group from another (counted here as minted),
// what it spends beyond what it creates left it (counted as redeemed). So
// every group's own conservation check and header chain hold unchanged,
// and the sum of the groups' outstanding supply is the network's.

// NoteValue is a note as a part names it: its ID and value.
type NoteValue struct {
	ID    money.NoteID
	Value uint64
}

// Part is one group's operation of a cross-group transaction.
type Part struct {
	// Tx is the whole cross-group transaction. It is validated in full
	// (format, authority keys, every signature unless Verified) before
	// the part is queued, and archived as the part's transaction.
	Tx *money.Tx
	// ID is the txid the part is logged under; the part is refused
	// (double_spend, "already committed") when it is already in the log.
	ID money.TxID
	// Spend must all be unspent (with these values); Create are made.
	Spend, Create []NoteValue
	// Excludes: the part is refused (conflict) when any of these txids is
	// in the log.
	Excludes []money.TxID
	// Expiry applies Tx's escrow refund expiry to this part (set on the
	// step that locks the escrowed inputs).
	Expiry bool
	// Verified skips Tx's signature checks (its format, sums and
	// authority keys are still checked): for the steps after the
	// transaction's signatures were verified, by this group when it
	// locked its inputs and by the coordinator's log when it began.
	Verified bool
}

// partOp is what the state machine needs of a part beyond checked.
type partOp struct {
	excludes        []money.TxID
	inVals, outVals []uint64
}

// SubmitPart validates p.Tx, then commits the part and returns once it is
// durable (replicated, in a replicated group), or with an *errcode.Error
// saying why nothing changed: double_spend when a note to spend is not
// unspent here, or when p.ID is already logged (the step was done before:
// Tx(p.ID) finds it); conflict when an excluded txid is.
func (l *Ledger) SubmitPart(ctx context.Context, p Part) (roles.Receipt, error) {
	if r := l.replicator(); r != nil {
		if err := r.Lead(); err != nil {
			return roles.Receipt{}, err
		}
	}
	if len(p.Spend) > maxPartSpends || len(p.Create) > maxPartCreates || len(p.Excludes) > maxPartExcludes {
		return roles.Receipt{}, errcode.New(errcode.Malformed, "part %s: %d spends, %d creations, %d exclusions: too many", p.ID, len(p.Spend), len(p.Create), len(p.Excludes))
	}
	op := &partOp{excludes: p.Excludes}
	ins := make([]money.NoteID, len(p.Spend))
	outs := make([]money.NoteID, len(p.Create))
	var in, out uint64
	seen := make(map[money.NoteID]bool, len(p.Spend))
	for i, n := range p.Spend {
		if n.Value == 0 || seen[n.ID] || in+n.Value < in {
			return roles.Receipt{}, errcode.New(errcode.Malformed, "part %s: spend %d: zero, repeated or overflowing", p.ID, i)
		}
		seen[n.ID] = true
		ins[i], in = n.ID, in+n.Value
		op.inVals = append(op.inVals, n.Value)
	}
	for i, n := range p.Create {
		if n.Value == 0 || out+n.Value < out {
			return roles.Receipt{}, errcode.New(errcode.Malformed, "part %s: creation %d: zero or overflowing", p.ID, i)
		}
		outs[i], out = n.ID, out+n.Value
		op.outVals = append(op.outVals, n.Value)
	}
	c := l.prepare(p.Tx)
	rs, err := l.submit(ctx, []*checked{c}, !p.Verified, func(c *checked) {
		c.id, c.ins, c.outs, c.in, c.out, c.part = p.ID, ins, outs, in, out, op
		if !p.Expiry {
			c.refundAfter = 0
		}
	})
	if err != nil {
		return roles.Receipt{}, err
	}
	return rs[0].Receipt, rs[0].Err
}

// conflict refuses a part whose txid, or an excluded one, is in the log
// or was committed earlier in the batch.
func (p *partOp) conflict(id money.TxID, v view, decided map[money.TxID]struct{}) error {
	if _, dup := decided[id]; dup || v.committed[id] {
		return errcode.New(errcode.DoubleSpend, "part %s was already committed", id)
	}
	for _, x := range p.excludes {
		if _, dup := decided[x]; dup || v.committed[x] {
			return errcode.New(errcode.Conflict, "part %s: %s is already in the log", id, x)
		}
	}
	return nil
}

// lookupPart reads whether a part's txid and its exclusions are in the log.
func (l *Ledger) lookupPart(c *checked, committed map[money.TxID]bool) error {
	for _, id := range append([]money.TxID{c.id}, c.part.excludes...) {
		ok, err := l.db.Has(keySlice(hashKey(prefixTx, &id)))
		if err != nil {
			return fmt.Errorf("lookup part %s: %w", id, err)
		}
		committed[id] = ok
	}
	return nil
}
