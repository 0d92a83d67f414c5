package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/specie/specie/internal/bench"
)

func benchCmd(g *globals) *cobra.Command {
	var o bench.Options
	var target, dir string
	var inproc bool
	var shards int
	var cpuprofile string
	var payments bool
	var po payFlags
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
  specie bench --target http://127.0.0.1:8080

Against a sharded network ('specie up --groups 2'), --groups 2 --span single
makes every transaction's notes live in one group, --span cross sends its
first output to another group (two-phase commit); see docs/scale-out.md.

  specie bench --target http://127.0.0.1:8080 --groups 2 --span cross

With --payments it measures what a customer sees instead: payments between
wallets through the intermediaries' HTTP API (POST
/v1/intermediaries/{name}/payments). It opens --wallets wallets at EACH
intermediary (default 50,000 each: 100,000 in total on the two-bank devnet),
funds every wallet through the issuer (mints proposed and approved by a
quorum of the officer keys from --data, then one payment from the
intermediary's treasury to each wallet through the same API; nothing is
written into the ledger directly), then pays --amount between wallets chosen
at random from --seed, --cross of them to a wallet at another intermediary,
from --clients concurrent callers (closed loop) or at --rate payments a
second (open loop, latency timed from each scheduled send). Funding and the
run show a progress line on stderr.

  --payments --inproc   starts the whole devnet in this process (as 'specie
                        up' does, on a temporary --dir) with its HTTP API on
                        127.0.0.1:<free port>, and pays through that HTTP API;
                        CPU is this process's (network and load generator).
  --payments --inproc --direct
                        the same network, but the load calls the
                        intermediaries' Go interface in process: no HTTP, no JSON.
  --payments --target URL
                        a running network (e.g. 'specie up'); tokens and officer
                        keys from --data/devnet.json; CPU and memory from URL's
                        /metrics (the process serving URL).
  --payments --separate the roles as separate processes ('specie devnet init',
                        'specie serve ...'), each at its URL in --data/devnet.json;
                        CPU and memory summed over their /metrics.
  --core                afterwards measures the ledger core in this process as
                        'specie bench --inproc' does (--core-notes, --core-max-tx,
                        --core-duration) and reports core_tx_s and ratio_to_core.
  --via alias|request   reaches each payee by its alias (a phone number
                        registered for every wallet with its one-time code,
                        looked up at the payer's intermediary, then paid) or by
                        a request the payee's intermediary creates and the
                        payer's accepts, timed as one payment (default: wallet,
                        the payee's ID). Under --inproc the alias lookup limit
                        is raised for the run; a --target keeps its own (by
                        default 20 lookups, then 10 a minute, per caller).

  specie bench --payments --inproc --core
  specie bench --payments --inproc --wallets 5000 --clients 1024 --duration 20s
  specie bench --payments --target http://127.0.0.1:8080 --data ./specie-data --rate 1500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if isTerminal(os.Stderr) {
				o.Progress = os.Stderr
			}
			if o.Span != "" && (o.Groups < 2 || (o.Span != bench.SpanSingle && o.Span != bench.SpanCross)) {
				return fmt.Errorf("bench: --span %q: want single or cross, with --groups 2 or more", o.Span)
			}
			if payments {
				po.duration, po.rate, po.cpuprofile = o.Duration, o.Rate, cpuprofile
				return po.run(ctx, g, target, dir, inproc, shards)
			}
			if cpuprofile != "" {
				f, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				defer f.Close()
				o.Profile = f
			}
			var r bench.Report
			var err error
			if target == "" || inproc {
				r, err = bench.CoreInProc(ctx, dir, shards, o)
			} else {
				r, err = remoteCore(ctx, g, target, o)
			}
			if err != nil {
				return err
			}
			return printJSON(g, r)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&inproc, "inproc", false, "run the ledger in this process (the default without --target)")
	f.StringVar(&target, "target", "", "base URL of a running network's ledger API")
	f.StringVar(&dir, "dir", "", "data directory for the in-process ledger, or with --payments the in-process devnet (default: a temporary one, removed after)")
	f.IntVar(&shards, "shards", 16, "shards of the in-process ledger")
	f.DurationVar(&o.Duration, "duration", 15*time.Second, "how long to offer load")
	f.IntVar(&o.Rate, "rate", 0, "offered transactions (with --payments: payments) per second, open loop; 0 = closed loop, as fast as it commits")
	f.Uint64Var(&o.Notes, "notes", 1_000_000, "unspent notes before the run")
	f.IntVar(&o.MaxTx, "max-tx", 600_000, "transactions to pre-sign; the run ends early if they are used up")
	f.IntVar(&o.Inputs, "inputs", 2, "inputs per transaction")
	f.IntVar(&o.Outputs, "outputs", 2, "outputs per transaction")
	f.IntVar(&o.Workers, "workers", 16, "concurrent submitters (closed loop)")
	f.IntVar(&o.ClientBatch, "client-batch", 256, "transactions per submission")
	f.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the timed run to this file (go tool pprof -top)")
	f.BoolVar(&o.Bound, "bound", false, "also measure the signature-verification bound on all cores")
	f.BoolVar(&o.Archive, "archive", false, "keep every transaction in full in the in-process ledger, as `specie up` does for `specie audit`")
	f.IntVar(&o.Groups, "groups", 0, "with --target: the sharded network's group count ('specie up --groups G'), so --span can shape the load")
	f.StringVar(&o.Span, "span", "", "with --groups: single (every transaction's notes in one group) or cross (inputs and change in one group, the first output in another: two-phase commit)")
	f.BoolVar(&payments, "payments", false, "measure payments between customers' wallets through the intermediaries' API instead (see below)")
	po.register(f)
	return cmd
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
