package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/hsm"
)

// httpLimitFlags adds the HTTP server's limits to cmd; zero keeps api's
// default.
func httpLimitFlags(cmd *cobra.Command, lim *api.Limits) {
	f := cmd.Flags()
	f.DurationVar(&lim.ReadHeaderTimeout, "http-read-header-timeout", api.DefaultReadHeaderTimeout, "time a client has to send a request's line and headers")
	f.DurationVar(&lim.ReadTimeout, "http-read-timeout", api.DefaultReadTimeout, "time a client has to send a whole request, body included")
	f.DurationVar(&lim.WriteTimeout, "http-write-timeout", api.DefaultWriteTimeout, "time from a request's headers to the end of its response")
	f.DurationVar(&lim.IdleTimeout, "http-idle-timeout", api.DefaultIdleTimeout, "how long an idle kept-alive connection stays open")
	f.IntVar(&lim.MaxConns, "http-max-conns", api.DefaultMaxConns, "most open connections; at the cap the longest-idle keep-alive connection is closed for a new one, and if none is idle new ones wait to be accepted")
}

func logger() *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("SPECIE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func upCmd(g *globals) *cobra.Command {
	var addr string
	var replicas int
	var groups int
	var lim api.Limits
	var useHSM bool
	var hsmModule string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a complete network in one process: ledger, issuer, bank-a, bank-b and the HTTP API",
		Long: `Start a complete Specie network on this machine with embedded storage.

The first start creates the network under --data (keys, credentials, config);
later starts resume it exactly. Stop with Ctrl-C.

With --replicas N (3 or 5) the ledger is replicated with raft: N replicas in
this process, each with its own data directory (ledger-1, ...) and its own
HTTP server on the API's port + i, talking raft over HTTP on loopback. Try
'specie ledger cluster status --api http://127.0.0.1:8081'. A data directory
keeps the replica count it was created with.

With --groups G (2 or more) the unspent set is split by note-ID prefix across
G ledger groups of --replicas replicas each, plus a group holding the
two-phase-commit coordinator's log for transactions that span groups
(docs/scale-out.md); group K's replicas listen on the API's port +
K*replicas + i, the coordinator's after them. A data directory keeps its
group count.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var n *devnet.Node
			var created bool
			var err error
			var hsmCreated bool
			if useHSM {
				if hsmCreated, err = devnet.PrepareHSM(g.data, addr, hsmModule); err != nil {
					return err
				}
			}
			if groups > 1 {
				n, created, err = devnet.UpSharded(g.data, addr, groups, replicas, logger(), lim)
			} else if replicas > 1 {
				n, created, err = devnet.UpReplicated(g.data, addr, replicas, logger(), lim)
			} else {
				// One replica is today's ledger, unreplicated: no raft,
				// nothing in its commit path changes.
				n, created, err = devnet.Up(g.data, addr, logger(), lim)
			}
			if err != nil {
				return err
			}
			printUp(g, n, created || hsmCreated)
			return waitForSignal(n)
		},
	}
	cmd.Flags().StringVar(&addr, "http", "127.0.0.1:8080", "address for the HTTP API")
	cmd.Flags().IntVar(&replicas, "replicas", 1, "ledger replicas (raft); 1 runs the ledger unreplicated")
	cmd.Flags().IntVar(&groups, "groups", 1, "ledger groups the unspent set is split across (two-phase commit between them); 1 runs one group")
	cmd.Flags().BoolVar(&useHSM, "hsm", false, "create the network with its officer keys and redeem key on a SoftHSM2 token under --data (PKCS#11); no private key is written to disk")
	cmd.Flags().StringVar(&hsmModule, "hsm-module", hsm.DefaultModule, "PKCS#11 module for --hsm")
	httpLimitFlags(cmd, &lim)
	return cmd
}

func printUp(g *globals, n *devnet.Node, created bool) {
	c := n.Config
	state := "resumed"
	if created {
		state = "created"
	}
	sup, _ := n.Supply(context.Background())
	var b strings.Builder
	fmt.Fprintf(&b, "Specie network %s (%s) %s, data in %s\n", c.Network.ID, c.Network.Currency.Code, state, g.data)
	fmt.Fprintf(&b, "  HTTP API      %s/v1   (health %s/healthz, metrics %s/metrics)\n", n.URL, n.URL, n.URL)
	fmt.Fprintf(&b, "  ledger        %d shards, %d batches, outstanding %s\n", c.Shards, sup.Batches, c.Network.Currency.Format(sup.Outstanding))
	if sh := n.Sharded; sh != nil {
		for k, reps := range sh.Groups {
			for _, r := range reps {
				fmt.Fprintf(&b, "  group %d r%-3d %s   (raft status %s/raft/status)\n", k, r.ID, r.URL, r.URL)
			}
		}
		for _, r := range sh.Coordinator {
			fmt.Fprintf(&b, "  2pc log r%-4d %s   (raft status %s/raft/status)\n", r.ID, r.URL, r.URL)
		}
	} else {
		for _, r := range n.Replicas {
			fmt.Fprintf(&b, "  replica %-5d %s   (raft status %s/raft/status)\n", r.ID, r.URL, r.URL)
		}
	}
	fmt.Fprintf(&b, "  issuer        mint approval %d of %d officer keys:\n", c.MintQuorum, len(c.MintKeys))
	for _, f := range c.OfficerKeyFiles {
		fmt.Fprintf(&b, "                  %s\n", f)
	}
	if c.HSM != nil {
		fmt.Fprintf(&b, "                  on HSM token %q (%s): %s; redeem key %s\n", c.HSM.Token, c.HSM.Module, strings.Join(c.HSM.OfficerKeys, ", "), c.HSM.RedeemKey)
	}
	for _, e := range c.Intermediaries {
		fmt.Fprintf(&b, "  %-13s intermediary, wallets %s.*, treasury %s.treasury\n", e.Name, e.Name, e.Name)
	}
	fmt.Fprintf(&b, "Credentials (Authorization: Bearer <token>; the CLI reads them from %s):\n", filepath.Join(g.data, devnet.ConfigFile))
	fmt.Fprintf(&b, "  %-8s %s\n", "issuer", c.Issuer.Token)
	for _, e := range c.Intermediaries {
		fmt.Fprintf(&b, "  %-8s %s\n", e.Name, e.Token)
	}
	fmt.Fprintf(&b, "Ready. Ctrl-C stops.\n")
	fmt.Fprint(g.out, b.String())
}

func waitForSignal(n *devnet.Node) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				reloadSanctions(n) // and keep serving
				continue
			}
			fmt.Fprintf(os.Stderr, "specie: %s, shutting down\n", s)
		case <-n.Done():
		}
		return n.Close()
	}
}

func serveCmd(g *globals) *cobra.Command {
	var cfgPath, addr, name, cluster string
	var id uint64
	var join bool
	var lim api.Limits
	var rf routerFlags // router_cmd.go
	cmd := &cobra.Command{
		Use:   "serve ledger|issuer|intermediary|router",
		Short: "Run one role as its own process, talking to the others over HTTP",
		Long: `Run one role of the network as its own process with its own data directory.
The roles find each other and their credentials in the config written by
'specie devnet init'. Example:

  specie devnet init --data net --base-port 18080
  specie serve ledger --config net/devnet.json --data net/ledger
  specie serve issuer --config net/devnet.json --data net/issuer
  specie serve intermediary --name bank-a --config net/devnet.json --data net/bank-a
  specie serve intermediary --name bank-b --config net/devnet.json --data net/bank-b

A replicated ledger runs one process per replica, each with its own data
directory; each serves the API's ledger routes and raft on its URL in
--cluster. Followers answer writes with not_leader and the leader's URL
(header Specie-Leader); the client follows it.

  specie serve ledger --config net/devnet.json --data net/r1 --id 1 \
      --cluster 1=http://127.0.0.1:7001,2=http://127.0.0.1:7002,3=http://127.0.0.1:7003

A replica that lost its data rejoins under a new ID: 'specie ledger cluster
remove 3' and 'specie ledger cluster add 4=URL', then serve it with --id 4
--join and the current members plus itself in --cluster.

A sharded ledger (docs/scale-out.md) runs each group, and the two-phase-commit
coordinator's log, as ledgers of their own (one process, or a --cluster
each), and a router that serves the ledger API at the config's ledger URL;
the issuer and the banks use it as the ledger. Groups are listed in order,
separated by ';', every router of the network alike:

  specie serve ledger --config net/devnet.json --data net/g0 --http 127.0.0.1:7101
  specie serve ledger --config net/devnet.json --data net/g1 --http 127.0.0.1:7201
  specie serve ledger --config net/devnet.json --data net/c --http 127.0.0.1:7301
  specie serve router --config net/devnet.json \
      --groups '1=http://127.0.0.1:7101;1=http://127.0.0.1:7201' \
      --coordinator 1=http://127.0.0.1:7301`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := devnet.Load(cfgPath)
			if err != nil {
				return err
			}
			role := args[0]
			if role == "router" {
				return serveRouter(g, cfg, rf, addr, lim)
			}
			if cluster != "" || id != 0 {
				if role != "ledger" {
					return fmt.Errorf("serve %s: --cluster and --id are for 'serve ledger'", role)
				}
				peers, err := devnet.ParseCluster(cluster)
				if err != nil {
					return err
				}
				n, err := devnet.ServeReplica(cfg, id, peers, join, g.data, addr, logger(), lim)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.out, "Specie ledger replica %d of %d serving %s/v1 and %s/raft/, data in %s\n", id, len(peers), n.URL, n.URL, g.data)
				return waitForSignal(n)
			}
			if addr == "" {
				u := ""
				switch role {
				case "ledger":
					u = cfg.Ledger.URL
				case "issuer":
					u = cfg.Issuer.URL
				case "intermediary":
					e, ok := cfg.Intermediary(name)
					if !ok {
						return fmt.Errorf("intermediary %q is not in %s", name, cfgPath)
					}
					u = e.URL
				}
				if addr, err = devnet.AddrOf(u); err != nil && role != "" {
					return fmt.Errorf("serve %s: %w", role, err)
				}
			}
			n, err := devnet.Serve(cfg, role, name, g.data, addr, logger(), lim)
			if err != nil {
				return err
			}
			who := role
			if name != "" {
				who += " " + name
			}
			fmt.Fprintf(g.out, "Specie %s serving %s/v1, data in %s\n", who, n.URL, g.data)
			return waitForSignal(n)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "./specie-data/devnet.json", "network config written by 'specie devnet init'")
	cmd.Flags().StringVar(&addr, "http", "", "listen address (default: the role's URL in the config)")
	cmd.Flags().StringVar(&name, "name", "", "intermediary name (for 'serve intermediary')")
	cmd.Flags().StringVar(&cluster, "cluster", "", "replicated ledger: every replica as ID=URL, comma-separated (for 'serve ledger')")
	cmd.Flags().Uint64Var(&id, "id", 0, "replicated ledger: this replica's ID in --cluster")
	cmd.Flags().BoolVar(&join, "join", false, "replicated ledger: start empty as a member the group has already added ('specie ledger cluster add')")
	rf.add(cmd)
	httpLimitFlags(cmd, &lim)
	return cmd
}

func devnetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "devnet", Short: "Create network configurations"}
	var base int
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Write keys, credentials and a config for a network whose roles run as separate processes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := devnet.DefaultInit("")
			o.RoleURLs = map[string]string{}
			for i, role := range []string{"ledger", "issuer", "bank-a", "bank-b"} {
				o.RoleURLs[role] = fmt.Sprintf("http://127.0.0.1:%d", base+1+i)
			}
			c, err := devnet.Init(g.data, o)
			if err != nil {
				return err
			}
			return g.print(c, fmt.Sprintf("network %s written to %s: ledger %s, issuer %s, bank-a %s, bank-b %s",
				c.Network.ID, filepath.Join(g.data, devnet.ConfigFile), c.Ledger.URL, c.Issuer.URL, c.Intermediaries[0].URL, c.Intermediaries[1].URL))
		},
	}
	initCmd.Flags().IntVar(&base, "base-port", 18080, "ledger listens on base+1, issuer base+2, bank-a base+3, bank-b base+4")
	cmd.AddCommand(initCmd, certsCmd(g))
	return cmd
}
