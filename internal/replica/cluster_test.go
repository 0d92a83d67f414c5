package replica_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/replica"
	"github.com/specie/specie/money"
)

// deadline bounds every wait in these tests. It is a failure deadline, not
// a measurement: on a loaded 2-core machine under -race an election and a
// catch-up take well under a second each.
const deadline = 90 * time.Second

// member is one replica of a test cluster: its ledger, its raft node and
// the HTTP server its peers reach it at.
type member struct {
	id   uint64
	dir  string
	addr string
	led  *ledger.Ledger
	rep  *replica.Replica
	srv  *http.Server
	// peers is where this member reaches the others, through links in a
	// proxied cluster; nil: the cluster's peers.
	peers map[uint64]string

	mu      sync.Mutex
	digests map[uint64][32]byte // batch -> SHA-256 of its record, as applied here
}

// cluster is a group of replicas in this process, talking raft over real
// HTTP on loopback, each with its own Pebble stores on disk.
type cluster struct {
	t     *testing.T
	net   *ledgertest.Net
	peers map[uint64]string
	m     map[uint64]*member
	log   *slog.Logger
	// mu guards each member's led and rep, which the load's goroutines
	// read while the test stops and starts members, and avoid.
	mu sync.Mutex
	// links[a][b] carries a's raft messages to b in a proxied cluster.
	links map[uint64]map[uint64]*link
	// avoid is a member the load sends nothing to (0: none): one cut off
	// on purpose, where a submission would wait for the partition to heal.
	avoid uint64
	// retention is the members' Config.LogRetention (0: the default).
	retention int
}

// clusterSnapshotEvery is the members' ledger.Config.SnapshotEvery: small,
// so that their raft logs, compacted no further than the ledger's oldest
// shard snapshot, compact within a test. A test that needs the logs to
// hold more sets it for its duration (the tests here run one at a time).
var clusterSnapshotEvery int64 = 1 << 10

// live is a running member's ledger and replica.
type live struct {
	id  uint64
	led *ledger.Ledger
	rep *replica.Replica
}

// running lists the members that run now.
func (c *cluster) running() []live {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []live
	for id, m := range c.m {
		if m.rep != nil {
			out = append(out, live{id, m.led, m.rep})
		}
	}
	return out
}

func newCluster(t *testing.T, n int) *cluster { return newClusterWith(t, n, false, 0) }

// newProxiedCluster is a cluster whose replicas reach each other only
// through fault-injecting links (proxy_test.go), seeded by seed.
func newProxiedCluster(t *testing.T, n int, seed uint64) *cluster {
	t.Logf("link seed %d", seed)
	return newClusterWith(t, n, true, seed)
}

func newClusterWith(t *testing.T, n int, proxied bool, seed uint64) *cluster {
	t.Helper()
	return newClusterRetaining(t, n, proxied, seed, 0)
}

// newClusterRetaining is newClusterWith whose members keep retention
// entries of raft log behind the applied index (0: the default).
func newClusterRetaining(t *testing.T, n int, proxied bool, seed uint64, retention int) *cluster {
	t.Helper()
	c := &cluster{t: t, net: ledgertest.NewFromSeed(1), peers: map[uint64]string{}, m: map[uint64]*member{}, retention: retention}
	c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		lvl := slog.LevelInfo
		if os.Getenv("SPECIE_DEBUG") != "" {
			lvl = slog.LevelDebug
		}
		c.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	root := t.TempDir()
	lns := map[uint64]net.Listener{}
	for id := uint64(1); id <= uint64(n); id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id] = ln
		c.peers[id] = "http://" + ln.Addr().String()
		c.m[id] = &member{id: id, dir: filepath.Join(root, fmt.Sprint(id)), addr: ln.Addr().String()}
	}
	if proxied {
		c.links = map[uint64]map[uint64]*link{}
		for a := range c.m {
			c.links[a] = map[uint64]*link{}
			c.m[a].peers = map[uint64]string{a: c.peers[a]}
			for b := range c.m {
				if a != b {
					l := newLink(t, c.m[b].addr, seed+a*16+b)
					c.links[a][b] = l
					c.m[a].peers[b] = l.url()
				}
			}
		}
	}
	for id, ln := range lns {
		c.start(id, ln)
	}
	t.Cleanup(func() {
		for id, m := range c.m {
			if m.rep != nil {
				c.stop(id)
			}
		}
	})
	return c
}

// start opens member id's ledger and replica on ln (nil: listen on its
// address again).
func (c *cluster) start(id uint64, ln net.Listener) { c.startWith(id, ln, false) }

// startWith is start, as a new member joining a running group when join.
func (c *cluster) startWith(id uint64, ln net.Listener, join bool) {
	c.t.Helper()
	m := c.m[id]
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", m.addr); err != nil {
			c.t.Fatal(err)
		}
	}
	m.digests = map[uint64][32]byte{}
	cfg := c.net.TestConfig()
	cfg.Logger = c.log.With("replica", id)
	cfg.Archive = true // the archive travels in the raft entries (archive_test.go)
	// The raft log is compacted no further than the ledger's oldest shard
	// snapshot: few shards, snapshotted often, let a test compact it.
	cfg.Shards, cfg.SnapshotEvery = 4, clusterSnapshotEvery
	cfg.OnApply = func(seq uint64, d [32]byte) {
		m.mu.Lock()
		m.digests[seq] = d
		m.mu.Unlock()
	}
	// One durable log: the raft log, which the ledger recovers from.
	lg, err := replica.OpenLog(m.dir)
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.Log = lg
	led, err := ledger.Open(filepath.Join(m.dir, "ledger"), cfg)
	if err != nil {
		lg.Close()
		c.t.Fatal(err)
	}
	peers := c.peers
	if m.peers != nil {
		peers = m.peers
	}
	rep, err := replica.Start(replica.Config{ID: id, Peers: peers, Dir: m.dir, Log: lg, Ledger: led, Logger: c.log, Join: join, CacheEntries: 4, Key: testKey, LogRetention: c.retention})
	if err != nil {
		led.Close()
		c.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/raft/", rep.Handler())
	c.mu.Lock()
	m.led, m.rep, m.srv = led, rep, &http.Server{Handler: mux}
	c.mu.Unlock()
	go m.srv.Serve(ln)
}

// stop takes member id down: its server, its raft node, its ledger.
func (c *cluster) stop(id uint64) {
	c.t.Helper()
	m := c.m[id]
	c.mu.Lock()
	rep, led := m.rep, m.led
	m.rep, m.led = nil, nil
	c.mu.Unlock()
	m.srv.Close()
	if err := rep.Stop(); err != nil {
		c.t.Errorf("stop replica %d: %v", id, err)
	}
	if err := led.Close(); err != nil {
		c.t.Errorf("close ledger %d: %v", id, err)
	}
}

// waitFor polls cond until it holds or the failure deadline passes.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			for _, m := range c.running() {
				c.t.Logf("replica %d: %+v", m.id, m.rep.Status())
			}
			c.t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leader is the member that leads and may evaluate batches now.
func (c *cluster) leader() live {
	c.t.Helper()
	var l live
	c.waitFor("a leader", func() bool {
		for _, m := range c.running() {
			if m.rep.Lead() == nil {
				l = m
				return true
			}
		}
		return false
	})
	return l
}

// submit sends tx to whichever replica leads until it gets an answer that
// is not "retry": committed (its receipt) or a rejection.
func (c *cluster) submit(tx *money.Tx) (money.TxID, uint64, error) {
	end := time.Now().Add(deadline)
	retried := false
	for {
		var target *live
		c.mu.Lock()
		avoid := c.avoid
		c.mu.Unlock()
		for _, m := range c.running() {
			if m.id != avoid && m.rep.Status().Leader == m.id {
				target = &m
			}
		}
		if target == nil {
			if time.Now().After(end) {
				return money.TxID{}, 0, errors.New("no leader")
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		rc, err := target.led.Submit(context.Background(), tx)
		if errcode.Is(err, errcode.Unavailable) || errcode.Is(err, errcode.NotLeader) {
			if time.Now().After(end) {
				return rc.TxID, 0, err
			}
			retried = true
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if retried && errcode.Is(err, errcode.DoubleSpend) {
			// An earlier try whose outcome was unknown (its leader
			// stopped) committed after all: find where, as a client
			// would.
			info, terr := target.led.Tx(context.Background(), rc.TxID)
			if terr == nil {
				return rc.TxID, info.Header.Seq, nil
			}
		}
		return rc.TxID, rc.Batch, err
	}
}

// converge waits until every running member has applied the same last
// batch, then checks that they hold one header chain, the same record at
// every batch each applied, and the same state.
//
// The members may agree on a batch only for a moment: after a leader
// stops, the others can hold its last batch in their raft logs and apply
// it once a new leader commits it, while the check runs. A member whose
// state is past the batch agreed on has moved on, not diverged: the check
// starts again from the wait (until the deadline).
func (c *cluster) converge() uint64 {
	c.t.Helper()
	end := time.Now().Add(deadline)
	for {
		seq, moved := c.convergeOnce()
		if !moved {
			return seq
		}
		if time.Now().After(end) {
			c.t.Fatalf("gave up waiting: replicas to stay at one batch while checked (they agreed on %d)", seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// convergeOnce is one round of converge: it returns the batch checked, or
// moved when a member's state went past the batch the members agreed on
// before the check could read it.
func (c *cluster) convergeOnce() (uint64, bool) {
	c.t.Helper()
	var seq uint64
	c.waitFor("replicas to converge", func() bool {
		var heads []money.Hash
		seq = 0
		for _, m := range c.running() {
			s, h := m.led.Head()
			if seq != 0 && s != seq {
				return false
			}
			seq = s
			heads = append(heads, h)
		}
		for _, h := range heads[1:] {
			if h != heads[0] {
				return false
			}
		}
		return true
	})
	var ref *member
	var chain []money.BatchHeader
	var state [32]byte
	for _, m := range c.m {
		if m.led == nil {
			continue // only the test goroutine starts and stops members
		}
		s, st := m.led.StateHash()
		if s != seq {
			return seq, true
		}
		hs := headers(c.t, m.led)
		if uint64(len(hs)) < seq {
			c.t.Fatalf("replica %d at batch %d serves %d headers", m.id, seq, len(hs))
		}
		hs = hs[:seq] // a batch applied since the state was read is for the next round
		if err := m.led.CheckInvariants(); err != nil {
			c.t.Fatalf("replica %d: %v", m.id, err)
		}
		if ref == nil {
			ref, chain, state = m, hs, st
			continue
		}
		if len(hs) != len(chain) {
			c.t.Fatalf("replica %d holds %d batches, replica %d %d", m.id, len(hs), ref.id, len(chain))
		}
		for i := range hs {
			if hs[i] != chain[i] {
				c.t.Fatalf("batch %d: replica %d and replica %d hold different headers", i+1, m.id, ref.id)
			}
		}
		if st != state {
			c.t.Fatalf("replica %d and replica %d hold different states at batch %d", m.id, ref.id, seq)
		}
		m.mu.Lock()
		ref.mu.Lock()
		for b, d := range m.digests {
			if rd, ok := ref.digests[b]; ok && rd != d {
				c.t.Fatalf("batch %d: replica %d applied another record than replica %d", b, m.id, ref.id)
			}
		}
		ref.mu.Unlock()
		m.mu.Unlock()
	}
	c.checkArchives(seq)
	return seq, false
}

func headers(t *testing.T, l *ledger.Ledger) []money.BatchHeader {
	t.Helper()
	var out []money.BatchHeader
	for from := uint64(1); ; {
		hs, err := l.Headers(context.Background(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hs...)
		if len(hs) < 1000 {
			return out
		}
		from += uint64(len(hs))
	}
}

// load is a set of submitters minting notes: each mint's nonce comes from
// a seeded generator, so a retried mint is the same transaction.
type load struct {
	c    *cluster
	mu   sync.Mutex
	sent map[money.TxID]uint64 // every mint submitted
	ok   map[money.TxID]uint64 // reported committed, with its batch
}

func newLoad(c *cluster) *load {
	return &load{c: c, sent: map[money.TxID]uint64{}, ok: map[money.TxID]uint64{}}
}

// run mints from workers goroutines until stop is closed.
func (ld *load) run(seed uint64, workers int, stop <-chan struct{}) (wait func()) {
	owner := ledgertest.KeyFrom(mrand.New(mrand.NewPCG(seed, 0)))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(seed, uint64(w)+1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				tx := ld.c.net.MintNonce(rng.Uint64(), []int{0, 1}, ledgertest.To(owner, 1+rng.Uint64N(1000)))
				id, batch, err := ld.c.submit(tx)
				ld.mu.Lock()
				ld.sent[ld.c.net.Network.TxID(tx)] = 0
				if err == nil {
					if _, dup := ld.ok[id]; dup {
						ld.c.t.Errorf("mint %s reported committed twice", id)
					}
					ld.ok[id] = batch
				}
				ld.mu.Unlock()
				if err != nil {
					ld.c.t.Errorf("mint: %v", err)
					return
				}
			}
		}()
	}
	return wg.Wait
}

func (ld *load) committed() int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return len(ld.ok)
}

// check asserts, on every running member, that each mint reported
// committed is in the batch its receipt named, and that no transaction is
// in the log twice: the log holds exactly as many transactions as there
// are distinct submitted mints found committed.
func (ld *load) check() {
	t := ld.c.t
	t.Helper()
	ctx := context.Background()
	for _, m := range ld.c.m {
		if m.led == nil {
			continue
		}
		found := 0
		for id := range ld.sent {
			info, err := m.led.Tx(ctx, id)
			if errcode.Is(err, errcode.NotFound) {
				if _, ok := ld.ok[id]; ok {
					t.Fatalf("replica %d: mint %s was reported committed and is lost", m.id, id)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			found++
			if b, ok := ld.ok[id]; ok && info.Header.Seq != b {
				t.Fatalf("replica %d: mint %s reported in batch %d, found in %d", m.id, id, b, info.Header.Seq)
			}
		}
		total := 0
		for _, h := range headers(t, m.led) {
			total += int(h.TxCount)
		}
		if total != found {
			t.Fatalf("replica %d: the log holds %d transactions, %d distinct mints are committed", m.id, total, found)
		}
	}
}

// TestClusterCommitsIdentically runs a 3-replica group: every committed
// batch is on every replica, with one header chain, the same record at
// every batch and the same state.
func TestClusterCommitsIdentically(t *testing.T) {
	c := newCluster(t, 3)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(11, 4, stop)
	c.waitFor("100 commits", func() bool { return ld.committed() >= 100 })
	close(stop)
	wait()
	if seq := c.converge(); seq == 0 {
		t.Fatal("nothing committed")
	}
	ld.check()
}

// TestFollowerRejectsWritesNamingTheLeader: a replica that does not lead
// refuses a submission with not_leader and the leader's URL.
func TestFollowerRejectsWritesNamingTheLeader(t *testing.T) {
	c := newCluster(t, 3)
	l := c.leader()
	c.waitFor("followers to know the leader", func() bool {
		for _, m := range c.running() {
			if m.rep.Status().Leader != l.id {
				return false
			}
		}
		return true
	})
	for _, m := range c.running() {
		if m.id == l.id {
			continue
		}
		_, err := m.led.Submit(context.Background(), c.net.MintNonce(1, []int{0, 1}, ledgertest.To(c.net.Officers[0], 5)))
		var e *errcode.Error
		if !errors.As(err, &e) || e.Code != errcode.NotLeader || e.Leader != c.peers[l.id] {
			t.Fatalf("follower %d: got %v, want not_leader naming %s", m.id, err, c.peers[l.id])
		}
	}
}

// TestLeaderLossUnderLoad stops the leader while mints flow: another
// replica takes over, commits resume, no mint reported committed is lost
// and none is in the log twice; the old leader, restarted, converges.
func TestLeaderLossUnderLoad(t *testing.T) {
	c := newCluster(t, 3)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(12, 4, stop)
	c.waitFor("50 commits", func() bool { return ld.committed() >= 50 })
	old := c.leader()
	c.stop(old.id)
	before := ld.committed()
	c.waitFor("50 commits after the leader stopped", func() bool { return ld.committed() >= before+50 })
	if l := c.leader(); l.id == old.id {
		t.Fatal("the stopped replica leads")
	}
	close(stop)
	wait()
	c.converge()
	ld.check()
	c.start(old.id, nil)
	c.converge()
	ld.check()
}

// TestWipedReplicaRejoins deletes a follower's whole data directory while
// it is down. It comes back the way raft requires of a replica that lost
// what it acknowledged: removed from the group, added again under a new
// ID, started empty with Join. It catches up to the same header chain and
// state, while commits go on: from the leader's log while that starts at
// entry 1, by snapshot once the log was compacted (a small retention).
func TestWipedReplicaRejoins(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retention  int
		bySnapshot bool
	}{
		{"from the log", 0, false},
		{"by snapshot", 16, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testWipedReplicaRejoins(t, tc.retention, tc.bySnapshot) })
	}
}

func testWipedReplicaRejoins(t *testing.T, retention int, bySnapshot bool) {
	c := newClusterRetaining(t, 3, false, 0, retention)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(13, 2, stop)
	c.waitFor("30 commits", func() bool { return ld.committed() >= 30 })
	f := c.wipeFollower()
	before := ld.committed()
	c.waitFor("30 commits without the follower", func() bool { return ld.committed() >= before+30 })
	const newID = 4
	c.rejoin(f, newID)
	before = ld.committed()
	c.waitFor("30 commits with it back", func() bool { return ld.committed() >= before+30 })
	close(stop)
	wait()
	c.converge()
	ld.check()
	var want []uint64
	for id := range c.m {
		want = append(want, id)
	}
	slices.Sort(want)
	for _, m := range c.running() {
		if got := m.rep.Members(); !slices.Equal(got, want) {
			t.Fatalf("replica %d: members %v, want %v", m.id, got, want)
		}
	}
	if got := c.m[newID].rep.Status().SnapshotsInstalled; (got > 0) != bySnapshot {
		t.Fatalf("the rejoined replica installed %d snapshots; by snapshot: %v", got, bySnapshot)
	}
}

// wipeFollower stops a follower, deletes its whole data directory and
// removes it from the group, as an operator does with a replica that lost
// its disk. It returns the member, for rejoin.
func (c *cluster) wipeFollower() *member {
	c.t.Helper()
	l := c.leader()
	var f *member
	for _, m := range c.m {
		if m.id != l.id {
			f = m
			break
		}
	}
	c.stop(f.id)
	if err := os.RemoveAll(f.dir); err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := c.leader().rep.RemoveMember(ctx, f.id); err != nil {
		c.t.Fatal(err)
	}
	return f
}

// rejoin brings a wiped member back as raft requires: added under a new
// ID at its old address, started empty with Join.
func (c *cluster) rejoin(f *member, newID uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	url := c.peers[f.id]
	if err := c.leader().rep.AddMember(ctx, newID, url); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	delete(c.m, f.id)
	delete(c.peers, f.id)
	c.peers[newID] = url
	c.m[newID] = &member{id: newID, dir: f.dir, addr: f.addr}
	c.mu.Unlock()
	c.startWith(newID, nil, true)
}

// cut cuts (or heals) the links from a to each of to, or all of a's
// outgoing links when to is empty.
func (c *cluster) cut(a uint64, cut bool, to ...uint64) {
	for b, l := range c.links[a] {
		if len(to) == 0 || slices.Contains(to, b) {
			l.setCut(cut)
		}
	}
}

// isolate cuts (or heals) every link to and from a.
func (c *cluster) isolate(a uint64, cut bool) {
	c.cut(a, cut)
	for b := range c.links {
		if b != a {
			c.cut(b, cut, a)
		}
	}
}

func (c *cluster) setAvoid(id uint64) {
	c.mu.Lock()
	c.avoid = id
	c.mu.Unlock()
}

// TestMinorityCannotCommit cuts the leader off from the others, both ways.
// A mint submitted to it is never reported committed; the majority elects
// a leader and goes on committing; when the partition heals, the old
// leader drops its uncommitted entry, answers the mint "not committed",
// and converges to the majority's header chain.
func TestMinorityCannotCommit(t *testing.T) {
	c := newProxiedCluster(t, 3, 31)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(31, 3, stop)
	c.waitFor("20 commits", func() bool { return ld.committed() >= 20 })
	// Stop the load before the cut, so that no submitter waits on the
	// cut-off leader for the partition to heal; a fresh load drives the
	// majority.
	close(stop)
	wait()
	old := c.leader()
	c.setAvoid(old.id)
	c.isolate(old.id, true)
	stop = make(chan struct{})
	wait = ld.run(32, 3, stop)

	mint := c.net.MintNonce(1<<62, []int{0, 1}, ledgertest.To(c.net.Officers[0], 9))
	mintID := c.net.Network.TxID(mint)
	res := make(chan error, 1)
	go func() {
		_, err := old.led.Submit(context.Background(), mint)
		res <- err
	}()
	before := ld.committed()
	c.waitFor("30 commits by the majority", func() bool { return ld.committed() >= before+30 })
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("the cut-off leader reported a mint committed")
		}
		res <- err
	default:
	}
	for _, m := range c.running() {
		if _, err := m.led.Tx(context.Background(), mintID); !errcode.Is(err, errcode.NotFound) {
			t.Fatalf("replica %d: the minority's mint: %v, want not_found", m.id, err)
		}
	}

	c.isolate(old.id, false)
	c.setAvoid(0)
	var err error
	c.waitFor("the cut-off leader to answer", func() bool {
		select {
		case err = <-res:
			return true
		default:
			return false
		}
	})
	if !errcode.Is(err, errcode.Unavailable) && !errcode.Is(err, errcode.NotLeader) {
		t.Fatalf("the cut-off leader answered %v, want unavailable (not committed)", err)
	}
	close(stop)
	wait()
	c.converge()
	ld.check()
	for _, m := range c.running() {
		if _, err := m.led.Tx(context.Background(), mintID); !errcode.Is(err, errcode.NotFound) {
			t.Fatalf("replica %d: the minority's mint after healing: %v, want not_found", m.id, err)
		}
	}
}

// TestOneWayPartitionOnLossyLinks runs load over links that delay and
// reset connections (seeded), then cuts the leader's outgoing links only:
// the others stop hearing it and elect another leader, whose messages still
// reach the old one. Commits go on throughout; healed, all converge.
func TestOneWayPartitionOnLossyLinks(t *testing.T) {
	c := newProxiedCluster(t, 3, 41)
	for _, ls := range c.links {
		for _, l := range ls {
			l.set(time.Millisecond, 0.01)
		}
	}
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(41, 3, stop)
	c.waitFor("30 commits on lossy links", func() bool { return ld.committed() >= 30 })
	// As in TestMinorityCannotCommit: no submitter waits on the leader
	// being cut off.
	close(stop)
	wait()
	old := c.leader()
	c.setAvoid(old.id)
	c.cut(old.id, true)
	stop = make(chan struct{})
	wait = ld.run(42, 3, stop)
	before := ld.committed()
	c.waitFor("30 commits with the leader unheard", func() bool { return ld.committed() >= before+30 })
	if l := c.leader(); l.id == old.id {
		t.Fatal("the unheard replica still leads")
	}
	c.cut(old.id, false)
	c.setAvoid(0)
	for _, ls := range c.links {
		for _, l := range ls {
			l.set(0, 0)
		}
	}
	before = ld.committed()
	c.waitFor("20 commits healed", func() bool { return ld.committed() >= before+20 })
	close(stop)
	wait()
	c.converge()
	ld.check()
}

// TestFiveReplicasLoseTwo stops two of five replicas, the leader among
// them, under load: the other three elect a leader and go on; restarted,
// the two converge.
func TestFiveReplicasLoseTwo(t *testing.T) {
	c := newCluster(t, 5)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(51, 3, stop)
	c.waitFor("30 commits", func() bool { return ld.committed() >= 30 })
	l := c.leader()
	other := l.id%5 + 1
	c.stop(l.id)
	c.stop(other)
	before := ld.committed()
	c.waitFor("30 commits on three of five", func() bool { return ld.committed() >= before+30 })
	c.start(l.id, nil)
	c.start(other, nil)
	close(stop)
	wait()
	c.converge()
	ld.check()
}

// TestRemoveTheLeader removes the leader from the group: it steps down,
// the other two elect a leader among themselves and go on committing.
func TestRemoveTheLeader(t *testing.T) {
	c := newCluster(t, 3)
	ld := newLoad(c)
	stop := make(chan struct{})
	wait := ld.run(61, 2, stop)
	c.waitFor("20 commits", func() bool { return ld.committed() >= 20 })
	l := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := l.rep.RemoveMember(ctx, l.id); err != nil {
		t.Fatal(err)
	}
	c.setAvoid(l.id)
	before := ld.committed()
	c.waitFor("20 commits without the removed leader", func() bool { return ld.committed() >= before+20 })
	if nl := c.leader(); nl.id == l.id {
		t.Fatal("the removed replica leads")
	}
	close(stop)
	wait()
	c.stop(l.id)
	delete(c.m, l.id)
	c.converge()
	ld.check()
	for _, m := range c.running() {
		if got := m.rep.Members(); slices.Contains(got, l.id) || len(got) != 2 {
			t.Fatalf("replica %d: members %v", m.id, got)
		}
	}
}
