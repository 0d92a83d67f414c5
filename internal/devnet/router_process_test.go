package devnet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/shard"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// shardedProcs is a sharded network whose every part is its own `specie
// serve` process: two ledger groups and the coordinator's log (each one
// ledger, or a cluster of three replicas), the router serving the ledger
// API at the config's ledger URL, the issuer, bank-a and bank-b.
type shardedProcs struct {
	t        *testing.T
	bin, dir string
	cfgPath  string
	cfg      *devnet.Config
	groups   [][]string // each group's replica URLs
	coord    []string   // the coordinator log's
	flags    [2]string  // the router's --groups and --coordinator
	router   *proc
	// replicas are each group's replica processes (replicas[k][id-1]),
	// with the arguments and log that start one again.
	replicas [][]*replicaProc
}

// replicaProc is one ledger replica's process and how to start it again
// on the same data directory.
type replicaProc struct {
	*proc
	args    []string
	logPath string
}

// startShardedProcs starts the network with groups (and the coordinator's
// log) of replicas replicas.
func startShardedProcs(t *testing.T, replicas int) *shardedProcs {
	t.Helper()
	return startShardedProcsLog(t, replicas, replicas)
}

// startShardedProcsLog starts the network with groups of replicas replicas
// and the coordinator's log of logReplicas.
func startShardedProcsLog(t *testing.T, replicas, logReplicas int) *shardedProcs {
	t.Helper()
	s := &shardedProcs{t: t, dir: t.TempDir()}
	s.bin = buildSpecie(t, s.dir)
	root := filepath.Join(s.dir, "net")
	var urls map[string]string
	s.cfg, _, urls = servedNet(t, root)
	s.cfgPath = filepath.Join(root, devnet.ConfigFile)
	// ledger starts one group (or the log) and returns its --cluster list.
	ledger := func(name string, replicas int) ([]string, string, []*replicaProc) {
		var urls, cluster []string
		var procs []*replicaProc
		for i := 1; i <= replicas; i++ {
			u := "http://" + freeAddr(t)
			urls = append(urls, u)
			cluster = append(cluster, fmt.Sprintf("%d=%s", i, u))
		}
		for i, u := range urls {
			args := []string{"serve", "ledger", "--config", s.cfgPath}
			if replicas == 1 {
				args = append(args, "--data", filepath.Join(s.dir, name), "--http", strings.TrimPrefix(u, "http://"))
			} else {
				args = append(args, "--data", filepath.Join(s.dir, fmt.Sprintf("%s-r%d", name, i+1)), "--id", fmt.Sprint(i+1), "--cluster", strings.Join(cluster, ","))
			}
			logPath := filepath.Join(s.dir, fmt.Sprintf("%s-r%d.log", name, i+1))
			procs = append(procs, &replicaProc{startProc(t, s.bin, logPath, args...), args, logPath})
		}
		for _, u := range urls {
			waitHealthy(t, u)
		}
		return urls, strings.Join(cluster, ","), procs
	}
	var gflags []string
	for k := range 2 {
		urls, cluster, procs := ledger(fmt.Sprintf("group-%d", k), replicas)
		s.groups = append(s.groups, urls)
		s.replicas = append(s.replicas, procs)
		gflags = append(gflags, cluster)
	}
	var cflag string
	s.coord, cflag, _ = ledger("coordinator", logReplicas)
	s.flags = [2]string{strings.Join(gflags, ";"), cflag}
	s.startRouter()
	for _, name := range []string{"issuer", "bank-a", "bank-b"} {
		args := []string{"serve", name}
		if name != "issuer" {
			args = []string{"serve", "intermediary", "--name", name}
		}
		args = append(args, "--config", s.cfgPath, "--data", filepath.Join(s.dir, name))
		startProc(t, s.bin, filepath.Join(s.dir, name+".log"), args...)
		waitHealthy(t, urls[name])
	}
	return s
}

// startRouter starts the router; it serves once it has resolved what a
// previous one left in doubt.
func (s *shardedProcs) startRouter() {
	s.t.Helper()
	s.router = startProc(s.t, s.bin, filepath.Join(s.dir, "router.log"),
		"serve", "router", "--config", s.cfgPath, "--groups", s.flags[0], "--coordinator", s.flags[1])
	waitHealthy(s.t, s.cfg.Ledger.URL)
}

// groupLedger reads group k (or the coordinator's log, k = -1) at its
// first replica; reads are linearizable on any replica.
func (s *shardedProcs) groupLedger(k int) roles.Ledger {
	if k < 0 {
		return client.New(s.coord[0], "").Ledger()
	}
	return client.New(s.groups[k][0], "").Ledger()
}

// settled checks, once nothing is in flight, what the router's crashes
// must not break: every cross-group transaction the coordinator's log
// began has exactly one decision, no group holds its lock note, and a
// committed one is in the groups' logs; the groups' outstanding supplies
// add up to what was minted less what was redeemed, as does the router's
// supply. It returns how many cross-group transactions committed.
func (s *shardedProcs) settled(minted, redeemed uint64) (committed int, err error) {
	ctx := context.Background()
	net := s.cfg.Network
	clog := s.groupLedger(-1)
	src := clog.(roles.BatchSource)
	sup, err := clog.Supply(ctx)
	if err != nil {
		return 0, err
	}
	seen := map[money.TxID]bool{}
	for seq := uint64(1); seq <= sup.Batches; seq++ {
		b, err := src.Batch(ctx, seq)
		if err != nil {
			return 0, fmt.Errorf("coordinator batch %d: %w", seq, err)
		}
		for _, raw := range b.Txs {
			var tx money.Tx
			if err := tx.UnmarshalBinary(raw); err != nil {
				return 0, fmt.Errorf("coordinator batch %d: %w", seq, err)
			}
			id := net.TxID(&tx)
			if seen[id] {
				continue
			}
			seen[id] = true
			yes, no := shard.DecisionIDs(net, id)
			var decided []bool
			for _, d := range []money.TxID{yes, no} {
				_, err := clog.Tx(ctx, d)
				if err != nil && !errcode.Is(err, errcode.NotFound) {
					return 0, err
				}
				decided = append(decided, err == nil)
			}
			if decided[0] == decided[1] {
				return 0, fmt.Errorf("transaction %s: commit logged %v, abort logged %v; want exactly one", id, decided[0], decided[1])
			}
			for k := range s.groups {
				ni, err := s.groupLedger(k).Note(ctx, shard.LockNote(net, id))
				if err != nil {
					return 0, err
				}
				if ni.Status == roles.NoteUnspent {
					return 0, fmt.Errorf("transaction %s: group %d still holds its lock note", id, k)
				}
			}
			if decided[0] {
				committed++
			}
		}
	}
	var out uint64
	for k := range s.groups {
		gs, err := s.groupLedger(k).Supply(ctx)
		if err != nil {
			return 0, err
		}
		out += gs.Outstanding
	}
	if out != minted-redeemed {
		return 0, fmt.Errorf("the groups hold %d outstanding; minted %d - redeemed %d = %d", out, minted, redeemed, minted-redeemed)
	}
	rs, err := client.New(s.cfg.Ledger.URL, "").Ledger().Supply(ctx)
	if err != nil {
		return 0, err
	}
	if rs.Minted != minted || rs.Redeemed != redeemed || rs.Outstanding != out {
		return 0, fmt.Errorf("the router's supply %+v; want minted %d, redeemed %d, outstanding %d", rs, minted, redeemed, out)
	}
	return committed, nil
}

// cli runs the specie binary against the router and fails on a non-zero
// exit.
func (s *shardedProcs) cli(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(s.bin, append(args, "--api", s.cfg.Ledger.URL)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("specie %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestShardedProcessesRouterKilledUnderLoad: with the groups, the
// coordinator's log, the router, the issuer and the banks as separate
// processes, payments within and across groups commit through the router;
// the router is SIGKILLed under payment load at a moment drawn from the
// seed and restarted, several rounds. After each: every cross-group
// transaction in doubt was resolved (one decision, no lock note left),
// every payment reported committed is on the ledger once and in its
// payer's history, a keyed payment made again gets the same answer, the
// groups' supplies add up to what was minted, and `specie log verify` and
// `specie tx show` against the router pass.
func TestShardedProcessesRouterKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts nine processes")
	}
	for _, tc := range []struct {
		name     string
		replicas int
		rounds   int
	}{
		{"single-replica groups", 1, 3},
		{"three-replica groups", 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routerKilledUnderLoad(t, tc.replicas, tc.rounds)
		})
	}
}

func routerKilledUnderLoad(t *testing.T, replicas, rounds int) {
	seed := crashtest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 0x726f7574))
	_, perBank, clients := killRounds()
	s := startShardedProcs(t, replicas)
	cfg := s.cfg
	urls := map[string]string{"bank-a": cfg.Intermediaries[0].URL, "bank-b": cfg.Intermediaries[1].URL}
	parties := newParties(t, cfg, cfg.Ledger.URL, cfg.Issuer.URL, urls["bank-a"], urls["bank-b"])
	const funding = 500_00
	pl := newPayLedger(parties.openFunded(t, perBank, funding)...)
	minted := 2 * uint64(perBank+1) * funding // openFunded's mints
	httpBanks := map[string]roles.Intermediary{"bank-a": parties.bankA, "bank-b": parties.bankB}
	ctx := context.Background()
	clog := s.groupLedger(-1)
	for round := range rounds {
		killAt := 20 + rng.IntN(150)
		killUnderLoad(t, s.router, parties, pl, pl.wallets[2:], rng.Uint64(), clients, killAt, fmt.Sprintf("r%d", round))
		t.Logf("round %d: router killed after %d payments reported committed; %d so far", round, killAt, len(pl.reported))
		s.startRouter()
		if b, err := os.ReadFile(filepath.Join(s.dir, "router.log")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "resolved in-doubt") {
					t.Logf("round %d: router log: %s", round, line)
				}
			}
		}
		pl.checkReported(t, parties.ledger, httpBanks)
		var cross int
		waitFor(t, "every cross-group transaction settled", 2*time.Minute, func() error {
			var err error
			cross, err = s.settled(minted, 0)
			return err
		})
		// Payments committed within one group and across groups, each
		// reported once: a cross-group one has its decision logged.
		var single, crossReported int
		for id := range pl.reported {
			yes, _ := shard.DecisionIDs(cfg.Network, id)
			if _, err := clog.Tx(ctx, yes); err == nil {
				crossReported++
			} else if errcode.Is(err, errcode.NotFound) {
				single++
			} else {
				t.Fatal(err)
			}
		}
		t.Logf("round %d: %d cross-group transactions committed; payments reported: %d within one group, %d across groups", round, cross, single, crossReported)
		if single == 0 || crossReported == 0 {
			t.Fatalf("want payments both within a group and across groups; have %d and %d", single, crossReported)
		}
	}
	if err := assertNoWrongRefusals(pl); err != nil {
		t.Fatal(err)
	}
	out := s.cli("log", "verify")
	if !strings.Contains(out, "network of 2 groups") {
		t.Fatalf("specie log verify against the router:\n%s", out)
	}
	for id := range pl.reported {
		s.cli("tx", "show", id.String())
		break
	}
}

// waitFor polls f until it returns nil or limit passes.
func waitFor(t *testing.T, what string, limit time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// restartReplica starts replica id of group k again on its data
// directory and waits until it serves.
func (s *shardedProcs) restartReplica(k int, id uint64) {
	s.t.Helper()
	r := s.replicas[k][id-1]
	r.proc = startProc(s.t, s.bin, r.logPath, r.args...)
	waitHealthy(s.t, s.groups[k][id-1])
}

// groupURLs are group k's replica URLs by replica ID.
func (s *shardedProcs) groupURLs(k int) map[uint64]string {
	m := map[uint64]string{}
	for i, u := range s.groups[k] {
		m[uint64(i+1)] = u
	}
	return m
}
