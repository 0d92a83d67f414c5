// Package shard splits the unspent set across several ledger groups by
// note-ID prefix and commits a transaction whose notes live in more than
// one group atomically, by two-phase commit through a replicated
// coordinator (as OpenCBDC's 2PC architecture does).
//
// Each group is an ordinary ledger (in production a replicated one,
// internal/replica), and so is the coordinator's decision log: every step
// of the protocol is a ledger.Part, committed through the same commit loop,
// log, replication and recovery as a transaction, and each of the
// coordinator's decisions sits in its hash-chained log of batches with an
// inclusion proof, as transactions do. A transaction whose notes all live
// in one group is submitted to that group as before.
//
// The protocol, for a transaction T (txid t) touching groups G:
//
//   - begin: the coordinator logs begin(t), archiving T; from now on a
//     recovering coordinator knows of T.
//   - prepare, in each group holding inputs of T: the group validates T in
//     full and spends T's inputs there into one lock note (value: their
//     sum, ID lock(t), spendable by no key), logged as prepare(t) unless
//     abort(t) is already logged there. A note in a lock note cannot be
//     spent by anything else: a transaction or another prepare spending it
//     is refused double_spend.
//   - decide: commit when every prepare was logged, else abort. The
//     decision is logged as decide-commit(t) or decide-abort(t), each
//     excluding the other, so exactly one is ever logged.
//   - commit, in each group of G: spend the lock note (if any) and create
//     T's outputs there, logged under t itself (so Tx(t) finds T in each
//     group). Abort, in each group holding inputs: spend the lock note and
//     create T's inputs again, same IDs, logged as abort(t); a group that
//     never prepared logs abort(t) alone, which makes a late prepare fail.
//   - end: the coordinator logs end(t); recovery skips T from then on.
//
// Every step is idempotent (a part whose txid is logged is refused, and the
// caller looks it up), so recovery simply drives every begun, unended
// transaction to its decision, deciding abort when none is logged.
package shard

import (
	"context"
	"crypto/sha256"
	"encoding/binary"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Group is one ledger group as the router and the coordinator use it: the
// ledger API plus the parts of cross-group transactions. *ledger.Ledger
// implements it; so does a replicated group that sends writes to its
// leader.
type Group interface {
	roles.Ledger
	SubmitPart(ctx context.Context, p ledger.Part) (roles.Receipt, error)
}

// GroupOf is the group, of n, that holds note id: by the ID's first two
// bytes, so each group holds one contiguous range of prefixes.
func GroupOf(id money.NoteID, n int) int {
	return int(uint32(binary.BigEndian.Uint16(id[:2])) * uint32(n) >> 16)
}

// The steps' txids, each a hash of the network, the step and t, so they
// are distinct from each other and from any transaction's txid.
const (
	stepBegin        = "begin"
	stepPrepare      = "prepare"
	stepAbort        = "abort"
	stepDecideCommit = "decide-commit"
	stepDecideAbort  = "decide-abort"
	stepEnd          = "end"
	noteLock         = "lock"
	noteMoved        = "moved"
)

func stepID(net money.Network, step string, t money.TxID) money.Hash {
	h := sha256.New()
	h.Write([]byte("specie/2pc/"))
	h.Write([]byte{byte(len(net.ID))})
	h.Write([]byte(net.ID))
	h.Write([]byte{byte(len(step))})
	h.Write([]byte(step))
	h.Write(t[:])
	var out money.Hash
	h.Sum(out[:0])
	return out
}

// LockNote is the ID of the note a group's prepare of t locks t's inputs
// there into. No key spends it: only t's commit or abort in that group.
func LockNote(net money.Network, t money.TxID) money.NoteID {
	return stepID(net, noteLock, t)
}

// DecisionIDs are the txids under which the coordinator's log records that
// cross-group transaction t committed or aborted: Tx of either on the log
// proves the decision's inclusion in its chain. Exactly one is ever logged.
func DecisionIDs(net money.Network, t money.TxID) (commit, abort money.TxID) {
	return stepID(net, stepDecideCommit, t), stepID(net, stepDecideAbort, t)
}

// plan is how a transaction falls on the groups.
type plan struct {
	tx     *money.Tx
	id     money.TxID
	ins    [][]ledger.NoteValue // per group: T's inputs there
	outs   [][]ledger.NoteValue // per group: T's outputs there
	groups []int                // groups with inputs or outputs, ascending
}

// planOf splits tx over n groups. It returns an error only for a
// transaction whose format is wrong (the groups say more when they
// validate it).
func planOf(net money.Network, tx *money.Tx, n int) (*plan, error) {
	if tx == nil {
		return nil, errcode.New(errcode.Malformed, "no transaction")
	}
	if err := tx.Check(); err != nil {
		return nil, errcode.New(errcode.Malformed, "%v", err)
	}
	p := &plan{tx: tx, id: net.TxID(tx), ins: make([][]ledger.NoteValue, n), outs: make([][]ledger.NoteValue, n)}
	for i := range tx.Inputs {
		id := net.NoteID(&tx.Inputs[i])
		g := GroupOf(id, n)
		p.ins[g] = append(p.ins[g], ledger.NoteValue{ID: id, Value: tx.Inputs[i].Value})
	}
	for j, o := range tx.OutputNotes(p.id) {
		id := net.NoteID(&o)
		g := GroupOf(id, n)
		p.outs[g] = append(p.outs[g], ledger.NoteValue{ID: id, Value: tx.Outputs[j].Value})
	}
	for g := range n {
		if len(p.ins[g]) > 0 || len(p.outs[g]) > 0 {
			p.groups = append(p.groups, g)
		}
	}
	return p, nil
}

// single is the one group holding every note of the plan, or -1.
func (p *plan) single() int {
	if len(p.groups) == 1 {
		return p.groups[0]
	}
	return -1
}

func sum(ns []ledger.NoteValue) uint64 {
	var s uint64
	for _, n := range ns {
		s += n.Value
	}
	return s
}

// moved is the value a committed T carries from one group to another:
// each group counts what enters it as minted and what leaves as redeemed,
// so the groups' totals exceed the network's by this much on each side
// (min of the two sums; zero for a mint). The coordinator's log keeps the
// running total, and the router subtracts it.
func (p *plan) moved() uint64 {
	var in, out uint64
	for g := range p.ins {
		a, b := sum(p.ins[g]), sum(p.outs[g])
		if b > a {
			in += b - a
		} else {
			out += a - b
		}
	}
	return min(in, out)
}

// logged reports whether step id is in g's log.
func logged(ctx context.Context, g roles.Ledger, id money.Hash) (bool, error) {
	_, err := g.Tx(ctx, id)
	if err == nil {
		return true, nil
	}
	if errcode.Is(err, errcode.NotFound) {
		return false, nil
	}
	return false, err
}

// submitStep commits part p on g, treating "already logged" as done: it
// returns the step's receipt when the step is in g's log, whoever logged
// it.
func submitStep(ctx context.Context, g Group, p ledger.Part) (roles.Receipt, error) {
	r, err := g.SubmitPart(ctx, p)
	if err == nil {
		return r, nil
	}
	info, lerr := g.Tx(ctx, p.ID)
	if lerr == nil {
		return roles.Receipt{TxID: p.ID, Batch: info.Header.Seq, Index: info.Index}, nil
	}
	if !errcode.Is(lerr, errcode.NotFound) {
		// Refused, but whether an earlier try was logged is not known.
		return roles.Receipt{}, errcode.New(errcode.Unavailable, "step %s: %v; and looking it up: %v", p.ID, err, lerr)
	}
	return roles.Receipt{}, err
}

// final reports whether err is a refusal that rules the step out for good
// (the state machine refused it): not unavailable, not_leader or internal,
// after which it may still be logged.
func final(err error) bool {
	switch errcode.Of(err) {
	case errcode.DoubleSpend, errcode.Conflict, errcode.BadSignature, errcode.Malformed,
		errcode.Unauthorized, errcode.UnknownNote, errcode.LimitExceeded:
		return true
	}
	return false
}
