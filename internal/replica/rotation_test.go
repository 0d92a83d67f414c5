package replica_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// rotate hands s to whichever replica leads until the answer is not
// "retry", as the issuer does.
func (c *cluster) rotate(s policy.SignedKeySet) (roles.KeyEpoch, error) {
	end := time.Now().Add(deadline)
	for {
		var target *live
		for _, m := range c.running() {
			if m.rep.Status().Leader == m.id {
				target = &m
			}
		}
		if target != nil {
			e, err := target.led.RotateMintKeys(context.Background(), s)
			if !errcode.Is(err, errcode.Unavailable) && !errcode.Is(err, errcode.NotLeader) {
				return e, err
			}
		}
		if time.Now().After(end) {
			return roles.KeyEpoch{}, fmt.Errorf("no leader took the rotation")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rotation is officer 0's key replaced by a fresh one, approved by
// officers 0 and 1 (the founding quorum is 2 of 3).
func rotation(t *testing.T, n *ledgertest.Net) (policy.SignedKeySet, *crypto.PrivateKey) {
	t.Helper()
	fresh := ledgertest.KeyFrom(mrand.New(mrand.NewPCG(21, 0)))
	next := policy.KeySet{Network: n.Network.ID, Version: 2, Quorum: 2, Keys: []crypto.PublicKey{fresh.Public(), n.Officers[1].Public(), n.Officers[2].Public()}}
	s := policy.SignedKeySet{KeySet: next}
	for _, o := range n.Officers[:2] {
		a, err := policy.SignKeySet(&next, o)
		if err != nil {
			t.Fatal(err)
		}
		s.Approvals = append(s.Approvals, a)
	}
	return s, fresh
}

// sameEpochs checks that every running replica serves the same one
// rotation, at batch at, and returns it.
func (c *cluster) sameEpochs(at uint64) roles.KeyEpoch {
	c.t.Helper()
	var ref *roles.KeyEpoch
	for _, m := range c.running() {
		info, err := m.led.Info(context.Background())
		if err != nil || len(info.KeySets) != 1 {
			c.t.Fatalf("replica %d serves key sets %+v, %v; want one", m.id, info.KeySets, err)
		}
		e := info.KeySets[0]
		if at != 0 && (e.Batch != at || e.FromBatch != at+1) {
			c.t.Fatalf("replica %d applied the rotation at batch %d (from %d), want %d", m.id, e.Batch, e.FromBatch, at)
		}
		if ref == nil {
			ref = &e
		} else if fmt.Sprint(*ref) != fmt.Sprint(e) {
			c.t.Fatalf("replica %d serves rotation %+v, another %+v", m.id, e, *ref)
		}
	}
	return *ref
}

// refusesOldKeys checks that the leader refuses a mint by the rotated-out
// officer 0 (unauthorized, the chain unchanged) and commits one by the
// new set.
//
// The head it compares against is taken once the group has settled: just
// after a leader was stopped the replicas left may hold its last batch in
// their raft logs without knowing it committed, and agree on the batch
// before it until a new leader commits it (a head taken then would see
// that batch "appear" after the refusal).
func (c *cluster) refusesOldKeys(fresh *crypto.PrivateKey, nonce uint64) {
	c.t.Helper()
	c.settle()
	head := c.converge()
	if _, _, err := c.submit(c.net.MintNonce(nonce, []int{0, 1}, ledgertest.To(c.net.Officers[1], 5))); !errcode.Is(err, errcode.Unauthorized) {
		c.t.Fatalf("mint by a rotated-out key: %v, want unauthorized", err)
	}
	c.settle() // whatever the refused mint's submission left in flight is applied
	if seq := c.converge(); seq != head {
		c.t.Fatalf("a refused mint moved the chain from %d to %d", head, seq)
	}
	tx := &money.Tx{Kind: money.Mint, Nonce: nonce + 1, Outputs: []money.Output{ledgertest.To(c.net.Officers[1], 7)}}
	id := c.net.Network.TxID(tx)
	for _, k := range []*crypto.PrivateKey{fresh, c.net.Officers[2]} {
		tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, c.net.Network.ID, id)})
	}
	ledgertest.SortAuth(tx)
	if _, _, err := c.submit(tx); err != nil {
		c.t.Fatalf("mint by the new set: %v", err)
	}
}

// TestRotationOnAReplicatedLedger: a rotation goes through raft like a
// batch: every replica applies it at the same batch (same headers, same
// records, same state with the set in force in it), a mint by the
// rotated-out key is refused afterwards, also by the next leader once the
// first is stopped, and by the stopped one restarted; the same rotation
// again answers its epoch.
func TestRotationOnAReplicatedLedger(t *testing.T) {
	c := newCluster(t, 3)
	for i := range 3 {
		if _, _, err := c.submit(c.net.MintNonce(uint64(100+i), []int{0, 1}, ledgertest.To(c.net.Officers[0], 10))); err != nil {
			t.Fatal(err)
		}
	}
	s, fresh := rotation(t, c.net)
	e, err := c.rotate(s)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if e.Batch != 4 || e.FromBatch != 5 {
		t.Fatalf("rotation at batch %d from %d, want 4 from 5", e.Batch, e.FromBatch)
	}
	c.converge()
	c.sameEpochs(4)
	c.refusesOldKeys(fresh, 200)
	if again, err := c.rotate(s); err != nil || again.Batch != 4 {
		t.Fatalf("the same rotation again: %+v, %v", again, err)
	}
	old := c.leader()
	c.stop(old.id)
	c.refusesOldKeys(fresh, 300)
	c.start(old.id, nil)
	c.converge()
	c.sameEpochs(4)
	c.refusesOldKeys(fresh, 400)
}

// TestRotationWhileTheLeaderStops: the leader is stopped while a rotation
// is in flight. Whatever the rotation's caller was told, the group either
// holds it at one batch on every replica or nowhere; retried (as the
// issuer retries), it is in force exactly once, and the old key mints
// nothing. Run for a few timings of the stop.
func TestRotationWhileTheLeaderStops(t *testing.T) {
	for trial, pause := range []time.Duration{0, 2 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(fmt.Sprint(pause), func(t *testing.T) {
			c := newCluster(t, 3)
			if _, _, err := c.submit(c.net.MintNonce(uint64(trial), []int{0, 1}, ledgertest.To(c.net.Officers[0], 10))); err != nil {
				t.Fatal(err)
			}
			s, fresh := rotation(t, c.net)
			l := c.leader()
			type answer struct {
				e   roles.KeyEpoch
				err error
			}
			got := make(chan answer, 1)
			go func() {
				e, err := l.led.RotateMintKeys(context.Background(), s)
				got <- answer{e, err}
			}()
			time.Sleep(pause)
			c.stop(l.id)
			a := <-got
			t.Logf("the stopped leader answered %+v, %v", a.e, a.err)
			c.settle()
			seq := c.converge() // the two left agree, with or without it
			held := 0
			for _, m := range c.running() {
				info, _ := m.led.Info(context.Background())
				held += len(info.KeySets)
			}
			t.Logf("after the stop the rotation is held by %d of the 2 replicas left", held)
			if held != 0 && held != 2 {
				t.Fatalf("the rotation is held by %d of 2 replicas at batch %d", held, seq)
			}
			if a.err == nil && held == 0 {
				t.Fatalf("the rotation was answered %+v but is lost", a.e)
			}
			e, err := c.rotate(s)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if a.err == nil && e.Batch != a.e.Batch {
				t.Fatalf("retried rotation at batch %d, first answered at %d", e.Batch, a.e.Batch)
			}
			c.start(l.id, nil)
			c.converge()
			c.sameEpochs(e.Batch)
			c.refusesOldKeys(fresh, 1000)
		})
	}
}

// settle waits until a leader has applied the entries of earlier terms
// (so every entry committed before it took over, the rotation's too if it
// committed) and every running replica has applied as far.
func (c *cluster) settle() {
	c.t.Helper()
	l := c.leader()
	at := l.rep.Status().Applied
	c.waitFor("replicas to apply what the new leader has", func() bool {
		for _, m := range c.running() {
			if m.rep.Status().Applied < at {
				return false
			}
		}
		return true
	})
}
