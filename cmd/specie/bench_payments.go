package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/bench"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/money"
)

// remoteCore is `specie bench --target`: load on a running ledger, funded
// by mints signed with the officer keys from --data.
func remoteCore(ctx context.Context, g *globals, target string, o bench.Options) (bench.Report, error) {
	cfg, err := g.config()
	if err != nil {
		return bench.Report{}, fmt.Errorf("bench --target needs the network's officer keys: %w", err)
	}
	var officers []*crypto.PrivateKey
	for _, f := range cfg.OfficerKeyFiles {
		k, err := crypto.LoadKey(f)
		if err != nil {
			return bench.Report{}, err
		}
		officers = append(officers, k)
	}
	tok := g.token
	if tok == "" {
		tok = cfg.Issuer.Token
	}
	l := client.New(target, tok).Ledger()
	return bench.Run(ctx, cfg.Network, bench.Remote(target, l, officers, cfg.Network), o)
}

func printJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.out)
	if isTerminal(os.Stdout) {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// payFlags are the flags of `specie bench --payments`.
type payFlags struct {
	o                       bench.PayOptions
	fund, amount            string
	direct, core, separate  bool
	screening               bool
	coreNotes               uint64
	coreMaxTx               int
	coreDuration            time.Duration
	mutexprofile, blockprof string
	memprofile              string
	duration                time.Duration // shared with the core bench
	rate                    int
	cpuprofile              string
	via                     string // --via
}

func (p *payFlags) register(f *pflag.FlagSet) {
	f.IntVar(&p.o.WalletsPer, "wallets", 50_000, "with --payments: wallets opened at EACH intermediary (the devnet has 2, so 100,000 in total by default)")
	f.StringVar(&p.fund, "fund", "", "with --payments: amount each wallet is funded with (default 1,000.00, or less where the reserves cannot cover that for every wallet)")
	f.StringVar(&p.amount, "amount", "1.00", "with --payments: amount of each payment")
	f.Float64Var(&p.o.Cross, "cross", 0.5, "with --payments: fraction of payments to a wallet at another intermediary")
	f.IntVar(&p.o.Clients, "clients", 64, "with --payments: concurrent callers, each paying again as soon as its last payment answered (closed loop; ignored with --rate)")
	f.Uint64Var(&p.o.Seed, "seed", 1, "with --payments: seed of the random choice of payer and payee")
	f.IntVar(&p.o.FundMints, "fund-mints", 64, "with --payments: mints per intermediary when funding (its treasury then holds that many notes to pay from concurrently)")
	f.IntVar(&p.o.FundClients, "fund-clients", 64, "with --payments: concurrent callers per intermediary opening and funding wallets")
	f.BoolVar(&p.o.NoIdemKeys, "no-idempotency-keys", false, "with --payments: send the measured payments without idempotency keys (by default each has its own, as docs/api.md asks of integrations)")
	f.BoolVar(&p.o.SDKClient, "sdk-client", false, "with --payments over HTTP: send the measured payments through the Go client package (net/http's Transport), as an integration's code would, instead of the generator's own lighter requests")
	f.BoolVar(&p.o.Verify, "verify", false, "with --payments: after the run, read every wallet through the API and check the sum is what was funded")
	f.BoolVar(&p.screening, "screening", true, "with --payments --inproc: the intermediaries screen payments for fraud and AML (false: off, to measure what screening costs)")
	f.BoolVar(&p.direct, "direct", false, "with --payments --inproc: call the intermediaries' Go interface in process instead of their HTTP API")
	f.BoolVar(&p.separate, "separate", false, "with --payments: reach each role at its own URL in --data's devnet.json, as 'specie devnet init' and 'specie serve' run them; CPU and RSS are summed over those processes")
	f.BoolVar(&p.core, "core", false, "with --payments: also measure the in-process core (as 'specie bench --inproc') and report ratio_to_core")
	f.Uint64Var(&p.coreNotes, "core-notes", 1_000_000, "with --core: unspent notes of the core run")
	f.IntVar(&p.coreMaxTx, "core-max-tx", 400_000, "with --core: transactions pre-signed for the core run")
	f.DurationVar(&p.coreDuration, "core-duration", 10*time.Second, "with --core: how long the core run offers load")
	f.StringVar(&p.mutexprofile, "mutexprofile", "", "with --payments: write a mutex contention profile of the timed run to this file")
	f.StringVar(&p.memprofile, "memprofile", "", "with --payments: write a heap profile (live objects after a collection) at the end of the timed run to this file")
	f.StringVar(&p.blockprof, "blockprofile", "", "with --payments: write a blocking profile of the timed run to this file")
	p.registerVia(f)
}

func (p *payFlags) run(ctx context.Context, g *globals, target, dir string, inproc bool, shards int) error {
	o := p.o
	o.Duration, o.Rate = p.duration, p.rate
	o.Progress = os.Stderr
	o.Terminal = isTerminal(os.Stderr)
	for _, pf := range []struct {
		name string
		set  func(*os.File)
	}{
		{p.cpuprofile, func(f *os.File) { o.Profile = f }},
		{p.mutexprofile, func(f *os.File) { o.MutexProf = f }},
		{p.blockprof, func(f *os.File) { o.BlockProf = f }},
		{p.memprofile, func(f *os.File) { o.HeapProf = f }},
	} {
		if pf.name == "" {
			continue
		}
		f, err := os.Create(pf.name)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		pf.set(f)
	}

	var t bench.PayTarget
	stop := func() error { return nil }
	if (target == "" && !p.separate) || inproc {
		if dir == "" {
			d, err := os.MkdirTemp("", "specie-paybench-")
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			defer os.RemoveAll(d)
			dir = d
		}
		var err error
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		var opts []func(*devnet.Node)
		if !p.screening {
			opts = append(opts, bench.NoScreening)
		}
		opts = append(opts, p.viaOptions()...)
		o.OTPFile = otpFiles(dir)
		if t, stop, err = bench.InProcPayments(dir, p.direct, log, opts...); err != nil {
			return err
		}
	} else {
		if p.direct {
			return fmt.Errorf("bench: --direct needs --inproc")
		}
		if !p.screening {
			return fmt.Errorf("bench: --screening=false needs --inproc (a served network screens as it is configured)")
		}
		cfg, err := g.config()
		if err != nil {
			return fmt.Errorf("bench --payments --target needs the network's credentials and officer keys: %w", err)
		}
		if p.separate {
			target = ""
		}
		o.OTPFile = otpFiles(g.data)
		if t, err = bench.RemotePayments(target, cfg); err != nil {
			return err
		}
	}
	o.Via = p.via
	var err error
	if o.Amount, err = parseAmount(t.Network.Currency, "--amount", p.amount); err != nil {
		stop()
		return err
	}
	if p.fund != "" {
		if o.Fund, err = parseAmount(t.Network.Currency, "--fund", p.fund); err != nil {
			stop()
			return err
		}
	}
	r, err := bench.RunPayments(ctx, t, o)
	if serr := stop(); err == nil && serr != nil {
		err = fmt.Errorf("bench: stop the in-process network: %w", serr)
	}
	if err != nil {
		return err
	}
	if p.core {
		fmt.Fprintf(os.Stderr, "measuring the core in process (%d notes, %s)...\n", p.coreNotes, p.coreDuration)
		c, err := bench.CoreInProc(ctx, "", shards, bench.Options{Duration: p.coreDuration, Notes: p.coreNotes, MaxTx: p.coreMaxTx})
		if err != nil {
			return fmt.Errorf("bench --core: %w", err)
		}
		r.CoreTxS = c.CommittedTxS
		if c.CommittedTxS > 0 {
			r.RatioToCore = r.PaymentsS / c.CommittedTxS
		}
	}
	return printJSON(g, r)
}

func parseAmount(c money.Currency, flag, s string) (uint64, error) {
	v, err := c.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	return v, nil
}
