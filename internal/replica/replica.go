// Package replica runs one replica of a replicated ledger: a raft node
// (go.etcd.io/raft/v3) whose log carries the ledger's batch records, a
// durable store for that log, and an HTTP transport to the other replicas.
//
// The ledger decides; raft orders. The leader's ledger evaluates a batch
// (the state machine step) and hands its record to Propose; raft replicates
// it to a quorum, each of which has it on disk before it is committed; then
// every replica, in the Ready loop below, applies the committed record to
// its own ledger with ledger.ApplyRecord. The leader answers the batch's
// submitters only once its own replica has applied it. This is the usual
// shape of an etcd raft program: save entries and hard state, send
// messages, apply committed entries, Advance.
package replica

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger"
)

// Config sets up one replica.
type Config struct {
	// ID is this replica's raft ID (not 0), a key of Peers.
	ID uint64
	// Peers maps every replica's ID to its base URL: where its peers send
	// raft messages (URL + MessagePath), and where clients sent to a
	// follower are told the leader is.
	Peers map[uint64]string
	// Dir holds the raft log (a Pebble store of its own).
	Dir string
	// Log is the raft log in Dir, opened with OpenLog and also given to
	// the ledger as ledger.Config.Log: the ledger then keeps no log of its
	// own and the raft log is the one durable log of the batches. nil:
	// Start opens it, and the ledger must keep its own.
	Log    *Log
	Ledger *ledger.Ledger
	Logger *slog.Logger
	// Tick is raft's clock; default 50ms. A follower campaigns after
	// ElectionTicks (default 10) ticks without a heartbeat, so a leader's
	// loss is noticed in 0.5 to 1 s by default.
	Tick          time.Duration
	ElectionTicks int
	// HTTPClient sends raft messages; default a client of its own.
	HTTPClient *http.Client
	// CacheEntries is how many raft log entries behind the applied index
	// stay in memory (older ones are read from disk); default 256, a few
	// tens of MB at full batches.
	CacheEntries int
	// Join starts a replica with an empty directory as a new member of a
	// running group, which must already have added it (AddMember) under
	// ID: it bootstraps nothing and learns the group from the leader's
	// log. Peers must still name where the current members are. A replica
	// that lost its data must come back this way, under a new ID: raft
	// counts on a member never forgetting what it acknowledged.
	Join bool
	// Key is the group's shared secret (at least MinKeyLen bytes): raft
	// messages between replicas are authenticated with it.
	Key []byte
	// LogRetention is how many applied entries the raft log keeps behind
	// the applied index before it is compacted (snapshot.go); default
	// 4096. A follower less than that behind catches up from the log; one
	// further behind, or a new replica, by snapshot.
	LogRetention int
}

// Replica is one running replica. It implements ledger.Replicator.
type Replica struct {
	id  uint64
	dir string // Config.Dir: a state transfer is spooled there
	key []byte // Config.Key
	// reads are the read-index requests waiting for raft's answer, by
	// request key (readindex.go).
	readMu sync.Mutex
	reads  map[string]chan uint64
	readN  atomic.Uint64
	// peersMu guards peers and senders: membership changes edit them in
	// the Ready loop, Lead and send read them.
	peersMu sync.RWMutex
	peers   map[uint64]string
	node    raft.Node
	store   *raftLog
	led     *ledger.Ledger
	log     *slog.Logger
	hc      *http.Client
	tick    time.Duration
	boot    uint64 // tells this run's proposals from an earlier run's
	nextID  atomic.Uint64

	senders map[uint64]*sender
	stop    chan struct{}
	done    chan struct{} // closed when the Ready loop has returned
	wg      sync.WaitGroup
	once    sync.Once

	// Written by the Ready loop, read by Lead and Status.
	lead        atomic.Uint64 // the leader's ID, 0 when none is known
	leader      atomic.Bool   // this replica leads
	term        atomic.Uint64 // current term
	appliedTerm atomic.Uint64 // term of the last applied entry
	applied     atomic.Uint64 // index of the last applied entry
	fatal       atomic.Pointer[error]
	members     atomic.Pointer[map[uint64]struct{}] // voters, as last applied

	mu      sync.Mutex
	waiters map[propID]*waiter

	// Compaction (snapshot.go). Owned by the Ready loop: confState is the
	// membership as last applied, cands the snapshots to compact at, one
	// taken every retention entries (the last at applied index candAt),
	// oldest first.
	retention uint64
	confState *pb.ConfState
	cands     []candSnap
	candAt    uint64
	// Counted for Status: snapshots installed from the leader, and
	// compactions of this replica's log.
	snapshots   atomic.Uint64
	compactions atomic.Uint64
	// fetching is set while prefetch brings the ledger up to a snapshot
	// outside the Ready loop; fetchFailed is when its last try failed
	// (unix ns, 0: it did not).
	fetching    atomic.Bool
	fetchFailed atomic.Int64
	prefetched  atomic.Bool // a fetch succeeded: step the next snapshot

	// beforeApply, when set (tests, export_test.go), runs before a batch
	// entry is applied; an error stops the replica there, as a crash
	// between raft's write of the entry and its apply would.
	beforeApply atomic.Pointer[func(e *pb.Entry) error]
}

// propID names one proposal: the run that made it and a counter.
type propID struct{ boot, n uint64 }

const propIDSize = 16

// waiter is a proposal waiting for its outcome. index is the log index its
// entry was given, once the Ready loop has seen it appended (0 until then).
type waiter struct {
	index uint64
	done  chan outcome
}

type outcome struct {
	seq uint64
	err error
}

var _ ledger.Replicator = (*Replica)(nil)

// Start opens the raft log in cfg.Dir (bootstrapping a new group of
// cfg.Peers when it is empty), makes cfg.Ledger commit through it, and
// starts the Ready loop and the senders. Serve the replica's ServeHTTP at
// MessagePath on the replica's base URL.
func Start(cfg Config) (*Replica, error) {
	refuse := func(err error) (*Replica, error) {
		if cfg.Log != nil {
			cfg.Log.Close() // taken over, as a failed Start promises
		}
		return nil, err
	}
	if cfg.ID == 0 {
		return refuse(fmt.Errorf("replica: ID 0"))
	}
	if _, ok := cfg.Peers[cfg.ID]; !ok {
		return refuse(fmt.Errorf("replica: ID %d is not among the peers", cfg.ID))
	}
	if cfg.Ledger == nil {
		return refuse(fmt.Errorf("replica: no ledger"))
	}
	if len(cfg.Key) < MinKeyLen {
		return refuse(fmt.Errorf("replica: the group key has %d bytes, want at least %d", len(cfg.Key), MinKeyLen))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: time.Minute}}
	}
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = 256
	}
	if cfg.LogRetention <= 0 {
		cfg.LogRetention = 4096
	}
	cfg.Peers = maps.Clone(cfg.Peers) // URLs from a snapshot are added below
	if lg, ok := cfg.Ledger.Config().Log.(*Log); (cfg.Ledger.Config().Log != nil || cfg.Log != nil) && (!ok || lg != cfg.Log) {
		return refuse(fmt.Errorf("replica %d: the ledger's Config.Log must be the replica's Config.Log, or both nil", cfg.ID))
	}
	var st *raftLog
	var fresh bool
	var err error
	if cfg.Log != nil {
		st, fresh, err = loadRaftLog(cfg.Log.db, uint64(cfg.CacheEntries))
	} else {
		st, fresh, err = openRaftLog(filepath.Join(cfg.Dir, "raft"), uint64(cfg.CacheEntries))
	}
	if err != nil {
		return nil, fmt.Errorf("replica %d: %w", cfg.ID, err)
	}
	r := &Replica{
		id:      cfg.ID,
		dir:     cfg.Dir,
		peers:   cfg.Peers,
		store:   st,
		led:     cfg.Ledger,
		log:     cfg.Logger.With("role", "replica", "replica", cfg.ID),
		hc:      cfg.HTTPClient,
		key:     bytes.Clone(cfg.Key),
		tick:    cfg.Tick,
		boot:    uint64(time.Now().UnixNano()),
		senders: map[uint64]*sender{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		waiters: map[propID]*waiter{},
		reads:   map[string]chan uint64{},

		retention: uint64(cfg.LogRetention),
		confState: &pb.ConfState{},
	}
	if c, ct := st.compacted(); c > 0 {
		// Restarting after a compaction: raft applies from after the
		// compaction point, whose snapshot holds the membership and the
		// ledger state reached there.
		snap, _ := st.Snapshot()
		d, err := decodeSnapData(snap.GetData())
		if err != nil {
			st.close()
			return nil, fmt.Errorf("replica %d: raft log: %w", cfg.ID, err)
		}
		if seq, _ := cfg.Ledger.Head(); seq < d.seq {
			st.close()
			return nil, fmt.Errorf("replica %d: the ledger holds batch %d, behind batch %d the raft log was compacted at: the ledger's data is not the one this raft log went with", cfg.ID, seq, d.seq)
		}
		r.applied.Store(c)
		r.appliedTerm.Store(ct)
		r.confState = proto.Clone(snap.GetMetadata().GetConfState()).(*pb.ConfState)
		r.setMembers(r.confState)
		r.candAt = c
		for id, u := range d.peers {
			if _, ok := cfg.Peers[id]; !ok && slices.Contains(r.confState.GetVoters(), id) {
				cfg.Peers[id] = u
			}
		}
	}
	rc := &raft.Config{
		ID:              cfg.ID,
		ElectionTick:    cfg.ElectionTicks,
		HeartbeatTick:   1,
		Storage:         st,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		// A leader cut off from a quorum steps down (so its proposals are
		// answered), and a replica that rejoins does not depose a healthy
		// leader with a higher term.
		CheckQuorum: true,
		PreVote:     true,
		// A proposal made on a replica that does not lead is dropped, not
		// forwarded: the ledger evaluated it against its own state, which
		// only the leader may do.
		DisableProposalForwarding: true,
		// A leader that removes itself hands over at once rather than
		// leading a group it is not in.
		StepDownOnRemoval: true,
		Logger:            raftLogger{r.log},
		Applied:           r.applied.Load(),
	}
	if fresh && !cfg.Join {
		// Every replica of a new group bootstraps the same configuration
		// (the same entries 1..n), so a replica whose directory was wiped
		// bootstraps into a log that matches the leader's, and is then
		// brought up to date from it.
		ids := make([]uint64, 0, len(cfg.Peers))
		for id := range cfg.Peers {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		peers := make([]raft.Peer, len(ids))
		for i, id := range ids {
			peers[i] = raft.Peer{ID: id, Context: []byte(cfg.Peers[id])}
		}
		r.node = raft.StartNode(rc, peers)
	} else {
		r.node = raft.RestartNode(rc)
	}
	r.peers = map[uint64]string{}
	for id, u := range cfg.Peers {
		r.addPeer(id, u)
	}
	cfg.Ledger.Replicate(r)
	go r.run()
	return r, nil
}

// ID is this replica's raft ID.
func (r *Replica) ID() uint64 { return r.id }

// run is the Ready loop: tick raft's clock; for each Ready, save the
// entries and hard state (fsynced when raft says so), send the messages,
// apply what is committed, and Advance.
func (r *Replica) run() {
	defer close(r.done)
	t := time.NewTicker(r.tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.node.Tick()
		case rd := <-r.node.Ready():
			if err := r.handle(&rd); err != nil {
				r.log.Error("replica stopped", "err", err)
				r.fatal.Store(&err)
				r.failWaiters(func(*waiter) bool { return true }, errcode.New(errcode.Unavailable, "replica %d stopped: %v", r.id, err))
				r.node.Stop()
				return
			}
			r.node.Advance()
		case <-r.stop:
			r.node.Stop()
			return
		}
	}
}

func (r *Replica) handle(rd *raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		// The leader compacted the entries this replica needs: bring
		// the ledger to the snapshot's state before the raft log takes
		// it (snapshot.go).
		if err := r.installSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := r.store.save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
		return err
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		r.snapshotApplied(rd.Snapshot)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		r.term.Store(rd.HardState.GetTerm())
	}
	r.mu.Lock()
	for _, e := range rd.Entries {
		if id, ok := proposalOf(e); ok {
			if w := r.waiters[id]; w != nil {
				w.index = e.GetIndex()
			}
		}
	}
	r.mu.Unlock()
	r.send(rd.Messages)
	if len(rd.ReadStates) > 0 {
		keys := make([][]byte, len(rd.ReadStates))
		index := make([]uint64, len(rd.ReadStates))
		for i, rs := range rd.ReadStates {
			keys[i], index[i] = rs.RequestCtx, rs.Index
		}
		r.readStates(keys, index)
	}
	if ss := rd.SoftState; ss != nil {
		r.lead.Store(ss.Lead)
		was := r.leader.Swap(ss.RaftState == raft.StateLeader)
		if was && ss.RaftState != raft.StateLeader {
			r.log.Info("no longer leader", "leader", ss.Lead)
			// A proposal appended to the log is decided by whatever ends
			// up at its index. One not seen appended almost surely never
			// will be, but raft may have taken it just before the step
			// down: say "not known", never "not committed".
			r.failWaiters(func(w *waiter) bool { return w.index == 0 },
				errcode.New(errcode.Unavailable, "replica %d lost the lead before the batch was logged; its outcome is not known here: look its transactions up, or retry", r.id))
		} else if !was && ss.RaftState == raft.StateLeader {
			r.log.Info("leading", "term", r.term.Load())
		}
	}
	for _, e := range rd.CommittedEntries {
		if err := r.apply(e); err != nil {
			return err
		}
	}
	if len(rd.CommittedEntries) > 0 {
		if err := r.store.trim(r.applied.Load()); err != nil {
			return err
		}
		return r.maybeCompact()
	}
	return nil
}

// apply applies one committed entry.
func (r *Replica) apply(e *pb.Entry) error {
	defer func() {
		r.applied.Store(e.GetIndex())
		r.appliedTerm.Store(e.GetTerm())
	}()
	// A proposal of ours that was given this index, and is not what is
	// there now, was replaced by a new leader's entries (an empty entry,
	// a conf change or a batch): it will never commit.
	id, _ := proposalOf(e)
	r.failWaiters(func(w *waiter) bool { return w.index == e.GetIndex() && r.waiters[id] != w },
		errcode.New(errcode.Unavailable, "the batch was dropped from the log by a new leader; nothing was committed, retry"))
	switch e.GetType() {
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("conf change at %d: %w", e.GetIndex(), err)
		}
		cs := r.node.ApplyConfChange(&cc)
		r.confState = cs
		r.changed(&cc, cs)
		return nil
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("conf change at %d: %w", e.GetIndex(), err)
		}
		cs := r.node.ApplyConfChange(&cc)
		r.confState = cs
		r.setMembers(cs)
		return nil
	}
	if _, ok := proposalOf(e); !ok {
		return nil // a new leader's empty entry
	}
	if h := r.beforeApply.Load(); h != nil {
		if err := (*h)(e); err != nil {
			return err
		}
	}
	seq, applied, err := r.led.ApplyRecord(e.GetData()[propIDSize:])
	var out outcome
	switch {
	case err != nil:
		out.err = errcode.New(errcode.Internal, "apply batch at log index %d: %v", e.GetIndex(), err)
	case applied:
		out.seq = seq
	default:
		out.err = errcode.New(errcode.Unavailable, "the batch was evaluated on a state another batch had moved past; nothing was committed, retry")
	}
	r.mu.Lock()
	if w := r.waiters[id]; w != nil {
		delete(r.waiters, id)
		w.done <- out
	}
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("apply entry %d: %w", e.GetIndex(), err)
	}
	return nil
}

// proposalOf reads the proposal ID at the head of a normal entry's data.
func proposalOf(e *pb.Entry) (propID, bool) {
	d := e.GetData()
	if e.GetType() != pb.EntryNormal || len(d) < propIDSize {
		return propID{}, false
	}
	return propID{binary.BigEndian.Uint64(d), binary.BigEndian.Uint64(d[8:])}, true
}

func (r *Replica) failWaiters(which func(*waiter) bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, w := range r.waiters {
		if which(w) {
			delete(r.waiters, id)
			w.done <- outcome{err: err}
		}
	}
}

// leadWait is how long Lead waits for a new leader to apply the entries of
// earlier terms before saying unavailable: one round trip to a quorum.
const leadWait = 2 * time.Second

// Lead says whether the ledger may evaluate a batch now (ledger.Replicator).
func (r *Replica) Lead() error {
	if p := r.fatal.Load(); p != nil {
		return errcode.New(errcode.Unavailable, "replica %d stopped: %v", r.id, *p)
	}
	if !r.leader.Load() {
		if lead := r.lead.Load(); lead != 0 && lead != r.id {
			u := r.peerURL(lead)
			return errcode.NotLeaderAt(u, "replica %d does not lead; replica %d at %s does", r.id, lead, u)
		}
		return errcode.New(errcode.Unavailable, "replica %d: no leader is elected yet; retry", r.id)
	}
	// A new leader's state is the newest only once it has applied its
	// own term's first entry, and with it everything before.
	deadline := time.Now().Add(leadWait)
	for r.appliedTerm.Load() != r.term.Load() {
		if time.Now().After(deadline) || !r.leader.Load() {
			return errcode.New(errcode.Unavailable, "replica %d: the new leader is still catching up; retry", r.id)
		}
		select {
		case <-r.stop:
			return errcode.New(errcode.Unavailable, "replica %d is stopping", r.id)
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// proposeWait bounds how long Propose waits for raft to take a proposal.
const proposeWait = 5 * time.Second

// Propose carries a batch record through raft (ledger.Replicator).
func (r *Replica) Propose(rec []byte, closed <-chan struct{}) (uint64, error) {
	id := propID{r.boot, r.nextID.Add(1)}
	data := make([]byte, propIDSize, propIDSize+len(rec))
	binary.BigEndian.PutUint64(data, id.boot)
	binary.BigEndian.PutUint64(data[8:], id.n)
	data = append(data, rec...)
	w := &waiter{done: make(chan outcome, 1)}
	r.mu.Lock()
	r.waiters[id] = w
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-closed:
		case <-r.stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	// raft takes a proposal only while some leader is known; bound the
	// wait, so that a replica cut off from the group answers.
	pctx, pcancel := context.WithTimeout(ctx, proposeWait)
	err := r.node.Propose(pctx, data)
	pcancel()
	if err != nil {
		r.mu.Lock()
		delete(r.waiters, id)
		r.mu.Unlock()
		if errors.Is(err, raft.ErrProposalDropped) {
			return 0, errcode.New(errcode.Unavailable, "replica %d lost the lead; nothing was committed, retry", r.id)
		}
		// Cancelled while raft may already have taken it.
		return 0, errcode.New(errcode.Unavailable, "replica %d: the batch's outcome is not known here (%v): look its transactions up, or retry", r.id, err)
	}
	select {
	case o := <-w.done:
		return o.seq, o.err
	case <-ctx.Done():
		r.mu.Lock()
		delete(r.waiters, id)
		r.mu.Unlock()
		// The entry may be in the log and commit later: say so, and let
		// the caller look the transaction up.
		return 0, errcode.New(errcode.Unavailable, "replica %d is stopping; the batch's outcome is not known here: look its transactions up", r.id)
	}
}

// Status is what a replica knows of its group.
type Status struct {
	ID      uint64 `json:"id"`
	Leader  uint64 `json:"leader"` // 0: none known
	Term    uint64 `json:"term"`
	Applied uint64 `json:"applied"` // raft log index
	Batches uint64 `json:"batches"` // last applied batch
	// FirstIndex is the first entry the raft log holds: entries before it
	// were compacted (snapshot.go).
	FirstIndex uint64 `json:"first_index"`
	// LastIndex is the last entry the raft log holds, applied or not: a
	// stopped replica is sent a snapshot only when its peers compacted
	// past it.
	LastIndex uint64 `json:"last_index"`
	// SnapshotsInstalled counts the snapshots this replica caught up by
	// since it started; Compactions the compactions of its log.
	SnapshotsInstalled uint64 `json:"snapshots_installed"`
	Compactions        uint64 `json:"compactions"`
}

// Status reports this replica's view.
func (r *Replica) Status() Status {
	seq, _ := r.led.Head()
	first, _ := r.store.FirstIndex()
	last, _ := r.store.LastIndex()
	return Status{ID: r.id, Leader: r.lead.Load(), Term: r.term.Load(), Applied: r.applied.Load(), Batches: seq,
		FirstIndex: first, LastIndex: last, SnapshotsInstalled: r.snapshots.Load(), Compactions: r.compactions.Load()}
}

// Leader is the leader's ID and base URL, or 0 and "" when none is known.
func (r *Replica) Leader() (uint64, string) {
	id := r.lead.Load()
	return id, r.peerURL(id)
}

// Stop stops the raft node, the senders and the Ready loop, and closes
// the raft log. Proposals still waiting are answered unavailable (their
// outcome is not known here). Stop it before closing the ledger.
func (r *Replica) Stop() error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		r.wg.Wait()
		r.failWaiters(func(*waiter) bool { return true }, errcode.New(errcode.Unavailable, "replica %d stopped; the batch's outcome is not known here: look its transactions up", r.id))
		err = r.store.close()
	})
	return err
}

// raftLogger hands raft's log lines to slog. Raft's own Fatal and Panic
// mean a broken invariant inside raft: they panic, as raft expects.
type raftLogger struct{ l *slog.Logger }

func (g raftLogger) Debug(v ...any)              { g.l.Debug(fmt.Sprint(v...)) }
func (g raftLogger) Debugf(f string, v ...any)   { g.l.Debug(fmt.Sprintf(f, v...)) }
func (g raftLogger) Info(v ...any)               { g.l.Debug(fmt.Sprint(v...)) }
func (g raftLogger) Infof(f string, v ...any)    { g.l.Debug(fmt.Sprintf(f, v...)) }
func (g raftLogger) Warning(v ...any)            { g.l.Warn(fmt.Sprint(v...)) }
func (g raftLogger) Warningf(f string, v ...any) { g.l.Warn(fmt.Sprintf(f, v...)) }
func (g raftLogger) Error(v ...any)              { g.l.Error(fmt.Sprint(v...)) }
func (g raftLogger) Errorf(f string, v ...any)   { g.l.Error(fmt.Sprintf(f, v...)) }
func (g raftLogger) Fatal(v ...any)              { g.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (g raftLogger) Fatalf(f string, v ...any)   { g.Fatal(fmt.Sprintf(f, v...)) }
func (g raftLogger) Panic(v ...any)              { g.Fatal(v...) }
func (g raftLogger) Panicf(f string, v ...any)   { g.Fatal(fmt.Sprintf(f, v...)) }
