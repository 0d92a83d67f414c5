package replica_test

import (
	"testing"
	"time"
)

// TestCrashBetweenLogAndApply stops a follower (as a kill would) right
// after raft logged a batch entry and before its ledger applied it. The
// raft log is the only durable copy of that batch on the follower: its
// ledger keeps no log of its own. Restarted, it applies the batch once:
// the group converges on one header chain and state, every commit
// reported is there, none twice.
func TestCrashBetweenLogAndApply(t *testing.T) {
	c := newCluster(t, 3)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(31, 2, stop)
	c.waitFor("20 commits", func() bool { return ld.committed() >= 20 })
	l := c.leader()
	var f *member
	for _, m := range c.m {
		if m.id != l.id {
			f = m
			break
		}
	}
	var seq uint64
	select {
	case seq = <-f.rep.CrashBeforeNextBatch():
	case <-time.After(deadline):
		t.Fatal("no batch reached the follower")
	}
	if s, _ := f.led.Head(); s >= seq {
		t.Fatalf("the follower applied batch %d before the crash", s)
	}
	c.stop(f.id)
	before := ld.committed()
	c.waitFor("10 commits without the follower", func() bool { return ld.committed() >= before+10 })
	c.start(f.id, nil)
	c.waitFor("the follower past the batch", func() bool {
		s, _ := f.led.Head()
		return s > seq
	})
	close(stop)
	wait()
	c.converge()
	ld.check()
	t.Logf("follower %d crashed before applying batch %d and applied it once after the restart", f.id, seq)
}
