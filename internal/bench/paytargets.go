package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/roles"
)

// RemotePayments is a running network reached over HTTP with the
// credentials and officer keys of its devnet config: each intermediary
// with its own token, the issuer with the issuer's. With url set every
// role is reached there (`specie up`); with url "" each role at its own URL
// in cfg (the roles as separate `specie serve` processes). CPU and memory
// are the servers', read from their /metrics and summed over the distinct
// URLs.
func RemotePayments(url string, cfg *devnet.Config) (PayTarget, error) {
	t, err := payTarget(url, cfg)
	if err != nil {
		return t, err
	}
	var urls []string
	for _, u := range append([]string{at(url, cfg.Ledger.URL), at(url, cfg.Issuer.URL)}, intermediaryURLs(url, cfg)...) {
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	sum := func(metric string) (float64, error) {
		var total float64
		for _, u := range urls {
			v, err := scrape(u, metric)
			if err != nil {
				return 0, err
			}
			total += v
		}
		return total, nil
	}
	t.Mode = "http"
	if url == "" {
		t.Mode = "http-separate"
	}
	t.CPUNote = "CPU of the server process(es) at " + strings.Join(urls, ", ") + ", from their /metrics"
	t.CPUSeconds = func() (float64, error) { return sum("process_cpu_seconds_total") }
	t.RSS = func() uint64 {
		v, _ := sum("process_resident_memory_bytes")
		return uint64(v)
	}
	return t, nil
}

// at is url, or where there is none, the role's own URL u.
func at(url, u string) string {
	if url != "" {
		return url
	}
	return u
}

func intermediaryURLs(url string, cfg *devnet.Config) []string {
	var out []string
	for _, e := range cfg.Intermediaries {
		out = append(out, at(url, e.URL))
	}
	return out
}

// payTarget builds the HTTP clients for every role of cfg, all at url or
// (url "") each at its own URL. The clients of roles at one URL share one
// connection pool: with a pool per role, each caller could keep an idle
// connection in every pool, twice or more as many connections as callers,
// beyond the server's cap (--clients 1024 against the default 1,024).
func payTarget(url string, cfg *devnet.Config) (PayTarget, error) {
	pools := make(map[string]*http.Client)
	newClient := func(u, token string) *client.Client {
		hc, ok := pools[u]
		if !ok {
			hc = &http.Client{Timeout: client.DefaultTimeout, Transport: client.NewTransport()}
			pools[u] = hc
		}
		return client.New(u, token, client.WithHTTPClient(hc))
	}
	t := PayTarget{Network: cfg.Network, Issuer: newClient(at(url, cfg.Issuer.URL), cfg.Issuer.Token).Issuer()}
	for _, f := range cfg.OfficerKeyFiles {
		k, err := crypto.LoadKey(f)
		if err != nil {
			return t, fmt.Errorf("bench payments: officer key: %w", err)
		}
		t.Officers = append(t.Officers, k)
	}
	var tokens, names []string
	for i, e := range cfg.Intermediaries {
		t.Banks = append(t.Banks, newClient(intermediaryURLs(url, cfg)[i], e.Token).Intermediary(e.Name))
		tokens, names = append(tokens, e.Token), append(names, e.Name)
	}
	t.raw = func(conns int) (*rawPayer, bool, error) {
		return newRawPayer(intermediaryURLs(url, cfg), tokens, names, conns)
	}
	lu := at(url, cfg.Ledger.URL)
	t.Counters = func() (float64, float64, error) {
		c, err := scrape(lu, "specie_ledger_committed_total")
		if err != nil {
			return 0, 0, err
		}
		b, err := scrape(lu, "specie_ledger_batches_total")
		return c, b, err
	}
	return t, nil
}

// InProcPayments starts a whole devnet in this process (devnet.Up, as
// `specie up` does) under dir with its HTTP API on a loopback port, and
// pays through that API, so every payment crosses a real HTTP request and
// handler. With direct, the load calls the intermediaries' Go interface
// (roles.Intermediary) in process instead, skipping HTTP and JSON. CPU and
// memory are this process's: the network and the load generator together.
// The returned function stops the network.
//
// Each opt is applied to the network once it is up (NoScreening).
func InProcPayments(dir string, direct bool, log *slog.Logger, opts ...func(*devnet.Node)) (PayTarget, func() error, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n, _, err := devnet.Up(dir, "127.0.0.1:0", log)
	if err != nil {
		return PayTarget{}, nil, fmt.Errorf("bench payments: start devnet: %w", err)
	}
	for _, o := range opts {
		o(n)
	}
	t, err := payTarget(n.URL, n.Config)
	if err != nil {
		n.Close()
		return t, nil, err
	}
	t.Mode = "inproc-http"
	t.CPUNote = "CPU of this process: every role, its HTTP server and the load generator with its HTTP client"
	if direct {
		t.Mode = "inproc-direct"
		t.CPUNote = "CPU of this process: every role and the load generator, calling the intermediaries in process (no HTTP)"
		t.Banks, t.raw = t.Banks[:0], nil
		for _, e := range n.Config.Intermediaries {
			t.Banks = append(t.Banks, n.Banks[e.Name])
		}
		t.Issuer = n.Issuer
		t.As = func(ctx context.Context, name string) context.Context {
			role := roles.RoleIntermediary
			if name == "issuer" {
				role = roles.RoleIssuer
			}
			return roles.WithCaller(ctx, roles.Principal{Name: name, Role: role})
		}
	}
	return t, n.Close, nil
}

// CoreInProc is `specie bench --inproc`: a fresh ledger under dir (a
// temporary directory if empty) with the given shards, loaded by Run.
func CoreInProc(ctx context.Context, dir string, shards int, o Options) (Report, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "specie-bench-")
		if err != nil {
			return Report{}, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	n := ledgertest.New()
	cfg := n.Config()
	cfg.Shards = shards
	cfg.Archive = o.Archive
	l, err := ledger.Open(dir, cfg)
	if err != nil {
		return Report{}, fmt.Errorf("bench: open ledger: %w", err)
	}
	defer l.Close()
	return Run(ctx, n.Network, InProc(l), o)
}
