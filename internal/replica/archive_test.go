package replica_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// checkArchives: every running replica serves batches 1 to seq in full
// (Ledger.Batch), the same on every replica, and each batch's
// transactions hash to the txids its header's Merkle root commits to.
func (c *cluster) checkArchives(seq uint64) {
	c.t.Helper()
	ctx := context.Background()
	var ref []roles.BatchContents
	var refID uint64
	for _, m := range c.m {
		if m.led == nil {
			continue
		}
		got := make([]roles.BatchContents, 0, seq)
		for s := uint64(1); s <= seq; s++ {
			b, err := m.led.Batch(ctx, s)
			if err != nil {
				c.t.Fatalf("replica %d: batch %d: %v", m.id, s, err)
			}
			ids := make([]money.Hash, len(b.Txs))
			for i, raw := range b.Txs {
				var tx money.Tx
				if err := tx.UnmarshalBinary(raw); err != nil {
					c.t.Fatalf("replica %d: batch %d tx %d: %v", m.id, s, i, err)
				}
				ids[i] = c.net.Network.TxID(&tx)
			}
			if b.KeySet != nil {
				// A rotation batch: its one leaf is the rotation's ID.
				ids = append(ids, policy.RotationID(b.KeySet))
			}
			if len(ids) != int(b.Header.TxCount) || money.MerkleRoot(ids) != b.Header.TxRoot {
				c.t.Fatalf("replica %d: batch %d: its %d archived transactions do not rebuild the header's root", m.id, s, len(ids))
			}
			got = append(got, b)
		}
		if ref == nil {
			ref, refID = got, m.id
			continue
		}
		for i := range got {
			if got[i].Header != ref[i].Header || !sameTxs(got[i].Txs, ref[i].Txs) || !bytes.Equal(got[i].KeySet, ref[i].KeySet) {
				c.t.Fatalf("batch %d: replica %d and replica %d serve different contents", i+1, m.id, refID)
			}
		}
	}
}

func sameTxs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestAuditAReplica runs the independent auditor over a follower's API
// after commits through a leader change: the archive reached it through
// raft, and the auditor finds the log clean.
func TestAuditAReplica(t *testing.T) {
	c := newCluster(t, 3)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(14, 3, stop)
	c.waitFor("40 commits", func() bool { return ld.committed() >= 40 })
	old := c.leader()
	c.stop(old.id)
	before := ld.committed()
	c.waitFor("40 commits after the leader stopped", func() bool { return ld.committed() >= before+40 })
	close(stop)
	wait()
	c.start(old.id, nil)
	seq := c.converge()
	ld.check()

	var f *ledger.Ledger
	l := c.leader()
	for _, m := range c.running() {
		if m.id != l.id {
			f = m.led
			break
		}
	}
	srv := httptest.NewServer(api.New(api.Config{Ledger: f}).Handler())
	t.Cleanup(srv.Close)
	cl := client.New(srv.URL, "")
	rep, err := audit.Run(context.Background(), audit.Options{Ledger: cl.Ledger(), Batches: cl.Ledger().(roles.BatchSource), API: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean {
		var b strings.Builder
		for _, f := range rep.Findings {
			fmt.Fprintf(&b, "\t%s [%s] %s\n", f.Location(), f.Check, f.Message)
		}
		t.Fatalf("a replica's log audited unclean:\n%s", b.String())
	}
	if rep.ToBatch != seq || rep.Batches != seq {
		t.Fatalf("the audit verified batches to %d (%d of them), the replicas hold %d", rep.ToBatch, rep.Batches, seq)
	}
}
