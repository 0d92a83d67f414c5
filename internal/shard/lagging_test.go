package shard_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// lagging is the coordinator's log read through a replica that has not
// applied some of its entries yet, as a leader just elected may not have:
// Tx says not_found for the txids in behind. Writes go to the log, whose
// state machine sees everything.
type lagging struct {
	*swappable
	behind map[money.TxID]bool
}

func (l *lagging) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	if l.behind[id] {
		return roles.TxInfo{}, errcode.New(errcode.NotFound, "transaction %s not applied here yet", id)
	}
	return l.swappable.Tx(ctx, id)
}

// TestRecoveryReadsTheDecisionFromTheLog: the coordinator stops right after
// logging commit; the recovering one reads its log through a replica that
// has not applied the decision yet. Its attempt to log abort is refused
// conflict by the log, which orders it after the commit, and that answer,
// not the lagging read, decides: the transaction commits in every group.
// (Before, the decision was read back after the refusal, the lagging
// replica said no commit, and the groups were told to abort a transaction
// the log had committed.)
func TestRecoveryReadsTheDecisionFromTheLog(t *testing.T) {
	s := newSharded(t, 2)
	tx := crossTx(t, s, false)
	s.crash = func(p shard.Phase, _ int) error {
		if p == shard.PhaseDecided {
			return errCrash
		}
		return nil
	}
	if _, err := s.router.Submit(ctx, tx); !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("submit, crashing after the decision: %v", err)
	}
	s.crash = nil
	yes, _ := shard.DecisionIDs(s.n.Network, s.n.Network.TxID(tx))
	if _, err := s.log.Tx(ctx, yes); err != nil {
		t.Fatalf("the commit decision is not logged: %v", err)
	}
	real := s.log
	gs := make([]shard.Group, len(s.groups))
	for g := range s.groups {
		gs[g] = s.groups[g]
	}
	c, err := shard.NewCoordinator(shard.Config{Network: s.n.Network, Log: &lagging{real, map[money.TxID]bool{yes: true}}, Groups: gs, Retry: s.retry})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recovered %d (%v), want 1", n, err)
	}
	if got := s.outcome(tx); got != applied {
		t.Fatalf("the log decided commit; the groups hold %v", got)
	}
	s.committedOnce(tx)
	s.check()
}

// TestResentCommittedTransactionIsReportedCommitted: a committed
// cross-group transaction resent through a coordinator that reads its log
// through a replica behind the commit decision is answered double_spend
// (committed), as the log's answer to the decision says, and changes
// nothing. (Before, the answer came from a read of the decision after the
// fact, and the lagging replica made it conflict: "aborted; sign a new
// one", for a payment that had gone through.)
func TestResentCommittedTransactionIsReportedCommitted(t *testing.T) {
	s := newSharded(t, 2)
	tx := crossTx(t, s, false)
	if _, err := s.router.Submit(ctx, tx); err != nil {
		t.Fatal(err)
	}
	yes, _ := shard.DecisionIDs(s.n.Network, s.n.Network.TxID(tx))
	gs := make([]shard.Group, len(s.groups))
	for g := range s.groups {
		gs[g] = s.groups[g]
	}
	c, err := shard.NewCoordinator(shard.Config{Network: s.n.Network, Log: &lagging{s.log, map[money.TxID]bool{yes: true}}, Groups: gs, Retry: s.retry})
	if err != nil {
		t.Fatal(err)
	}
	before := s.supplies()
	if _, err := c.Submit(ctx, tx); !errcode.Is(err, errcode.DoubleSpend) {
		t.Fatalf("resent committed transaction: %v, want double_spend", err)
	}
	if after := s.supplies(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the resend changed the ledgers: %+v -> %+v", before, after)
	}
	if s.outcome(tx) != applied {
		t.Fatal("not applied")
	}
	s.check()
}
