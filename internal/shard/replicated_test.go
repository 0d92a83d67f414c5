package shard_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/replica"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
)

// Replicated groups for the shard tests: each group (and the coordinator's
// log) a raft group of replicas in this process, talking raft over real
// HTTP on loopback, each replica's ledger and raft log on a disk of its own
// that a crash cuts back to what was synced (crashtest.Disk).

// waitLimit bounds every wait here. It is a failure deadline, not a
// measurement: an election takes about a second even on a loaded machine.
const waitLimit = 90 * time.Second

// groupKey is the raft groups' shared secret.
var groupKey = bytes.Repeat([]byte{0x5e}, replica.MinKeyLen)

// rmember is one replica of a replicated group.
type rmember struct {
	id   uint64
	dir  string // its path on its disk, and where a state transfer spools
	addr string
	disk *crashtest.Disk
	// Set while it runs; guarded by the group's mu.
	led *ledger.Ledger
	rep *replica.Replica
	srv *http.Server
}

// rgroup is a replicated ledger group of a test.
type rgroup struct {
	t     *testing.T
	n     *ledgertest.Net
	name  string
	peers map[uint64]string
	log   *slog.Logger

	mu sync.Mutex
	m  []*rmember // replica i+1 at i
}

// newRGroup starts a group of size replicas; they stop when the test ends.
func newRGroup(t *testing.T, n *ledgertest.Net, name string, size int) *rgroup {
	t.Helper()
	g := &rgroup{t: t, n: n, name: name, peers: map[uint64]string{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	root := t.TempDir()
	lns := make([]net.Listener, size)
	for i := range size {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		id := uint64(i + 1)
		g.peers[id] = "http://" + ln.Addr().String()
		g.m = append(g.m, &rmember{id: id, dir: filepath.Join(root, fmt.Sprint(id)), addr: ln.Addr().String(), disk: crashtest.NewDisk(t)})
	}
	for i, m := range g.m {
		g.start(m, lns[i])
	}
	t.Cleanup(func() {
		for _, m := range g.m {
			g.stop(m)
		}
	})
	return g
}

// start opens m's ledger and raft log on its disk and serves its raft
// routes on ln (nil: its address again).
func (g *rgroup) start(m *rmember, ln net.Listener) {
	g.t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", m.addr); err != nil {
			g.t.Fatal(err)
		}
	}
	cfg := g.n.TestConfig()
	cfg.Archive = true
	cfg.FS = m.disk.FS
	cfg.Logger = g.log
	cfg.Shards, cfg.SnapshotEvery = 4, 1<<10
	lg, err := replica.OpenLogOn(m.dir, m.disk.FS)
	if err != nil {
		g.t.Fatal(err)
	}
	cfg.Log = lg
	led, err := ledger.Open(filepath.Join(m.dir, "ledger"), cfg)
	if err != nil {
		lg.Close()
		g.t.Fatal(err)
	}
	rep, err := replica.Start(replica.Config{ID: m.id, Peers: g.peers, Dir: m.dir, Log: lg, Ledger: led, Logger: g.log, Key: groupKey})
	if err != nil {
		led.Close()
		g.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/raft/", rep.Handler())
	srv := &http.Server{Handler: mux}
	g.mu.Lock()
	m.led, m.rep, m.srv = led, rep, srv
	g.mu.Unlock()
	go srv.Serve(ln)
}

// stop takes m down, if it runs.
func (g *rgroup) stop(m *rmember) {
	g.mu.Lock()
	led, rep, srv := m.led, m.rep, m.srv
	m.led, m.rep, m.srv = nil, nil, nil
	g.mu.Unlock()
	if rep == nil {
		return
	}
	srv.Close()
	_ = rep.Stop() // after a crash its disk refuses writes: errors expected
	_ = led.Close()
}

// crash kills m as a power cut would: its disk keeps what was synced and
// refuses every write from now on (crashtest.Disk.Restart), so nothing it
// does after this moment is durable; then its server, raft node and
// ledger are torn down.
func (g *rgroup) crash(m *rmember) {
	g.t.Helper()
	m.disk = m.disk.Restart()
	g.stop(m)
}

// crashLeader crashes the replica that leads, waiting for one.
func (g *rgroup) crashLeader() *rmember {
	g.t.Helper()
	m := g.leaderMember()
	g.crash(m)
	return m
}

// restart starts a crashed m from what its disk kept.
func (g *rgroup) restart(m *rmember) { g.start(m, nil) }

type runningMember struct {
	id  uint64
	led *ledger.Ledger
	rep *replica.Replica
}

func (g *rgroup) running() []runningMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []runningMember
	for _, m := range g.m {
		if m.rep != nil {
			out = append(out, runningMember{m.id, m.led, m.rep})
		}
	}
	return out
}

// leader is the ledger of the replica that leads and has applied its
// term's first entry (so its reads are current), or nil.
func (g *rgroup) leader() *ledger.Ledger {
	for _, m := range g.running() {
		if m.rep.Status().Leader == m.id && m.rep.Lead() == nil {
			return m.led
		}
	}
	return nil
}

// leaderMember waits for a leader and returns its member.
func (g *rgroup) leaderMember() *rmember {
	g.t.Helper()
	var id uint64
	waitFor(g.t, g.name+": a leader", func() bool {
		for _, m := range g.running() {
			if m.rep.Status().Leader == m.id && m.rep.Lead() == nil {
				id = m.id
				return true
			}
		}
		return false
	})
	return g.m[id-1]
}

// onLeader runs op on the group's leader, as a client that follows the
// leader does: a not_leader answer, or no leader yet, is retried for about
// five seconds (an election), then answered unavailable.
func onLeader[T any](g *rgroup, op func(*ledger.Ledger) (T, error)) (T, error) {
	for i := 0; ; i++ {
		if l := g.leader(); l != nil {
			v, err := op(l)
			if !errcode.Is(err, errcode.NotLeader) || i >= 250 {
				return v, err
			}
		} else if i >= 250 {
			var zero T
			return zero, errcode.New(errcode.Unavailable, "%s: no replica leads", g.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// converge waits until every running replica has applied the same last
// batch with one header chain, and returns it.
func (g *rgroup) converge() []money.BatchHeader {
	g.t.Helper()
	var chain []money.BatchHeader
	waitFor(g.t, g.name+": replicas on one header chain", func() bool {
		chain = nil
		for _, m := range g.running() {
			hs, err := allHeaders(m.led)
			if err != nil {
				return false
			}
			if chain != nil && !slices.Equal(hs, chain) {
				return false
			}
			chain = hs
		}
		return true
	})
	return chain
}

func allHeaders(l *ledger.Ledger) ([]money.BatchHeader, error) {
	var out []money.BatchHeader
	for from := uint64(1); ; {
		hs, err := l.Headers(ctx, from, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, hs...)
		if len(hs) < 1000 {
			return out, nil
		}
		from += uint64(len(hs))
	}
}

// waitFor polls cond until it holds, failing t after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newReplicatedSharded is newSharded with every group and the
// coordinator's log a raft group of replicas replicas; the coordinator
// retries a step for 30 s, through an election.
func newReplicatedSharded(t *testing.T, groups, replicas int) *sharded {
	t.Helper()
	s := &sharded{t: t, n: ledgertest.New(), dir: t.TempDir(), elsewhere: make(map[money.NoteID]bool), nonce: ledgertest.Nonce, retry: 30 * time.Second}
	for g := range groups {
		s.groups = append(s.groups, &swappable{rg: newRGroup(t, s.n, fmt.Sprintf("group %d", g), replicas)})
	}
	s.log = &swappable{rg: newRGroup(t, s.n, "coordinator log", replicas)}
	s.newCoordinator()
	return s
}

// converge waits for the replicas of every replicated group and of the
// log to hold one header chain each.
func (s *sharded) converge() {
	s.t.Helper()
	for _, w := range append(append([]*swappable{}, s.groups...), s.log) {
		if w.rg != nil {
			w.rg.converge()
		}
	}
}

// occurrences counts the batches' entries in group g that archive tx: one
// per step of tx logged there (its prepare, commit or abort), read from
// the leader after the group converged.
func (s *sharded) occurrences(g int, tx *money.Tx) int {
	s.t.Helper()
	raw, err := tx.MarshalBinary()
	if err != nil {
		s.t.Fatal(err)
	}
	sup, err := s.groups[g].Supply(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for seq := uint64(1); seq <= sup.Batches; seq++ {
		b, err := s.groups[g].Batch(ctx, seq)
		if err != nil {
			s.t.Fatalf("group %d batch %d: %v", g, seq, err)
		}
		for _, r := range b.Txs {
			if bytes.Equal(r, raw) {
				n++
			}
		}
	}
	return n
}

// committedOnce asserts that tx, committed, is in the log of every group
// it touches exactly once: its commit, and its prepare where it had
// inputs, each logged once; Tx finds it under its txid.
func (s *sharded) committedOnce(tx *money.Tx) {
	s.t.Helper()
	id := s.n.Network.TxID(tx)
	want := make([]int, len(s.groups))
	for _, o := range s.n.Notes(tx) {
		want[s.group(s.n.Network.NoteID(&o))] = 1 // commit
	}
	for i := range tx.Inputs {
		want[s.group(s.n.Network.NoteID(&tx.Inputs[i]))] = 2 // prepare, commit
	}
	if slices.Max(want) == 2 && countNonZero(want) == 1 {
		want = make([]int, len(s.groups)) // a single-group transaction: one entry, no prepare
		want[s.group(s.n.Network.NoteID(&tx.Inputs[0]))] = 1
	}
	for g := range s.groups {
		if got := s.occurrences(g, tx); got != want[g] {
			s.t.Fatalf("group %d logs transaction %s %d times, want %d", g, id, got, want[g])
		}
		if want[g] > 0 {
			if _, err := s.groups[g].Tx(ctx, id); err != nil {
				s.t.Fatalf("group %d: committed transaction %s: %v", g, id, err)
			}
		}
	}
}

func countNonZero(xs []int) int {
	n := 0
	for _, x := range xs {
		if x != 0 {
			n++
		}
	}
	return n
}

var _ shard.Log = (*swappable)(nil)

// TestCoordinatorCrashAtEveryPhaseReplicated is
// TestCoordinatorCrashAtEveryPhase on two groups of three replicas and a
// coordinator's log of three: at each phase the coordinator stops, the
// log's leader replica crashes with it (its disk keeps what was synced), a
// new leader is elected, and a fresh coordinator recovers from the log.
func TestCoordinatorCrashAtEveryPhaseReplicated(t *testing.T) {
	coordinatorCrashAtEveryPhase(t, func(t *testing.T) *sharded { return newReplicatedSharded(t, 2, 3) })
}

// TestGroupLeaderCrashAtEveryPhase crashes, right after each phase's part
// commits, the leader of the group that logged it (the coordinator's log
// for begin and the decision, the group for a prepare, commit or abort),
// under a running coordinator. The part survives in the new leader's log
// and the coordinator carries the protocol through the election to its
// end: the client is answered as without the crash (committed, or the
// refusal of a prepare: the phase table's abort cases), every step is logged exactly once, no lock is
// left, money is conserved, and once the crashed replica is back every
// group's replicas hold one header chain.
func TestGroupLeaderCrashAtEveryPhase(t *testing.T) {
	for _, c := range phaseCases {
		t.Run(c.name, func(t *testing.T) {
			s := newReplicatedSharded(t, 2, 3)
			tx := crossTx(t, s, c.refuse)
			// The coordinator runs on: the transaction commits unless a
			// prepare is refused.
			want := applied
			if c.refuse {
				want = notApplied
			}
			var crashed *rmember
			var in *rgroup
			s.crash = func(p shard.Phase, g int) error {
				if !c.at(p, g) || crashed != nil {
					return nil
				}
				in = s.log.rg
				if g >= 0 {
					in = s.groups[g].rg
				}
				crashed = in.crashLeader()
				return nil
			}
			_, err := s.router.Submit(ctx, tx)
			s.crash = nil
			if crashed == nil {
				t.Fatal("no leader was crashed")
			}
			switch {
			case want == applied && err != nil:
				t.Fatalf("submit with %s's leader crashed %s: %v", in.name, c.name, err)
			case want == notApplied && !errcode.Is(err, errcode.DoubleSpend):
				t.Fatalf("submit with %s's leader crashed %s: %v, want the prepare's double_spend", in.name, c.name, err)
			}
			if got := s.outcome(tx); got != want {
				t.Fatalf("after the crash: %v, want %v", got, want)
			}
			if want == applied {
				s.committedOnce(tx)
			} else {
				// Group 0 logged its prepare and its abort, once each;
				// group 1 refused its prepare and needs no abort.
				for g, want := range []int{2, 0} {
					if n := s.occurrences(g, tx); n != want {
						t.Fatalf("group %d logs the aborted transaction %d times, want %d", g, n, want)
					}
				}
			}
			s.check()
			in.restart(crashed)
			s.converge()
			s.check()
			// Nothing is left in doubt for a fresh coordinator.
			s.newCoordinator()
			if n, err := s.coord.Recover(ctx); err != nil || n != 0 {
				t.Fatalf("a fresh coordinator recovered %d (%v), want 0", n, err)
			}
		})
	}
}
