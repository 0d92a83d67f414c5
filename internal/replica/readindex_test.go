package replica_test

import (
	"context"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/replica"
)

// TestFollowerReadIndex: a follower whose link from the leader lags does
// not yet hold a batch the leader has just reported committed, but a read
// after ReadIndex finds it; a follower cut off from every peer gets no read
// index and answers unavailable instead of a stale read.
func TestFollowerReadIndex(t *testing.T) {
	c := newProxiedCluster(t, 3, 21)
	l := c.leader()
	var f, other uint64
	for _, m := range c.running() {
		if m.id == l.id {
			continue
		}
		if f == 0 {
			f = m.id
		} else {
			other = m.id
		}
	}
	c.setAvoid(f)
	var fl live
	for _, m := range c.running() {
		if m.id == f {
			fl = m
		}
	}
	ctx := context.Background()
	lagged := 0
	for i := range 5 {
		c.links[l.id][f].set(250*time.Millisecond, 0)
		txid, _, err := c.submit(c.net.MintNonce(uint64(1000+i), []int{0, 1}, ledgertest.To(c.net.Officers[0], 7)))
		if err != nil {
			t.Fatalf("mint %d: %v", i, err)
		}
		if _, err := fl.led.Tx(ctx, txid); errcode.Is(err, errcode.NotFound) {
			lagged++ // the follower had not applied it yet: a plain read would be stale
		}
		if err := fl.rep.ReadIndex(ctx); err != nil {
			t.Fatalf("read index on follower %d: %v", f, err)
		}
		if _, err := fl.led.Tx(ctx, txid); err != nil {
			t.Fatalf("after ReadIndex follower %d does not find %s, committed before the read: %v", f, txid, err)
		}
	}
	if lagged == 0 {
		t.Log("the lagging link never made the follower stale before its read index (timing); the reads were still checked")
	}
	t.Logf("%d of 5 plain reads would have been stale", lagged)
	c.links[l.id][f].set(0, 0)

	// Cut off: no read index, no stale answer.
	c.isolate(other, true)
	defer c.isolate(other, false)
	var ol live
	for _, m := range c.running() {
		if m.id == other {
			ol = m
		}
	}
	start := time.Now()
	err := ol.rep.ReadIndex(ctx)
	if !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("read index on an isolated replica: %v, want unavailable", err)
	}
	t.Logf("isolated replica refused its read after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

// TestReadIndexThroughLeaderLoss: a read begun on a follower just after
// the leader is lost is answered once a new leader is elected, not
// refused unavailable when its wait runs out. Before the fix the
// follower's one request went to the dead leader (or was dropped for want
// of a leader) and was never answered: such a read always failed after
// readWait (3 s), which held up a router's lookups through a group's
// leader SIGKILL (TestShardedProcessesGroupLeaderKilledUnderLoad in
// internal/devnet) for 3 s.
func TestReadIndexThroughLeaderLoss(t *testing.T) {
	// Long enough for any election on a loaded machine: before the fix a
	// read begun then waited all of it and failed, whatever the wait.
	replica.SetReadWait(t, 30*time.Second)
	c := newCluster(t, 3)
	l := c.leader()
	if _, _, err := c.submit(c.net.MintNonce(1, []int{0, 1}, ledgertest.To(c.net.Officers[0], 7))); err != nil {
		t.Fatal(err)
	}
	c.stop(l.id)
	for _, m := range c.running() {
		start := time.Now()
		if err := m.rep.ReadIndex(context.Background()); err != nil {
			t.Fatalf("read index on replica %d begun as leader %d was lost: %v", m.id, l.id, err)
		}
		t.Logf("replica %d answered its read index %v after leader %d stopped", m.id, time.Since(start).Round(time.Millisecond), l.id)
	}
}
