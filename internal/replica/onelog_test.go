package replica_test

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/replica"
	"github.com/specie/specie/money"
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

// TestWipedReplicaCatchesUpByState: the group commits and compacts until
// no replica's raft log holds batch 1 (their ledgers keep no log of their
// own, so no peer can serve the early batches). A follower's data
// directory is wiped; it rejoins under a new ID and catches up by
// snapshot, taking a peer's whole state: the same header chain and state
// hash as the others, every reported commit there, and it goes on
// applying from the log.
func TestWipedReplicaCatchesUpByState(t *testing.T) {
	c := newClusterRetaining(t, 3, false, 0, retention)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(37, 2, stop)
	c.waitFor("120 batches", func() bool { return c.maxBatches() >= 120 })
	f := c.wipeFollower()
	c.waitFor("no peer's log to hold batch 1", func() bool {
		for _, m := range c.running() {
			_, err := m.led.Entries(1, 1, 1<<20, func(uint64, []byte) error { return nil })
			if !errcode.Is(err, errcode.NotFound) || m.rep.Status().FirstIndex < 100 {
				return false
			}
		}
		return true
	})
	for _, m := range c.running() {
		t.Logf("replica %d: raft log from index %d, %d compactions", m.id, m.rep.Status().FirstIndex, m.rep.Status().Compactions)
	}
	const newID = 4
	c.rejoin(f, newID)
	n := c.m[newID]
	c.waitFor("the new replica to catch up by snapshot", func() bool {
		st := n.rep.Status()
		return st.SnapshotsInstalled >= 1 && st.Batches >= 120
	})
	at := n.rep.Status().Batches
	c.waitFor("20 more batches on it", func() bool { return n.rep.Status().Batches >= at+20 })
	close(stop)
	wait()
	c.converge()
	ld.check()
}

// TestStateTransferRefused: a state whose MAC does not check (not from a
// holder of the group key, or damaged), one cut short under a valid MAC,
// and one that does not hold the snapshot's head hash are all refused, and
// the replica's ledger is left exactly as it was. A real peer's goes
// through.
func TestStateTransferRefused(t *testing.T) {
	c := newCluster(t, 3)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(41, 2, stop)
	c.waitFor("30 commits", func() bool { return ld.committed() >= 30 })
	close(stop)
	wait()
	seq := c.converge()
	l := c.leader()
	var f live
	for _, m := range c.running() {
		if m.id != l.id {
			f = m
			break
		}
	}
	var state bytes.Buffer
	if _, err := l.led.WriteState(&state); err != nil {
		t.Fatal(err)
	}
	_, head := l.led.Head()
	peer := func(answer []byte, mac func(req []byte) []byte) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			w.Header().Set("Trailer", replica.MACHeader)
			w.WriteHeader(http.StatusOK)
			w.Write(answer)
			w.Header().Set(replica.MACHeader, hex.EncodeToString(mac(body)))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	good := func(answer []byte) func([]byte) []byte {
		return func(req []byte) []byte { return replica.StateMAC(testKey, req, answer) }
	}
	otherKey := bytes.Repeat([]byte{7}, len(testKey))
	cut := state.Bytes()[:state.Len()-40]
	damaged := bytes.Clone(state.Bytes())
	damaged[len(damaged)/2] ^= 1
	_, want := f.led.StateHash()
	for _, tc := range []struct {
		name, url string
		head      money.Hash
		says      string
	}{
		{"another key", peer(state.Bytes(), func(req []byte) []byte { return replica.StateMAC(otherKey, req, state.Bytes()) }), head, "valid"},
		{"damaged on the way", peer(damaged, good(state.Bytes())), head, "valid"},
		{"cut short", peer(cut, good(cut)), head, "state"},
		{"another head", peer(state.Bytes(), good(state.Bytes())), money.Hash{1}, "diverged"},
	} {
		err := f.rep.FetchStateFrom(tc.url, seq, tc.head)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Fatalf("%s: %v, want it refused saying %q", tc.name, err, tc.says)
		}
		if s, got := f.led.StateHash(); s != seq || got != want {
			t.Fatalf("%s: the refused transfer changed the ledger", tc.name)
		}
		if err := f.led.CheckInvariants(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	if err := f.rep.FetchStateFrom(c.peers[l.id], seq, head); err != nil {
		t.Fatalf("a real peer's state: %v", err)
	}
	if s, got := f.led.StateHash(); s != seq || got != want {
		t.Fatal("the state taken from a peer differs from the one it had")
	}
	if err := f.led.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	stop = make(chan struct{})
	wait = ld.run(42, 2, stop)
	before := ld.committed()
	c.waitFor("10 commits after", func() bool { return ld.committed() >= before+10 })
	close(stop)
	wait()
	c.converge()
	ld.check()
}
