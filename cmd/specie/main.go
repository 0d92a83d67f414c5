// Command specie is the one binary of the Specie digital fiat currency
// platform: it runs the network (`specie up`, `specie serve ...`) and is the
// command-line client for every role (issuer, wallets, log verification).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		// Twice as many Ps as cores: the ledger runs one signature
		// verifier per core, and the spare Ps let the commit loop, the
		// submitters and the store's background work run as soon as they
		// wake instead of queueing behind a verification for up to a
		// scheduler time slice (docs/performance.md).
		runtime.GOMAXPROCS(2 * runtime.NumCPU())
	}
	if os.Getenv("GOGC") == "" {
		// A payment leaves about 15 KB of short-lived garbage across the
		// roles it passes through while the live heap stays small, so at
		// Go's default (100) the collector runs often: at 400 it took a
		// tenth less CPU per payment for a fixed 100 to 250 MiB more RSS;
		// the note index lives outside the heap, so memory per note is
		// unchanged (docs/performance.md, "GOGC"). GOGC, and GOMEMLIMIT
		// to cap the heap, override it.
		debug.SetGCPercent(gcPercent)
	}
	root := newRoot(os.Stdout)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "specie:", oneLine(err))
		os.Exit(1)
	}
}

// gcPercent is the collector's target unless GOGC is set.
const gcPercent = 400

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// globals are the flags every client subcommand shares.
type globals struct {
	api     string
	token   string
	as      string
	data    string
	json    bool
	out     io.Writer
	cfg     *devnet.Config
	cfgErr  error
	cfgRead bool
	net     *money.Network
}

func newRoot(out io.Writer) *cobra.Command {
	g := &globals{out: out}
	root := &cobra.Command{
		Use:           "specie",
		Short:         "Specie: a digital fiat currency network and its command-line client",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out) // help and usage go where the output goes
	pf := root.PersistentFlags()
	pf.StringVar(&g.api, "api", envOr("SPECIE_API", "http://127.0.0.1:8080"), "base URL of the Specie HTTP API (env SPECIE_API)")
	pf.StringVar(&g.token, "token", os.Getenv("SPECIE_TOKEN"), "API credential (env SPECIE_TOKEN); by default taken from the devnet config for the role acting")
	pf.StringVar(&g.as, "as", "", "act as this principal (issuer, bank-a, ...) using its credential from the devnet config")
	pf.StringVar(&g.data, "data", "./specie-data", "data directory (holds devnet.json and keys)")
	pf.BoolVar(&g.json, "json", false, "print JSON instead of text")
	root.AddCommand(upCmd(g), serveCmd(g), devnetCmd(g), issuerCmd(g), walletCmd(g), txCmd(g), logCmd(g), supplyCmd(g), benchCmd(g), auditCmd(g))
	root.AddCommand(alertsCmd(g))
	root.AddCommand(reserveCmd(g))
	root.AddCommand(qrCmd(g))
	root.AddCommand(requestCmd(g))
	root.AddCommand(aliasCmd(g))
	root.AddCommand(ledgerCmd(g))
	root.AddCommand(refundCmd(g), disputeCmd(g))
	root.AddCommand(versionCmd(g), escrowCmd(g))
	root.AddCommand(iso20022Cmd(g))
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// config reads the devnet config from the data directory, once.
func (g *globals) config() (*devnet.Config, error) {
	if !g.cfgRead {
		g.cfgRead = true
		g.cfg, g.cfgErr = devnet.Load(filepath.Join(g.data, devnet.ConfigFile))
	}
	return g.cfg, g.cfgErr
}

// client returns an API client acting as principal `who` unless a token or
// --as was given explicitly.
func (g *globals) client(who string) (*client.Client, error) {
	tok := g.token
	if g.as != "" {
		who = g.as
	}
	if tok == "" && who != "" {
		cfg, err := g.config()
		if err != nil {
			return nil, fmt.Errorf("no --token given and no devnet config to take %s's credential from: %w", who, err)
		}
		t, ok := cfg.Token(who)
		if !ok {
			return nil, errcode.New(errcode.NotFound, "no credential for %q in %s (it has %s)", who, filepath.Join(g.data, devnet.ConfigFile), strings.Join(principals(cfg), ", "))
		}
		tok = t
	}
	return g.newClient(tok, who)
}

// newClient is a client of --api with token, presenting principal who's
// certificate (the operator's for anonymous reads) when the API is HTTPS
// and the devnet config has the network's mutual TLS (`specie devnet
// certs`): under `specie serve` with TLS every connection needs one.
func (g *globals) newClient(tok, who string) (*client.Client, error) {
	if !strings.HasPrefix(g.api, "https://") {
		return client.New(g.api, tok), nil
	}
	cfg, err := g.config()
	if err != nil || cfg.TLS == nil {
		return client.New(g.api, tok), nil // a server with a public certificate
	}
	if who == "" {
		who = devnet.OperatorCert
	}
	opts, err := cfg.ClientOptions(who)
	if err != nil {
		return nil, err
	}
	return client.New(g.api, tok, opts...), nil
}

// anon is a client for public reads.
func (g *globals) anon() (*client.Client, error) { return g.newClient("", "") }

// network finds the network (ID and currency): from the API, else the
// devnet config. When neither answers, the API's error (usually
// unavailable) is what the user sees.
func (g *globals) network(ctx context.Context) (money.Network, error) {
	if g.net != nil {
		return *g.net, nil
	}
	c, err := g.anon()
	if err != nil {
		return money.Network{}, err
	}
	info, apiErr := c.Ledger().Info(ctx)
	if apiErr == nil {
		g.net = &info.Network
		return info.Network, nil
	}
	cfg, err := g.config()
	if err != nil {
		return money.Network{}, fmt.Errorf("%w (and no devnet config in %s to learn the network from)", apiErr, g.data)
	}
	g.net = &cfg.Network
	return cfg.Network, nil
}

// principals names everyone the config holds a credential for.
func principals(cfg *devnet.Config) []string {
	names := []string{"issuer"}
	for _, e := range cfg.Intermediaries {
		names = append(names, e.Name)
	}
	return names
}

// currency is the network currency for the *_decimal fields of --json
// output, or nil when the network cannot be learnt.
func (g *globals) currency(ctx context.Context) *money.Currency {
	net, err := g.network(ctx)
	if err != nil {
		return nil
	}
	return &net.Currency
}

// amount reads an --amount flag: a decimal in the network currency
// ("12.50") or minor units ("1250"); zero, signs, letters and excess
// decimal places are malformed.
func (g *globals) amount(ctx context.Context, s string) (uint64, money.Currency, error) {
	net, err := g.network(ctx)
	if err != nil {
		return 0, money.Currency{}, err
	}
	v, err := net.Currency.Parse(s)
	if err != nil {
		return 0, net.Currency, errcode.New(errcode.Malformed, "--amount: %v", err)
	}
	if v == 0 {
		return 0, net.Currency, errcode.New(errcode.Malformed, "--amount %q: must be positive", s)
	}
	return v, net.Currency, nil
}

// hashArg reads a txid or mint ID argument.
func hashArg(what, s string) (money.Hash, error) {
	h, err := money.ParseHash(s)
	if err != nil {
		return h, errcode.New(errcode.Malformed, "%s: %v", what, err)
	}
	return h, nil
}

// print writes v as JSON with --json, else the text.
func (g *globals) print(v any, text string) error {
	if g.json {
		enc := json.NewEncoder(g.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := fmt.Fprintln(g.out, strings.TrimRight(text, "\n"))
	return err
}

func walletOwner(id string) (string, error) {
	name := roles.IntermediaryOf(id)
	if name == "" {
		return "", errcode.New(errcode.Malformed, "wallet id %q: want <intermediary>.<id>", id)
	}
	return name, nil
}
