package shard

import (
	"fmt"

	"github.com/specie/specie/internal/logtree"
	"github.com/specie/specie/money"
)

// Steps are the IDs under which the protocol logs the steps of one
// cross-group transaction t, and the notes it makes beside t's own: what an
// auditor re-verifying a group's log or the coordinator's needs to tell
// which step an archived transaction was logged as (internal/audit).
type Steps struct {
	Begin, Prepare, Abort, DecideCommit, DecideAbort, End money.TxID
	// Lock is the note a group's prepare locks t's inputs there into;
	// Moved the note the commit decision creates in the coordinator's log,
	// holding the value t moved between groups.
	Lock, Moved money.NoteID
}

// StepsOf names the steps of cross-group transaction t on network net.
func StepsOf(net money.Network, t money.TxID) Steps {
	return Steps{
		Begin:        stepID(net, stepBegin, t),
		Prepare:      stepID(net, stepPrepare, t),
		Abort:        stepID(net, stepAbort, t),
		DecideCommit: stepID(net, stepDecideCommit, t),
		DecideAbort:  stepID(net, stepDecideAbort, t),
		End:          stepID(net, stepEnd, t),
		Lock:         LockNote(net, t),
		Moved:        stepID(net, noteMoved, t),
	}
}

// Moved is the value tx, committed across n groups, carries from one group
// to another (what its commit decision logs in the coordinator's log):
// the smaller of what enters its groups and what leaves them.
func Moved(net money.Network, tx *money.Tx, n int) (uint64, error) {
	p, err := planOf(net, tx, n)
	if err != nil {
		return 0, err
	}
	return p.moved(), nil
}

// LogOrigin is the origin line of the signed checkpoints of log g of a
// sharded network (g < 0: the coordinator's decision log): each log has a
// tree and a log key of its own, and the origin keeps a checkpoint of one
// from passing for another's.
func LogOrigin(net money.Network, g int) string {
	if g < 0 {
		return logtree.Origin(net) + "/coordinator"
	}
	return fmt.Sprintf("%s/group-%d", logtree.Origin(net), g)
}
