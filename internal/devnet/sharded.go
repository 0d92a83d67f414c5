package devnet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// A sharded ledger in the devnet (`specie up --groups G --replicas N`): the
// unspent set split by note-ID prefix across G ledger groups of N replicas
// each, plus one more group of N replicas holding the two-phase-commit
// coordinator's decision log (internal/shard). All run in this process, each
// replica with its own data directory (group-K/ledger-I, coordinator/ledger-I)
// and its own HTTP server on loopback. The issuer, the banks and the API
// reach the ledger through a shard.Router.

// Sharded is the sharded ledger a node runs.
type Sharded struct {
	Groups      [][]*Replica // per group, its replicas
	Coordinator []*Replica   // the coordinator's log's replicas
	Router      *shard.Router
	stop        chan struct{}
	done        chan struct{}
}

// SubmitPart sends a part of a cross-group transaction to the replica that
// leads the group.
func (g *group) SubmitPart(ctx context.Context, p ledger.Part) (roles.Receipt, error) {
	return retry(ctx, g, func(l *ledger.Ledger) (roles.Receipt, error) { return l.SubmitPart(ctx, p) })
}

var _ shard.Log = (*group)(nil)

// RotateMintKeys applies an officer key set in the group, at its leader:
// the router applies a rotation in every group and the coordinator's log
// (shard.Router.RotateMintKeys).
func (g *group) RotateMintKeys(ctx context.Context, s policy.SignedKeySet) (roles.KeyEpoch, error) {
	return retry(ctx, g, func(l *ledger.Ledger) (roles.KeyEpoch, error) { return l.RotateMintKeys(ctx, s) })
}

var _ roles.KeyRotator = (*group)(nil)

// UpSharded is UpReplicated with the ledger split across groups groups,
// each of replicas replicas (1 runs each group as one raft member). Group
// K's replica I listens on the API's port + K*replicas + I, the
// coordinator's on the port + groups*replicas + I (any free ports when the
// API's port is 0).
func UpSharded(dir, addr string, groups, replicas int, log *slog.Logger, lim ...api.Limits) (*Node, bool, error) {
	if groups < 2 || replicas < 1 {
		return nil, false, fmt.Errorf("up: %d groups of %d replicas: want at least 2 groups", groups, replicas)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, false, fmt.Errorf("up: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, false, fmt.Errorf("up: port %q: %w", portStr, err)
	}
	n, created, err := newNode(dir, addr, func() error { return checkShardDirs(dir, groups, replicas) })
	if err != nil {
		return nil, false, err
	}
	cfg := n.Config
	fail := func(err error) (*Node, bool, error) {
		n.closeServices()
		return nil, false, err
	}
	sh := &Sharded{stop: make(chan struct{}), done: make(chan struct{})}
	var gs []shard.Group
	// Each group's log and the coordinator's is signed with a log key of
	// its own, under an origin naming it (shard.LogOrigin).
	start := func(sub string, offset, index int) (*group, error) {
		reps, err := startGroup(cfg, filepath.Join(dir, sub), host, port, offset, replicas, shard.LogOrigin(cfg.Network, index), log.With("group", sub), firstLimits(lim))
		if err != nil {
			return nil, err
		}
		n.Replicas = append(n.Replicas, reps...)
		g := &group{n: n, reps: reps}
		return g, g.waitLeader(30 * time.Second)
	}
	for k := range groups {
		g, err := start(fmt.Sprintf("group-%d", k), k*replicas, k)
		if err != nil {
			return fail(err)
		}
		sh.Groups = append(sh.Groups, g.reps)
		gs = append(gs, g)
	}
	clog, err := start("coordinator", groups*replicas, -1)
	if err != nil {
		return fail(err)
	}
	sh.Coordinator = clog.reps
	coord, err := shard.NewCoordinator(shard.Config{Network: cfg.Network, Log: clog, Groups: gs, Logger: log.With("role", "coordinator")})
	if err != nil {
		return fail(err)
	}
	// Transactions a previous run left in doubt are resolved before any
	// new one is taken.
	if k, err := coord.Recover(context.Background()); err != nil {
		return fail(fmt.Errorf("up: coordinator recovery: %w", err))
	} else if k > 0 {
		log.Info("coordinator resolved in-doubt transactions", "count", k)
	}
	sh.Router = shard.NewRouter(coord)
	// An officer key rotation a previous run applied in some logs only is
	// applied in the others before any mint is taken.
	if k, err := sh.Router.CompleteRotations(context.Background()); err != nil {
		return fail(fmt.Errorf("up: complete officer key rotations: %w", err))
	} else if k > 0 {
		log.Info("officer key rotations completed in every group", "count", k)
	}
	sh.Router.PublishLogs(urlsOf(sh.Groups...), urlsOf(sh.Coordinator)[0])
	n.Group, n.Sharded = sh.Router, sh
	go sh.resolve(coord, log)
	banks, err := n.openRoles(dir, sh.Router, log)
	if err != nil {
		return fail(err)
	}
	if err := n.openGateway(dir, banks, log); err != nil {
		return fail(err)
	}
	if err := n.serve(addr, api.Config{ISO20022: n.Gateway, Ledger: sh.Router, Issuer: n.Issuer, Policies: n.Issuer, Registry: n.Issuer.Registry(), AliasDirectory: n.Issuer.Aliases(), Keys: n.Issuer, Intermediaries: banks, Credentials: cfg.credentials(), Logger: log}, firstLimits(lim)); err != nil {
		return fail(err)
	}
	return n, created, nil
}

// urlsOf lists the base URLs of each run of replicas.
func urlsOf(groups ...[]*Replica) [][]string {
	out := make([][]string, len(groups))
	for g, reps := range groups {
		for _, r := range reps {
			out[g] = append(out[g], r.URL)
		}
	}
	return out
}

// resolve retries, every second, the cross-group transactions whose
// commits or aborts could not all be applied when they were decided.
func (sh *Sharded) resolve(c *shard.Coordinator, log *slog.Logger) {
	defer close(sh.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-sh.stop:
			return
		case <-t.C:
			if err := c.Resolve(context.Background()); err != nil {
				log.Warn("coordinator: in-doubt transactions not resolved yet", "err", err)
			}
		}
	}
}

func (sh *Sharded) close() {
	close(sh.stop)
	<-sh.done
}

// checkShardDirs refuses a data directory of another shape than a sharded
// ledger of groups groups of replicas replicas.
func checkShardDirs(dir string, groups, replicas int) error {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	if exists("ledger") || exists("ledger-1") {
		return fmt.Errorf("up: %s holds a ledger of one group; it cannot be started with --groups %d", dir, groups)
	}
	have := 0
	for exists(fmt.Sprintf("group-%d", have)) {
		have++
	}
	if have > 0 && have != groups {
		return fmt.Errorf("up: %s holds a ledger of %d groups; start it with --groups %d", dir, have, have)
	}
	for k := range have {
		if err := checkReplicaDirs(filepath.Join(dir, fmt.Sprintf("group-%d", k)), replicas); err != nil {
			return err
		}
	}
	return nil
}
