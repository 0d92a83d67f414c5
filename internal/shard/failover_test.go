package shard_test

import (
	mrand "math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestLeaderCrashUnderCrossGroupLoad runs two groups of three replicas and
// a coordinator's log of three under a load of concurrent payments, about
// half of them across groups, from several clients, and crashes the
// leader replica of group 0 (in the other case, of the coordinator's log)
// mid-load, as a power cut would. Commits resume once a new leader is
// elected; the crashed replica is restarted from what its disk kept.
// Then, after Resolve and a fresh coordinator's recovery: every
// transaction a client saw committed is in the log of each group it
// touches exactly once (its prepare and commit), and its commit decision
// in the coordinator's log; none was reported committed twice; every one
// a client saw refused is applied nowhere; no lock note is left unspent;
// the groups hold exactly the notes the clients' model says; the groups'
// supplies add up to what was minted; every group's replicas hold one
// header chain and their ledgers' invariants.
//
// It times each failover, from the crash to the first commit of a
// cross-group payment sent after it, and logs it, asserting nothing about
// time. One trial per case by default; SPECIE_SHARD_FAILOVER_TRIALS=10
// measures (docs/scale-out.md).
func TestLeaderCrashUnderCrossGroupLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nine replicas under load")
	}
	trials := 1
	if v, err := strconv.Atoi(os.Getenv("SPECIE_SHARD_FAILOVER_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	for _, victim := range []string{"group 0", "coordinator log"} {
		t.Run(victim, func(t *testing.T) {
			s := newReplicatedSharded(t, 2, 3)
			rg := s.groups[0].rg
			if victim == "coordinator log" {
				rg = s.log.rg
			}
			ld := newShardLoad(s, crashtest.Seed(t), 4)
			var took []time.Duration
			for trial := range trials {
				ld.waitCommits(20)
				killed := time.Now()
				m := rg.crashLeader()
				d := ld.firstCrossAfter(killed)
				took = append(took, d)
				t.Logf("trial %d: crash of %s's leader (replica %d); first cross-group commit of a payment sent after it %v later", trial+1, victim, m.id, d.Round(time.Millisecond))
				rg.restart(m)
			}
			ld.waitCommits(20)
			ld.stop()
			slices.Sort(took)
			t.Logf("failover of %s's leader over %d trials: median %v, max %v", victim, len(took), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
			ld.check()
		})
	}
}

// shardLoad is a set of clients paying through the router: each holds one
// note and pays 1 of it to a sink, the change back to itself in its note's
// group or (half the time, by the seed) the other one, resending a payment
// whose outcome it was not told until it learns it.
type shardLoad struct {
	s    *sharded
	sink *crypto.PrivateKey
	quit chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	sent  []sentTx                 // every payment, in the order sent
	acked map[money.TxID]time.Time // reported committed, when
	notes []money.Note             // each client's note at the end
	// refused is the first answer each payment refused for good got.
	refused map[money.TxID]error
}

type sentTx struct {
	tx    *money.Tx
	cross bool
	at    time.Time
}

func newShardLoad(s *sharded, seed uint64, clients int) *shardLoad {
	ld := &shardLoad{s: s, sink: ledgertest.MustKey(), quit: make(chan struct{}), acked: map[money.TxID]time.Time{}, refused: map[money.TxID]error{}, notes: make([]money.Note, clients)}
	keys := make([]*crypto.PrivateKey, clients)
	for c := range clients {
		keys[c] = ledgertest.MustKey()
		ld.notes[c] = s.mintIn(c%len(s.groups), keys[c], 1_000_000)
	}
	for c := range clients {
		ld.wg.Add(1)
		go ld.client(c, keys[c], mrand.New(mrand.NewPCG(seed, uint64(c))))
	}
	return ld
}

func (ld *shardLoad) client(c int, k *crypto.PrivateKey, rng *mrand.Rand) {
	defer ld.wg.Done()
	s, t := ld.s, ld.s.t
	note := ld.notes[c]
	defer func() {
		ld.mu.Lock()
		ld.notes[c] = note
		ld.mu.Unlock()
	}()
	for {
		select {
		case <-ld.quit:
			return
		default:
		}
		g := s.group(s.n.Network.NoteID(&note))
		to, cross := g, rng.IntN(2) == 0
		if cross {
			to = (g + 1) % len(s.groups)
		}
		tx := s.pay([]money.Note{note}, []*crypto.PrivateKey{k},
			[]money.Output{ledgertest.To(ld.sink, 1), ledgertest.To(k, note.Value-1)}, []int{g, to})
		id := s.n.Network.TxID(tx)
		ld.mu.Lock()
		ld.sent = append(ld.sent, sentTx{tx, cross, time.Now()})
		ld.mu.Unlock()
		committed, ok := ld.submit(tx)
		if !ok {
			return
		}
		if committed {
			ld.mu.Lock()
			if _, twice := ld.acked[id]; twice {
				t.Errorf("client %d: payment %s reported committed twice", c, id)
			}
			ld.acked[id] = time.Now()
			ld.mu.Unlock()
			note = s.n.Notes(tx)[1]
		}
	}
}

// submit sends tx until its outcome is known: committed, or refused for
// good (a cross-group payment aborted while a group or the log had no
// leader; its note is back). ok is false after a failure of the test.
func (ld *shardLoad) submit(tx *money.Tx) (committed, ok bool) {
	s, t := ld.s, ld.s.t
	id := s.n.Network.TxID(tx)
	end := time.Now().Add(waitLimit)
	var first error
	for retried := false; ; retried = true {
		_, err := s.router.Submit(ctx, tx)
		if first == nil {
			first = err
		}
		switch {
		case err == nil:
			return true, true
		case retried && errcode.Is(err, errcode.DoubleSpend):
			// An earlier try committed after all: a client finds it.
			if _, terr := s.router.Tx(ctx, id); terr != nil {
				t.Errorf("payment %s resent: %v, yet not found: %v", id, err, terr)
				return false, false
			}
			return true, true
		case retried && errcode.Is(err, errcode.Conflict):
			ld.mu.Lock()
			ld.refused[id] = first
			ld.mu.Unlock()
			return false, true // aborted by an earlier try
		case !errcode.Is(err, errcode.Unavailable) && !errcode.Is(err, errcode.NotLeader):
			t.Errorf("payment %s: %v", id, err)
			return false, false
		case time.Now().After(end):
			t.Errorf("payment %s: still %v after %v", id, err, waitLimit)
			return false, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCommits waits for n more payments reported committed.
func (ld *shardLoad) waitCommits(n int) {
	ld.mu.Lock()
	want := len(ld.acked) + n
	ld.mu.Unlock()
	waitFor(ld.s.t, "commits", func() bool {
		ld.mu.Lock()
		defer ld.mu.Unlock()
		return len(ld.acked) >= want
	})
}

// firstCrossAfter waits for a cross-group payment sent after since to be
// reported committed, and returns when, counted from since.
func (ld *shardLoad) firstCrossAfter(since time.Time) time.Duration {
	var first time.Duration
	waitFor(ld.s.t, "a cross-group commit after the crash", func() bool {
		ld.mu.Lock()
		defer ld.mu.Unlock()
		for _, st := range ld.sent {
			if at, ok := ld.acked[ld.s.n.Network.TxID(st.tx)]; ok && st.cross && st.at.After(since) {
				if d := at.Sub(since); first == 0 || d < first {
					first = d
				}
			}
		}
		return first > 0
	})
	return first
}

func (ld *shardLoad) stop() {
	close(ld.quit)
	ld.wg.Wait()
}

// check resolves what is left in doubt and asserts the outcome of every
// payment against what its client was told.
func (ld *shardLoad) check() {
	s, t := ld.s, ld.s.t
	t.Helper()
	waitFor(t, "Resolve to finish every transaction", func() bool { return s.coord.Resolve(ctx) == nil })
	s.newCoordinator()
	n, err := s.coord.Recover(ctx)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	t.Logf("%d payments sent, %d committed; a fresh coordinator's recovery finished %d (ends not logged)", len(ld.sent), len(ld.acked), n)
	for id, err := range ld.refused {
		t.Logf("payment %s aborted; first answered: %v", id, err)
	}
	if n, err := s.coord.Recover(ctx); err != nil || n != 0 {
		t.Fatalf("a second recovery found %d in doubt (%v)", n, err)
	}
	s.converge()
	net := s.n.Network
	for _, st := range ld.sent {
		id := net.TxID(st.tx)
		yes, no := shard.DecisionIDs(net, id)
		_, committed := ld.acked[id]
		if committed {
			s.committedOnce(st.tx)
			if st.cross {
				if _, err := s.log.Tx(ctx, yes); err != nil {
					t.Fatalf("payment %s committed, its decision: %v", id, err)
				}
			}
		} else {
			if _, err := s.router.Tx(ctx, id); !errcode.Is(err, errcode.NotFound) {
				t.Fatalf("payment %s reported refused; Tx says %v", id, err)
			}
			for _, o := range s.n.Notes(st.tx) {
				if s.unspent(net.NoteID(&o)) {
					t.Fatalf("payment %s reported refused, yet its output %s exists", id, net.NoteID(&o))
				}
			}
			if _, err := s.log.Tx(ctx, yes); !errcode.Is(err, errcode.NotFound) {
				t.Fatalf("payment %s reported refused; its commit decision: %v", id, err)
			}
		}
		if st.cross {
			if _, err := s.log.Tx(ctx, no); committed == (err == nil) {
				t.Fatalf("payment %s (committed %v): abort decision %v", id, committed, err)
			}
			for g := range s.groups {
				if s.unspentIn(g, shard.LockNote(net, id)) {
					t.Fatalf("group %d holds the lock note of %s", g, id)
				}
			}
		}
	}
	// The groups hold exactly the model's notes: each client's last note
	// and a sink note per committed payment.
	if held, want := s.unspentHeld(), uint64(len(ld.notes)+len(ld.acked)); held != want {
		t.Fatalf("the groups hold %d unspent notes, the clients' model %d", held, want)
	}
	for c, n := range ld.notes {
		if ni, err := s.router.Note(ctx, net.NoteID(&n)); err != nil || ni.Status != roles.NoteUnspent {
			t.Fatalf("client %d's note: %+v %v", c, ni, err)
		}
	}
	s.check()
}
