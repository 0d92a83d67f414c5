package devnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/shard"
)

// A router of a sharded network whose ledger groups and coordinator log
// run as their own processes (`specie serve router`): each group is one
// `specie serve ledger` (or a --cluster of them), and so is the
// coordinator's decision log. The router holds no state of its own: it
// runs shard.Router and shard.Coordinator over the groups and the log
// reached over HTTP (shard.Remote, with the config's router credential)
// and serves the public ledger API at the config's ledger URL, so the
// issuer and the intermediaries use it as they use an unsharded ledger.
// Any number of routers may share the groups and the log.

// RouterName is the router's principal: the name its credential
// (Config.Router) authenticates and its certificate carries.
const RouterName = "router"

// routerRecovery bounds how long a starting router waits for the groups
// and the log to answer before it gives up (and the operator, or a
// supervisor, starts it again).
const routerRecovery = 2 * time.Minute

// ParseGroups reads a router's --groups: the groups in order, separated
// by ";", each as the --cluster list of its replicas (ID=URL,...). Each
// group's URLs come out in ID order.
func ParseGroups(s string) ([][]string, error) {
	var out [][]string
	for k, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			return nil, fmt.Errorf("groups: group %d is empty (groups are separated by ';')", k)
		}
		urls, err := ClusterURLs(part)
		if err != nil {
			return nil, fmt.Errorf("groups: group %d: %w", k, err)
		}
		out = append(out, urls)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("groups: %d group; a sharded network has at least 2, separated by ';'", len(out))
	}
	return out, nil
}

// ClusterURLs reads a --cluster list (ParseCluster) into its URLs in ID
// order.
func ClusterURLs(s string) ([]string, error) {
	peers, err := ParseCluster(s)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(peers))
	for id := range peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	urls := make([]string, len(ids))
	for i, id := range ids {
		urls[i] = peers[id]
	}
	return urls, nil
}

// ServeRouter runs a router over groups (each its replicas' base URLs, in
// the network's group order: every router of the network must list them
// alike, as shard.GroupOf numbers them) and the coordinator's log at
// coordinator, serving the ledger API on addr. Before it serves, it checks
// that every group and the log belong to cfg's network and resolves every
// transaction a previous router left in doubt (Coordinator.Recover); then
// it retries, every second, those it could not finish.
func ServeRouter(cfg *Config, groups [][]string, coordinator []string, addr string, log *slog.Logger, lim ...api.Limits) (*Node, error) {
	if cfg.Router == nil || cfg.Router.Token == "" {
		return nil, errors.New(`serve router: the network config has no router credential: add "router": {"name": "router", "token": "<48 hex digits>"} to it and restart the ledger groups, which take parts from that token only`)
	}
	if len(groups) < 2 || len(coordinator) == 0 {
		return nil, fmt.Errorf("serve router: want at least 2 groups and the coordinator's log, have %d groups and %d log URLs", len(groups), len(coordinator))
	}
	n := &Node{Config: cfg, Banks: map[string]*intermediary.Intermediary{}}
	// The router calls the groups as itself, and serves the ledger API
	// under the ledger's name: that is whom the issuer and the banks
	// expect at the ledger's URL.
	opts, err := cfg.ClientOptions(RouterName)
	if err != nil {
		return nil, fmt.Errorf("serve router: %w", err)
	}
	if cfg.TLS != nil {
		f, err := cfg.TLS.Files("ledger")
		if err != nil {
			return nil, fmt.Errorf("serve router: %w", err)
		}
		if n.tls, err = f.Server(); err != nil {
			return nil, fmt.Errorf("serve router: %w", err)
		}
	}
	var remotes []*shard.Remote
	var gs []shard.Group
	for _, urls := range groups {
		g, err := shard.NewRemote(urls, cfg.Router.Token, opts...)
		if err != nil {
			return nil, fmt.Errorf("serve router: %w", err)
		}
		remotes, gs = append(remotes, g), append(gs, g)
	}
	clog, err := shard.NewRemote(coordinator, cfg.Router.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("serve router: coordinator: %w", err)
	}
	coord, err := shard.NewCoordinator(shard.Config{Network: cfg.Network, Log: clog, Groups: gs, Logger: log.With("role", "coordinator")})
	if err != nil {
		return nil, fmt.Errorf("serve router: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), routerRecovery)
	defer cancel()
	if err := untilAnswered(ctx, log, "check the groups' network", func() error { return sameNetwork(ctx, cfg, remotes, clog) }); err != nil {
		return nil, fmt.Errorf("serve router: %w", err)
	}
	var resolved int
	if err := untilAnswered(ctx, log, "coordinator recovery", func() error {
		var err error
		resolved, err = coord.Recover(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("serve router: coordinator recovery: %w", err)
	}
	if resolved > 0 {
		log.Info("coordinator resolved in-doubt transactions", "count", resolved)
	}
	router := shard.NewRouter(coord)
	// An officer key rotation a stopped router applied in some logs only
	// is applied in the others before any mint is taken (as `specie up
	// --groups` does).
	var rotated int
	if err := untilAnswered(ctx, log, "complete officer key rotations", func() error {
		var err error
		rotated, err = router.CompleteRotations(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("serve router: complete officer key rotations: %w", err)
	}
	if rotated > 0 {
		log.Info("officer key rotations completed in every group", "count", rotated)
	}
	router.PublishLogs(groups, coordinator)
	sh := &Sharded{Router: router, stop: make(chan struct{}), done: make(chan struct{})}
	go sh.resolve(coord, log)
	n.Group, n.Sharded = router, sh
	if err := n.serve(addr, api.Config{Ledger: router, Credentials: cfg.credentials(), Logger: log}, firstLimits(lim)); err != nil {
		n.closeServices()
		return nil, err
	}
	return n, nil
}

// untilAnswered runs op until it succeeds or fails other than with
// unavailable (a group or the log not up yet), or ctx ends.
func untilAnswered(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := op()
		if err == nil || !errcode.Is(err, errcode.Unavailable) && !errcode.Is(err, errcode.NotLeader) {
			return err
		}
		log.Warn("router: waiting for the groups and the coordinator's log", "step", what, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up after %s)", what, err, routerRecovery)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// sameNetwork refuses groups or a log of another network than cfg's.
func sameNetwork(ctx context.Context, cfg *Config, gs []*shard.Remote, clog *shard.Remote) error {
	check := func(what string, g *shard.Remote) error {
		info, err := g.Info(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if info.Network != cfg.Network {
			return fmt.Errorf("%s serves network %s (%s), not %s (%s)", what, info.Network.ID, info.Network.Currency.Code, cfg.Network.ID, cfg.Network.Currency.Code)
		}
		if len(info.Groups) > 0 {
			return fmt.Errorf("%s is a router, not a ledger group", what)
		}
		return nil
	}
	for k, g := range gs {
		if err := check(fmt.Sprintf("group %d at %s", k, strings.Join(g.URLs(), " ")), g); err != nil {
			return err
		}
	}
	return check("the coordinator's log at "+strings.Join(clog.URLs(), " "), clog)
}
