package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/bench"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
)

func benchCmd(g *globals) *cobra.Command {
	var o bench.Options
	var target, dir string
	var inproc bool
	var shards int
	var cpuprofile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Generate real signed load against a ledger and print throughput, latency, CPU, memory and disk as JSON",
		Long: `Generate real load: fresh Ed25519-signed transfers (default 2 inputs, 2 outputs),
pre-funded and pre-signed before the clock starts, against an in-process ledger
(--inproc, the default) or a running network (--target URL, whose officer keys
and credentials are read from --data; its funding mints go straight to the
ledger, bypassing the issuer's reserve accounts, so use a throwaway network).
Prints one JSON object.

  specie bench --inproc --notes 1000000 --duration 15s --bound
  specie bench --inproc --rate 20000
  specie bench --target http://127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if isTerminal(os.Stderr) {
				o.Progress = os.Stderr
			}
			var t bench.Target
			n := ledgertest.New()
			net := n.Network
			if target == "" || inproc {
				if dir == "" {
					d, err := os.MkdirTemp("", "specie-bench-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(d)
					dir = d
				}
				cfg := n.Config()
				cfg.Shards = shards
				l, err := ledger.Open(dir, cfg)
				if err != nil {
					return err
				}
				defer l.Close()
				t = bench.InProc(l)
			} else {
				cfg, err := g.config()
				if err != nil {
					return fmt.Errorf("bench --target needs the network's officer keys: %w", err)
				}
				var officers []*crypto.PrivateKey
				for _, f := range cfg.OfficerKeyFiles {
					k, err := crypto.LoadKey(f)
					if err != nil {
						return err
					}
					officers = append(officers, k)
				}
				tok := g.token
				if tok == "" {
					tok = cfg.Issuer.Token
				}
				l := client.New(target, tok).Ledger()
				net = cfg.Network
				t = bench.Remote(target, l, officers, net)
			}
			if cpuprofile != "" {
				f, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				defer f.Close()
				o.Profile = f
			}
			r, err := bench.Run(ctx, net, t, o)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(g.out)
			if isTerminal(os.Stdout) {
				enc.SetIndent("", "  ")
			}
			return enc.Encode(r)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&inproc, "inproc", false, "run the ledger in this process (the default without --target)")
	f.StringVar(&target, "target", "", "base URL of a running network's ledger API")
	f.StringVar(&dir, "dir", "", "data directory for the in-process ledger (default: a temporary one, removed after)")
	f.IntVar(&shards, "shards", 16, "shards of the in-process ledger")
	f.DurationVar(&o.Duration, "duration", 15*time.Second, "how long to offer load")
	f.IntVar(&o.Rate, "rate", 0, "offered transactions per second (open loop); 0 = as fast as the ledger commits")
	f.Uint64Var(&o.Notes, "notes", 1_000_000, "unspent notes before the run")
	f.IntVar(&o.MaxTx, "max-tx", 600_000, "transactions to pre-sign; the run ends early if they are used up")
	f.IntVar(&o.Inputs, "inputs", 2, "inputs per transaction")
	f.IntVar(&o.Outputs, "outputs", 2, "outputs per transaction")
	f.IntVar(&o.Workers, "workers", 16, "concurrent submitters (closed loop)")
	f.IntVar(&o.ClientBatch, "client-batch", 256, "transactions per submission")
	f.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the timed run to this file (go tool pprof -top)")
	f.BoolVar(&o.Bound, "bound", false, "also measure the signature-verification bound on all cores")
	return cmd
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
