package replica_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/replica"
	"github.com/specie/specie/money"
)

// retention is the test clusters' LogRetention here: small, so a few
// hundred batches compact the log many times over.
const retention = 16

// maxBatches is the furthest any running member has applied.
func (c *cluster) maxBatches() uint64 {
	var n uint64
	for _, m := range c.running() {
		n = max(n, m.rep.Status().Batches)
	}
	return n
}

// compactedEverywhere waits until every running member's raft log has
// been compacted (its first index past 1) and returns the least first
// index.
func (c *cluster) compactedEverywhere() uint64 {
	c.t.Helper()
	var least uint64
	c.waitFor("every raft log compacted", func() bool {
		least = ^uint64(0)
		for _, m := range c.running() {
			st := m.rep.Status()
			if st.FirstIndex <= 1 || st.Compactions == 0 {
				return false
			}
			least = min(least, st.FirstIndex)
		}
		return true
	})
	return least
}

// TestNewReplicaCatchesUpBySnapshot: after hundreds of batches, with the
// raft log of every replica compacted, a fourth replica added empty (a
// new ID, --join) cannot be sent the log from entry 1: it is sent a
// snapshot, fetches the batches from a peer (or, when no peer's log holds
// them any more, a peer's whole state: state.go), and then holds the
// same header chain, records, archive and state as the others and goes on
// applying new batches from the log.
func TestNewReplicaCatchesUpBySnapshot(t *testing.T) {
	c := newClusterRetaining(t, 3, false, 0, retention)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(71, 2, stop)
	c.waitFor("200 batches", func() bool { return c.maxBatches() >= 200 })
	c.compactedEverywhere()

	const newID = 4
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := c.leader().rep.AddMember(ctx, newID, url); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.peers[newID] = url
	c.m[newID] = &member{id: newID, dir: filepath.Join(t.TempDir(), "4"), addr: ln.Addr().String()}
	c.mu.Unlock()
	t0 := time.Now()
	c.startWith(newID, ln, true)
	n := c.m[newID]
	c.waitFor("the new replica to catch up by snapshot", func() bool {
		st := n.rep.Status()
		return st.SnapshotsInstalled >= 1 && st.Batches >= 200
	})
	// Reported, not asserted: the machine is shared.
	t.Logf("the new replica caught up %d batches by snapshot in %v", n.rep.Status().Batches, time.Since(t0))
	// It goes on from the log: batches after the snapshot arrive as
	// entries and are applied as on the others.
	at := n.rep.Status().Batches
	c.waitFor("30 more batches on the new replica", func() bool { return n.rep.Status().Batches >= at+30 })
	close(stop)
	wait()
	seq := c.converge()
	ld.check()
	if seq < 230 {
		t.Fatalf("converged at batch %d", seq)
	}
	if got := n.rep.Members(); len(got) != 4 {
		t.Fatalf("the new replica sees members %v", got)
	}
}

// TestRestartedReplicaCatchesUpBySnapshot stops a follower while the
// others commit, and compact, past its place in the log: restarted, it is
// sent a snapshot and catches up from its own head. Then every replica is
// restarted after compaction: each reopens its compacted log (first index
// past 1), elects a leader and goes on committing.
func TestRestartedReplicaCatchesUpBySnapshot(t *testing.T) {
	c := newClusterRetaining(t, 3, false, 0, retention)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(73, 2, stop)
	c.waitFor("40 commits", func() bool { return ld.committed() >= 40 })
	l := c.leader()
	var f uint64
	for _, m := range c.running() {
		if m.id != l.id {
			f = m.id
			break
		}
	}
	c.setAvoid(f)
	rep := c.m[f].rep
	c.stop(f)
	fst := rep.Status() // stopped: where it will restart from
	c.waitFor("the others to compact past the stopped follower", func() bool {
		for _, m := range c.running() {
			// Past the last entry its log holds, not just the last it
			// applied: entries it holds unapplied are not sent again,
			// and the leader would send the rest from its log.
			if m.rep.Status().FirstIndex <= fst.LastIndex+1 {
				return false
			}
		}
		return true
	})
	c.start(f, nil)
	c.setAvoid(0)
	c.waitFor("the follower to catch up by snapshot", func() bool {
		st := c.m[f].rep.Status()
		return st.SnapshotsInstalled >= 1 && st.Batches > fst.Batches
	})
	before := ld.committed()
	c.waitFor("20 more commits", func() bool { return ld.committed() >= before+20 })
	close(stop)
	wait()
	c.converge()
	ld.check()

	// Restart everyone on their compacted logs.
	firsts := map[uint64]uint64{}
	for _, m := range c.running() {
		firsts[m.id] = m.rep.Status().FirstIndex
	}
	for id := range firsts {
		c.stop(id)
	}
	for id := range firsts {
		c.start(id, nil)
	}
	for _, m := range c.running() {
		if got := m.rep.Status().FirstIndex; got != firsts[m.id] || got <= 1 {
			t.Fatalf("replica %d reopened its raft log at first index %d, had %d", m.id, got, firsts[m.id])
		}
	}
	stop = make(chan struct{})
	wait = ld.run(74, 2, stop)
	before = ld.committed()
	c.waitFor("20 commits after the restart", func() bool { return ld.committed() >= before+20 })
	close(stop)
	wait()
	c.converge()
	ld.check()
}

// TestSnapshotTransferRefused: a catch-up whose batches do not chain to
// the snapshot's head hash, or that a holder of the group key did not
// send, or that was damaged on the way, is refused, and the replica's
// ledger is left exactly as it was. Then the real transfer goes through.
func TestSnapshotTransferRefused(t *testing.T) {
	// The peers' logs must still hold the batches the follower lacks:
	// this is the catch-up from batches (TestStateTransferRefused: from a whole state).
	defer func(v int64) { clusterSnapshotEvery = v }(clusterSnapshotEvery)
	clusterSnapshotEvery = 64 << 10
	c := newClusterRetaining(t, 3, true, 91, retention)
	l := c.leader()
	var f uint64
	for _, m := range c.running() {
		if m.id != l.id {
			f = m.id
			break
		}
	}
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(79, 2, stop)
	c.waitFor("10 commits", func() bool { return ld.committed() >= 10 })
	// Cut the follower off; the other two go on.
	c.isolate(f, true)
	c.setAvoid(f)
	fm := c.m[f]
	at := fm.rep.Status().Batches
	c.waitFor("40 batches the follower lacks", func() bool { return c.maxBatches() >= at+40 })
	close(stop)
	wait()
	l = c.leader()
	seq, head := l.led.Head()
	leaderURL := c.peers[l.id] // direct, not through the cut links

	// relay plays a peer: it asks the leader and hands the answer on
	// after edit, which returns the answer and the MAC to send.
	relay := func(edit func(req, answer []byte, mac string) ([]byte, string)) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			out, err := http.NewRequest(http.MethodPost, leaderURL+replica.EntriesPath, bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			out.Header.Set(replica.MACHeader, req.Header.Get(replica.MACHeader))
			resp, err := http.DefaultClient.Do(out)
			if err != nil {
				t.Error(err)
				return
			}
			ans, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ans, mac := edit(body, ans, resp.Header.Get(replica.MACHeader))
			w.Header().Set(replica.MACHeader, mac)
			w.WriteHeader(resp.StatusCode)
			w.Write(ans)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	otherKey := bytes.Repeat([]byte{0x11}, replica.MinKeyLen)
	sign := func(key, req, ans []byte) string { return hex.EncodeToString(replica.EntriesMAC(key, req, ans)) }
	var reads atomic.Int32 // answers relayed by the last case's peer
	var wrong money.Hash
	wrong[0] = 1
	for _, tc := range []struct {
		name    string
		source  string
		seq     uint64
		head    money.Hash
		wantErr string
	}{
		{"a chain that ends at another head", leaderURL, seq, wrong, "in the snapshot"},
		{"a snapshot past what any peer holds", leaderURL, seq + 5, head, "HTTP 404"},
		{"an answer damaged on the way", relay(func(_, ans []byte, mac string) ([]byte, string) {
			ans = bytes.Clone(ans)
			ans[len(ans)/2] ^= 0x40
			return ans, mac
		}), seq, head, "valid " + replica.MACHeader},
		{"an answer from a peer without the group key", relay(func(req, ans []byte, _ string) ([]byte, string) {
			return ans, sign(otherKey, req, ans)
		}), seq, head, "valid " + replica.MACHeader},
		{"an answer that skips a batch, under the group key", relay(func(req, ans []byte, _ string) ([]byte, string) {
			n := binary.BigEndian.Uint32(ans[8:])
			ans = ans[12+n:]
			return ans, sign(testKey, req, ans)
		}), seq, head, "does not follow"},
		{"an honest first read, then a batch skipped in the second", relay(func(req, ans []byte, mac string) ([]byte, string) {
			if reads.Add(1) == 1 {
				return ans, mac
			}
			n := binary.BigEndian.Uint32(ans[8:])
			ans = ans[12+n:]
			return ans, sign(testKey, req, ans)
		}), seq, head, "does not follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s0, h0 := fm.led.Head()
			_, st0 := fm.led.StateHash()
			err := fm.rep.CatchUpFrom([]string{tc.source}, tc.seq, tc.head)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error saying %q", err, tc.wantErr)
			}
			s1, h1 := fm.led.Head()
			_, st1 := fm.led.StateHash()
			if s1 != s0 || h1 != h0 || st1 != st0 {
				t.Fatalf("refused transfer moved the ledger from batch %d to %d", s0, s1)
			}
		})
	}
	// The real thing, from the leader.
	if err := fm.rep.CatchUpFrom([]string{leaderURL}, seq, head); err != nil {
		t.Fatal(err)
	}
	if s, h := fm.led.Head(); s != seq || h != head {
		t.Fatalf("after catching up the follower is at batch %d, want %d", s, seq)
	}
	// Healed, it rejoins the log (which skips what it already holds).
	c.isolate(f, false)
	c.setAvoid(0)
	stop = make(chan struct{})
	wait = ld.run(80, 2, stop)
	before := ld.committed()
	c.waitFor("20 commits after healing", func() bool { return ld.committed() >= before+20 })
	close(stop)
	wait()
	c.converge()
	ld.check()
}

// TestEntriesRoute: the route a peer catches up from answers a range the
// ledger's log holds with MAC'd frames of replicated entries, and refuses
// malformed and out-of-range requests with the API's error codes.
func TestEntriesRoute(t *testing.T) {
	c := newClusterRetaining(t, 3, false, 0, retention)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(83, 1, stop)
	c.waitFor("5 commits", func() bool { return ld.committed() >= 5 })
	close(stop)
	wait()
	l := c.leader()
	seq, _ := l.led.Head()
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   string
		frames int
	}{
		{"the whole log", fmt.Sprintf(`{"from":1,"to":%d}`, seq), http.StatusOK, "", int(seq)},
		{"one batch", `{"from":2,"to":2}`, http.StatusOK, "", 1},
		{"not JSON", `{"from":`, http.StatusBadRequest, "malformed", 0},
		{"from 0", `{"from":0,"to":2}`, http.StatusBadRequest, "malformed", 0},
		{"to before from", `{"from":3,"to":2}`, http.StatusBadRequest, "malformed", 0},
		{"past the head", fmt.Sprintf(`{"from":1,"to":%d}`, seq+1), http.StatusNotFound, "not_found", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			req, _ := http.NewRequest(http.MethodPost, c.peers[l.id]+replica.EntriesPath, bytes.NewReader(body))
			req.Header.Set(replica.MACHeader, hex.EncodeToString(replica.MAC(testKey, http.MethodPost, replica.EntriesPath, body)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			ans, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.status, ans)
			}
			if tc.code != "" {
				if !strings.Contains(string(ans), `"code":"`+tc.code+`"`) {
					t.Fatalf("answer %s, want code %s", ans, tc.code)
				}
				return
			}
			if got := resp.Header.Get(replica.MACHeader); got != hex.EncodeToString(replica.EntriesMAC(testKey, body, ans)) {
				t.Fatal("answer without the group key's MAC")
			}
			n := 0
			err = replica.DecodeEntryFrames(ans, func(s uint64, e []byte) error {
				h, _, err := l.led.EntryHead(e)
				if err != nil {
					return err
				}
				if h.Seq != s {
					return fmt.Errorf("frame %d holds batch %d", s, h.Seq)
				}
				n++
				return nil
			})
			if err != nil || n != tc.frames {
				t.Fatalf("%d frames (%v), want %d", n, err, tc.frames)
			}
		})
	}
}

// TestStartRefusesALedgerBehindItsCompactedLog: a replica whose raft log
// was compacted past batches its ledger no longer holds (the ledger's
// directory lost, the raft log kept) cannot be brought back by raft, which
// counts those entries applied: Start refuses it, saying so, and the
// directory is left for an operator to wipe and rejoin under a new ID.
func TestStartRefusesALedgerBehindItsCompactedLog(t *testing.T) {
	c := newClusterRetaining(t, 3, false, 0, retention)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(89, 2, stop)
	c.waitFor("60 batches", func() bool { return c.maxBatches() >= 60 })
	c.compactedEverywhere()
	close(stop)
	wait()
	l := c.leader()
	var f *member
	for _, m := range c.m {
		if m.id != l.id {
			f = m
			break
		}
	}
	c.stop(f.id)
	if err := os.RemoveAll(filepath.Join(f.dir, "ledger")); err != nil {
		t.Fatal(err)
	}
	cfg := c.net.TestConfig()
	led, err := ledger.Open(filepath.Join(f.dir, "ledger"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	rep, err := replica.Start(replica.Config{ID: f.id, Peers: c.peers, Dir: f.dir, Ledger: led, Logger: c.log, Key: testKey, LogRetention: retention})
	if err == nil {
		rep.Stop()
		t.Fatal("a replica started on a ledger behind its compacted raft log")
	}
	if !strings.Contains(err.Error(), "behind batch") {
		t.Fatalf("got %v, want it to say the ledger is behind the compaction point", err)
	}
	if s, _ := led.Head(); s != 0 {
		t.Fatalf("the refused start applied up to batch %d", s)
	}
}

// TestCompactionFollowsTheLedgersSnapshots: with shard snapshots far
// apart (the ledger's Durable batch trails the head by hundreds of
// batches), each replica's raft log is still cut close behind Durable:
// at most a few retentions of entries before it remain. (When a single
// candidate was kept, one taken at the applied index waited a whole round
// of shard snapshots for Durable to pass it, and the log kept up to two
// rounds: here, every entry but the first retention's.)
func TestCompactionFollowsTheLedgersSnapshots(t *testing.T) {
	old := clusterSnapshotEvery
	clusterSnapshotEvery = 16 << 10
	defer func() { clusterSnapshotEvery = old }()
	c := newClusterRetaining(t, 3, false, 0, retention)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(59, 2, stop)
	c.waitFor("600 batches", func() bool { return c.maxBatches() >= 600 })
	// What the ledgers hold now; the log may be cut behind it on the next
	// compaction, a retention of entries on.
	durable := map[uint64]uint64{}
	for _, m := range c.running() {
		durable[m.id] = m.led.Durable()
	}
	at := c.maxBatches()
	c.waitFor("three more retentions of batches", func() bool { return c.maxBatches() >= at+3*retention })
	close(stop)
	wait()
	c.converge()
	for _, m := range c.running() {
		d, st := durable[m.id], m.rep.Status()
		// Raft indexes run ahead of batches by the conf changes and
		// new leaders' empty entries.
		offset := st.Applied - st.Batches
		t.Logf("replica %d: applied %d, log from %d, ledger durable at batch %d before the last %d batches, %d compactions", m.id, st.Applied, st.FirstIndex, d, 3*retention, st.Compactions)
		if d < 100 {
			t.Fatalf("replica %d: the ledger's snapshots reached only batch %d: the test shows nothing", m.id, d)
		}
		if st.FirstIndex+3*retention < d+offset {
			t.Fatalf("replica %d: raft log from index %d, though the ledger held everything to batch %d (index about %d) %d batches ago", m.id, st.FirstIndex, d, d+offset, 3*retention)
		}
	}
	ld.check()
}
