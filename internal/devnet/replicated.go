package devnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/logtree"
	"github.com/specie/specie/internal/replica"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// A replicated ledger (internal/replica) in the devnet: `specie serve
// ledger --cluster ... --id N` runs one replica per process, and `specie up
// --replicas N` runs N replicas in the one process of `specie up`, each
// with its own data directory and its own HTTP server on loopback, talking
// raft to the others over HTTP as separate processes would.

// Replica is one replica of a replicated ledger run by this process.
type Replica struct {
	ID      uint64
	URL     string // its base URL: the API's ledger routes and /raft/
	Ledger  *ledger.Ledger
	Replica *replica.Replica
	srv     *api.HTTPServer
	done    chan struct{}
	// log signs checkpoints of the replica's log, when its group has a
	// log key (a group of a sharded ledger, sharded.go); nil otherwise.
	log *logtree.Log
}

// ParseCluster reads a cluster flag: "1=http://127.0.0.1:7001,2=...".
func ParseCluster(s string) (map[uint64]string, error) {
	peers := map[uint64]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		id, err := strconv.ParseUint(strings.TrimSpace(k), 10, 64)
		if !ok || err != nil || id == 0 {
			return nil, fmt.Errorf("cluster: %q is not ID=URL with an ID above 0", part)
		}
		v = strings.TrimRight(strings.TrimSpace(v), "/")
		if _, err := AddrOf(v); err != nil {
			return nil, fmt.Errorf("cluster: replica %d: %w", id, err)
		}
		if _, dup := peers[id]; dup {
			return nil, fmt.Errorf("cluster: replica %d is listed twice", id)
		}
		peers[id] = v
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("cluster: no replicas")
	}
	return peers, nil
}

// ServeReplica runs replica id of a replicated ledger as this process: its
// ledger under dataDir/ledger, its raft log under dataDir/raft, and the
// API's ledger routes with the replica's /raft/ routes on its URL in
// peers (addr overrides the listen address). join starts it empty as a new
// member that the group has already added.
func ServeReplica(cfg *Config, id uint64, peers map[uint64]string, join bool, dataDir, addr string, log *slog.Logger, lim ...api.Limits) (*Node, error) {
	u, ok := peers[id]
	if !ok {
		return nil, fmt.Errorf("serve ledger: replica %d is not in the cluster", id)
	}
	if addr == "" {
		var err error
		if addr, err = AddrOf(u); err != nil {
			return nil, fmt.Errorf("serve ledger: %w", err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve ledger: listen on %s: %w", addr, err)
	}
	r, err := startReplica(cfg, id, peers, join, dataDir, ln, "", nil, log, firstLimits(lim))
	if err != nil {
		ln.Close()
		return nil, err
	}
	n := &Node{Config: cfg, Banks: map[string]*intermediary.Intermediary{}, Ledger: r.Ledger, URL: r.URL, Replicas: []*Replica{r}, closed: r.done}
	return n, nil
}

// startReplica opens a replica's ledger and raft log under dir and serves
// it on ln, with checkpoints of its log signed under origin when sign is
// set.
func startReplica(cfg *Config, id uint64, peers map[uint64]string, join bool, dir string, ln net.Listener, origin string, sign *logtree.Signer, log *slog.Logger, lim api.Limits) (*Replica, error) {
	log = log.With("replica", id)
	key, err := cfg.RaftKey()
	if err != nil {
		return nil, err
	}
	// The raft log is the one durable log of the batches: the ledger keeps
	// none of its own and recovers from it (internal/ledger, replicated.go).
	lg, err := replica.OpenLog(dir)
	if err != nil {
		return nil, err
	}
	lcfg := cfg.ledgerConfig(log)
	lcfg.Log = lg
	led, err := ledger.Open(filepath.Join(dir, "ledger"), lcfg)
	if err != nil {
		lg.Close()
		return nil, err
	}
	rep, err := replica.Start(replica.Config{ID: id, Peers: peers, Dir: dir, Log: lg, Ledger: led, Logger: log, Join: join, Key: key})
	if err != nil {
		led.Close()
		return nil, err
	}
	ac := api.Config{Ledger: led, Credentials: cfg.credentials(), Logger: log}
	var cp *logtree.Log
	if sign != nil {
		tree, err := logtree.NewFileTree(filepath.Join(dir, logTreeFile))
		if err != nil {
			rep.Stop()
			led.Close()
			return nil, err
		}
		cp = logtree.NewLogOf(led, cfg.Network, origin, sign, tree)
		ac.Checkpoints = cp
	}
	srv := api.New(ac)
	srv.Registry().MustRegister(newLedgerCollector(led))
	mux := http.NewServeMux()
	mux.Handle("/raft/", rep.Handler())
	mux.Handle("/", rep.Reads(srv.Handler())) // linearizable reads on every replica
	r := &Replica{ID: id, URL: "http://" + ln.Addr().String(), Ledger: led, Replica: rep, srv: api.NewHTTPServer(mux, lim, log), done: make(chan struct{}), log: cp}
	go func() {
		defer close(r.done)
		if err := r.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("replica HTTP server stopped", "err", err)
		}
	}()
	return r, nil
}

// close stops the replica's server, its raft node, then its ledger.
func (r *Replica) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{r.srv.Shutdown(ctx)}
	<-r.done
	errs = append(errs, r.Replica.Stop(), r.Ledger.Close())
	if r.log != nil {
		errs = append(errs, r.log.Close())
	}
	return errors.Join(errs...)
}

// UpReplicated is Up with the ledger replicated over replicas raft
// replicas on loopback. Replica i listens on the API's port + i (any free
// port when the API's port is 0), so a restart finds its peers where its
// raft log says they are. The issuer and the banks reach the ledger
// through group, which sends writes to the replica that leads.
func UpReplicated(dir, addr string, replicas int, log *slog.Logger, lim ...api.Limits) (*Node, bool, error) {
	if replicas < 1 {
		return nil, false, fmt.Errorf("up: %d replicas", replicas)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, false, fmt.Errorf("up: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, false, fmt.Errorf("up: port %q: %w", portStr, err)
	}
	n, created, err := newNode(dir, addr, func() error { return checkReplicaDirs(dir, replicas) })
	if err != nil {
		return nil, false, err
	}
	cfg := n.Config
	fail := func(err error) (*Node, bool, error) {
		n.closeServices()
		return nil, false, err
	}
	reps, err := startGroup(cfg, dir, host, port, 0, replicas, "", log, firstLimits(lim))
	if err != nil {
		return fail(err)
	}
	n.Replicas = reps
	g := &group{n: n}
	if err := g.waitLeader(30 * time.Second); err != nil {
		return fail(err)
	}
	n.Group = g
	banks, err := n.openRoles(dir, g, log)
	if err != nil {
		return fail(err)
	}
	if err := n.openGateway(dir, banks, log); err != nil {
		return fail(err)
	}
	if err := n.serve(addr, api.Config{ISO20022: n.Gateway, Ledger: g, Issuer: n.Issuer, Policies: n.Issuer, Registry: n.Issuer.Registry(), AliasDirectory: n.Issuer.Aliases(), Keys: n.Issuer, Intermediaries: banks, Credentials: cfg.credentials(), Logger: log}, firstLimits(lim)); err != nil {
		return fail(err)
	}
	return n, created, nil
}

// startGroup starts the replicas of one ledger group under dir (ledger-1,
// ...), replica i listening on host:port+offset+i (any free port when port
// is 0). With origin set, every replica serves checkpoints of the group's
// log under that origin, signed by the group's log key (dir/log.key,
// created on the first start).
func startGroup(cfg *Config, dir, host string, port, offset, replicas int, origin string, log *slog.Logger, lim api.Limits) ([]*Replica, error) {
	var sign *logtree.Signer
	if origin != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("up: %w", err)
		}
		var err error
		if sign, err = logSigner(filepath.Join(dir, logKeyFile), origin); err != nil {
			return nil, err
		}
	}
	peers := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for i := 1; i <= replicas; i++ {
		a := net.JoinHostPort(host, "0")
		if port != 0 {
			a = net.JoinHostPort(host, strconv.Itoa(port+offset+i))
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("up: replica %d: listen on %s: %w", i, a, err)
		}
		lns[uint64(i)] = ln
		peers[uint64(i)] = "http://" + ln.Addr().String()
	}
	var reps []*Replica
	for i := uint64(1); i <= uint64(replicas); i++ {
		r, err := startReplica(cfg, i, peers, false, filepath.Join(dir, fmt.Sprintf("ledger-%d", i)), lns[i], origin, sign, log, lim)
		if err != nil {
			for j := i; j <= uint64(replicas); j++ {
				lns[j].Close()
			}
			for _, r := range reps {
				r.close()
			}
			return nil, err
		}
		reps = append(reps, r)
	}
	return reps, nil
}

// group is a replicated ledger whose replicas all run in this process,
// seen as one roles.Ledger: a write goes to the replica that leads, and
// follows a not_leader answer to the one it names; reads are served by the
// leader too, so a caller reads what it wrote.
type group struct {
	n *Node
	// reps, when set, are this group's replicas (one group of a sharded
	// ledger, sharded.go); otherwise the node's.
	reps []*Replica
}

// replicas are the group's replicas.
func (g *group) replicas() []*Replica {
	if g.reps != nil {
		return g.reps
	}
	return g.n.Replicas
}

var _ roles.Ledger = (*group)(nil)

// leader is the replica that leads as far as any replica knows, or the
// first one.
func (g *group) leader() *ledger.Ledger {
	for _, r := range g.replicas() {
		if st := r.Replica.Status(); st.Leader == r.ID {
			return r.Ledger
		}
	}
	return g.replicas()[0].Ledger
}

// waitLeader waits for an election, so that `specie up` is ready when it
// says so.
func (g *group) waitLeader(limit time.Duration) error {
	end := time.Now().Add(limit)
	for {
		for _, r := range g.replicas() {
			if r.Replica.Lead() == nil {
				return nil
			}
		}
		if time.Now().After(end) {
			return fmt.Errorf("up: no replica was elected leader within %s", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// retry runs op against the leader until it answers other than not_leader
// (an election moved the lead between the choice and the call), a few
// times at most.
func retry[T any](ctx context.Context, g *group, op func(*ledger.Ledger) (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := op(g.leader())
		if !errcode.Is(err, errcode.NotLeader) || i == 20 || ctx.Err() != nil {
			return v, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Info is the leader's, as the other reads: its key sets are the ones a
// mint is judged against (a follower may not have applied a rotation yet,
// and the router compares the groups' key sets before a mint).
func (g *group) Info(ctx context.Context) (roles.LedgerInfo, error) {
	return g.leader().Info(ctx)
}

func (g *group) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	return retry(ctx, g, func(l *ledger.Ledger) (roles.Receipt, error) { return l.Submit(ctx, tx) })
}

func (g *group) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	return retry(ctx, g, func(l *ledger.Ledger) ([]roles.Result, error) { return l.SubmitBatch(ctx, txs) })
}

func (g *group) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	return g.leader().Tx(ctx, id)
}

func (g *group) Note(ctx context.Context, id money.NoteID) (roles.NoteInfo, error) {
	return g.leader().Note(ctx, id)
}

func (g *group) Supply(ctx context.Context) (roles.LedgerSupply, error) {
	return g.leader().Supply(ctx)
}

func (g *group) Headers(ctx context.Context, from uint64, limit int) ([]money.BatchHeader, error) {
	return g.leader().Headers(ctx, from, limit)
}

// Batch serves a batch in full from the leader's archive: every replica
// keeps it (the archive travels in the raft entries with the record).
func (g *group) Batch(ctx context.Context, seq uint64) (roles.BatchContents, error) {
	return g.leader().Batch(ctx, seq)
}

var _ roles.BatchSource = (*group)(nil)

// Health is healthy when some replica leads.
func (g *group) Health(context.Context) error {
	for _, r := range g.replicas() {
		if st := r.Replica.Status(); st.Leader != 0 {
			return nil
		}
	}
	return errcode.New(errcode.Unavailable, "no ledger replica leads")
}

// ReplicaIDs lists the IDs of the replicas this node runs.
func (n *Node) ReplicaIDs() []uint64 {
	var ids []uint64
	for _, r := range n.Replicas {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// checkReplicaDirs refuses to start a data directory with another shape
// than it was created with: the issuer's and the banks' books rest on the
// ledger it holds, and a group's replicas all bootstrapped one membership
// (change it with 'specie ledger cluster add|remove').
func checkReplicaDirs(dir string, replicas int) error {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	if exists("group-0") {
		return fmt.Errorf("up: %s holds a sharded ledger; start it with --groups (docs/scale-out.md)", dir)
	}
	if replicas > 1 && exists("ledger") {
		return fmt.Errorf("up: %s holds an unreplicated ledger; it cannot be started with --replicas %d", dir, replicas)
	}
	have := 0
	for exists(fmt.Sprintf("ledger-%d", have+1)) {
		have++
	}
	if have > 0 && have != replicas {
		return fmt.Errorf("up: %s holds a ledger of %d replicas; start it with --replicas %d", dir, have, have)
	}
	return nil
}

// raftKeyFile is the replicas' shared secret, under the config's keys/:
// raft messages between replicas are authenticated with it
// (replica.Config.Key). Every replica of a group must read the same file;
// the devnet keeps it beside the other keys, so one person can play every
// replica.
const raftKeyFile = "keys/raft-group.key"

// RaftKey reads the group key, creating it on the first start of a
// replicated ledger. Replicas started together race to create it: the
// exclusive create lets one win and the others read what it wrote.
func (c *Config) RaftKey() ([]byte, error) {
	if c.dir == "" {
		return nil, fmt.Errorf("raft group key: the network config was not loaded from a file")
	}
	path := filepath.Join(c.dir, raftKeyFile)
	for range 50 {
		b, err := os.ReadFile(path)
		if err == nil {
			k, derr := hex.DecodeString(strings.TrimSpace(string(b)))
			if derr == nil && len(k) >= replica.MinKeyLen {
				return k, nil
			}
			if len(b) > 0 && b[len(b)-1] == '\n' {
				return nil, fmt.Errorf("raft group key %s: want %d hex-encoded bytes", path, replica.MinKeyLen)
			}
			time.Sleep(10 * time.Millisecond) // being written by another replica
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("raft group key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("raft group key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("raft group key: %w", err)
		}
		k := make([]byte, replica.MinKeyLen)
		rand.Read(k)
		_, werr := f.WriteString(hex.EncodeToString(k) + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("raft group key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("raft group key %s: still being written", path)
}
