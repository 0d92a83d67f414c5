package devnet

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/logtree"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Node is a running process of the network: every role (`specie up`) or one.
type Node struct {
	Config *Config
	Ledger *ledger.Ledger
	Issuer *issuer.Issuer
	Banks  map[string]*intermediary.Intermediary
	// URL is where this node's HTTP API listens.
	URL string
	// Replicas are the replicas of a replicated ledger this node runs
	// (replicated.go): one for `specie serve ledger --cluster`, all of
	// them for `specie up --replicas N`. Group is set for the latter: the
	// roles.Ledger the issuer, the banks and the API use.
	Replicas []*Replica
	Group    roles.Ledger
	// Sharded is set for `specie up --groups G` (sharded.go): the groups,
	// the coordinator and the router (which is also Group).
	Sharded *Sharded
	// Gateway is the ISO 20022 gateway of `specie up` (iso20022.go).
	Gateway *iso20022.Gateway

	srv    *api.HTTPServer
	tls    *tls.Config  // the API's mutual TLS under `specie serve`, or nil
	log    *logtree.Log // the ledger's checkpoints, when it runs here
	closed chan struct{}
	serr   error
}

// newNode is the start every Up variant shares: check (the data
// directory's shape for that variant) accepts dir, then the network's
// configuration is loaded, or created on first start.
func newNode(dir, addr string, check func() error) (*Node, bool, error) {
	if err := check(); err != nil {
		return nil, false, err
	}
	cfg, created, err := LoadOrInit(dir, DefaultInit("http://"+addr))
	if err != nil {
		return nil, false, err
	}
	return &Node{Config: cfg, Banks: map[string]*intermediary.Intermediary{}}, created, nil
}

// Up starts every role in one process with embedded storage under dir,
// creating the network on first start and resuming it after. lim, if
// given, bounds the HTTP server (zero fields take api's defaults).
func Up(dir, addr string, log *slog.Logger, lim ...api.Limits) (*Node, bool, error) {
	n, created, err := newNode(dir, addr, func() error { return checkReplicaDirs(dir, 1) })
	if err != nil {
		return nil, false, err
	}
	cfg := n.Config
	fail := func(err error) (*Node, bool, error) {
		n.closeServices()
		return nil, false, err
	}
	n.Ledger, err = ledger.Open(filepath.Join(dir, "ledger"), cfg.ledgerConfig(log))
	if err != nil {
		return fail(err)
	}
	banks, err := n.openRoles(dir, n.Ledger, log)
	if err != nil {
		return fail(err)
	}
	if n.log, err = logCheckpoints(filepath.Join(dir, "ledger"), n.Ledger, cfg.Network); err != nil {
		return fail(err)
	}
	if err := n.openGateway(dir, banks, log); err != nil {
		return fail(err)
	}
	ac := api.Config{
		Ledger: n.Ledger, Checkpoints: n.log, Issuer: n.Issuer, Policies: n.Issuer, Registry: n.Issuer.Registry(), Keys: n.Issuer,
		Intermediaries: banks, Credentials: cfg.credentials(), Logger: log,
	}
	ac.ISO20022 = n.Gateway
	ac.AliasDirectory = n.Issuer.Aliases()
	if err := n.serve(addr, ac, firstLimits(lim)); err != nil {
		return fail(err)
	}
	return n, created, nil
}

// openRoles opens the issuer and the intermediaries of `specie up` under
// dir, all reaching the ledger through led and each other in process, and
// returns the intermediaries for the API.
func (n *Node) openRoles(dir string, led roles.Ledger, log *slog.Logger) (map[string]roles.Intermediary, error) {
	cfg := n.Config
	var mu sync.RWMutex
	peers := func(name string) (roles.Intermediary, bool) {
		mu.RLock()
		defer mu.RUnlock()
		b, ok := n.Banks[name]
		if !ok {
			return nil, false
		}
		return b, true
	}
	icfg, err := cfg.issuerConfig(log)
	if err != nil {
		return nil, err
	}
	n.Issuer, err = issuer.Open(filepath.Join(dir, "issuer"), icfg, led, roles.Directory(peers))
	if err != nil {
		return nil, err
	}
	if err := ensurePolicy(context.Background(), cfg, n.Issuer); err != nil {
		return nil, err
	}
	for _, e := range cfg.Intermediaries {
		icfg, err := cfg.intermediaryConfig(e.Name, log, n.Issuer, n.Issuer.Registry())
		if err != nil {
			return nil, err
		}
		icfg.SanctionsFile = sanctionsFile(filepath.Join(dir, e.Name))
		withAliases(&icfg, n.Issuer.Aliases(), filepath.Join(dir, e.Name))
		b, err := intermediary.Open(filepath.Join(dir, e.Name), icfg, led, n.Issuer, roles.Directory(peers))
		if err != nil {
			return nil, err
		}
		mu.Lock()
		n.Banks[e.Name] = b
		mu.Unlock()
	}
	banks := map[string]roles.Intermediary{}
	for name, b := range n.Banks {
		banks[name] = b
	}
	return banks, nil
}

// Serve starts one role as its own process: "ledger", "issuer", or
// "intermediary" with its name. It keeps its state under dataDir and talks
// to the other roles only over HTTP, with its own credential. lim, if
// given, bounds the HTTP server as in Up.
func Serve(cfg *Config, role, name, dataDir, addr string, log *slog.Logger, lim ...api.Limits) (*Node, error) {
	n := &Node{Config: cfg, Banks: map[string]*intermediary.Intermediary{}}
	var err error
	ac := api.Config{Credentials: cfg.credentials(), Logger: log}
	self := role
	if role == "intermediary" {
		self = name
	}
	// Under the network's mutual TLS every call to another role presents
	// this role's certificate, and the API requires one (internal/pki).
	opts, err := cfg.ClientOptions(self)
	if err != nil {
		return nil, fmt.Errorf("serve %s: %w", self, err)
	}
	if cfg.TLS != nil {
		f, err := cfg.TLS.Files(self)
		if err != nil {
			return nil, fmt.Errorf("serve %s: %w", self, err)
		}
		if n.tls, err = f.Server(); err != nil {
			return nil, fmt.Errorf("serve %s: %w", self, err)
		}
	}
	switch role {
	case "ledger":
		n.Ledger, err = ledger.Open(dataDir, cfg.ledgerConfig(log))
		if err != nil {
			return nil, err
		}
		ac.Ledger = n.Ledger
		if n.log, err = logCheckpoints(dataDir, n.Ledger, cfg.Network); err != nil {
			n.closeServices()
			return nil, err
		}
		ac.Checkpoints = n.log
	case "issuer":
		icfg, err := cfg.issuerConfig(log)
		if err != nil {
			return nil, err
		}
		led := client.New(cfg.Ledger.URL, cfg.Issuer.Token, opts...).Ledger()
		n.Issuer, err = issuer.Open(dataDir, icfg, led, cfg.remotePeers(cfg.Issuer.Token, opts...))
		if err != nil {
			return nil, err
		}
		if err := ensurePolicy(context.Background(), cfg, n.Issuer); err != nil {
			n.closeServices()
			return nil, err
		}
		ac.Issuer = n.Issuer
		ac.Policies = n.Issuer
		ac.Keys = n.Issuer
		ac.Registry = n.Issuer.Registry()
		ac.AliasDirectory = n.Issuer.Aliases()
	case "intermediary":
		self, ok := cfg.Intermediary(name)
		if !ok {
			return nil, fmt.Errorf("serve intermediary: %q is not in the config", name)
		}
		led := client.New(cfg.Ledger.URL, self.Token, opts...).Ledger()
		ic := client.New(cfg.Issuer.URL, self.Token, opts...)
		icfg, err := cfg.intermediaryConfig(name, log, ic.Policies(), ic.Registry())
		if err != nil {
			return nil, err
		}
		icfg.SanctionsFile = sanctionsFile(dataDir)
		withAliases(&icfg, ic.AliasDirectory(), dataDir)
		b, err := intermediary.Open(dataDir, icfg, led, ic.Issuer(), cfg.remotePeers(self.Token, opts...))
		if err != nil {
			return nil, err
		}
		n.Banks[name] = b
		ac.Intermediaries = map[string]roles.Intermediary{name: b}
		ac.Currency = cfg.Network.Currency
	default:
		return nil, fmt.Errorf("serve: unknown role %q (want ledger, issuer or intermediary)", role)
	}
	if role != "ledger" {
		// The role's ISO 20022 gateway, its store beside the role's own.
		if err := n.openGatewayAt(filepath.Clean(dataDir)+".iso20022", ac.Intermediaries, log); err != nil {
			n.closeServices()
			return nil, err
		}
		ac.ISO20022 = n.Gateway
	}
	if err := n.serve(addr, ac, firstLimits(lim)); err != nil {
		n.closeServices()
		return nil, err
	}
	return n, nil
}

// remotePeers reaches the config's intermediaries over HTTP with token.
// Each peer gets one client, built once: a client per lookup would be a
// connection pool per delivery, and under load a process then held
// thousands of idle connections and their goroutines.
func (c *Config) remotePeers(token string, opts ...client.Option) roles.Directory {
	peers := make(map[string]roles.Intermediary)
	for _, e := range c.Intermediaries {
		peers[e.Name] = client.New(e.URL, token, opts...).Intermediary(e.Name)
	}
	return func(name string) (roles.Intermediary, bool) {
		p, ok := peers[name]
		return p, ok
	}
}

// logKeyFile is the ledger operator's log key, in the ledger's own data
// directory: it signs the log's checkpoints (internal/logtree), nothing
// else, and is created on the first start.
const logKeyFile = "log.key"

// logTreeFile holds the log-wide tree's hashes beside the ledger, rebuilt
// from the headers on each start (internal/logtree).
const logTreeFile = "logtree.hashes"

// logCheckpoints serves signed checkpoints of l's log with the log key
// under dir, creating the key on the first start.
func logCheckpoints(dir string, l *ledger.Ledger, net money.Network) (*logtree.Log, error) {
	s, err := logSigner(filepath.Join(dir, logKeyFile), logtree.Origin(net))
	if err != nil {
		return nil, err
	}
	tree, err := logtree.NewFileTree(filepath.Join(dir, logTreeFile))
	if err != nil {
		return nil, err
	}
	return logtree.NewLogOn(l, net, s, tree), nil
}

// logSigner signs checkpoints of origin with the log key at path,
// creating the key on the first start.
func logSigner(path, origin string) (*logtree.Signer, error) {
	k, err := crypto.LoadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	return logtree.NewSigner(origin, k)
}

// AddrOf returns the host:port of a role's URL.
func AddrOf(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "", fmt.Errorf("bad URL %q", u)
	}
	return p.Host, nil
}

func (c *Config) ledgerConfig(log *slog.Logger) ledger.Config {
	// Archive: the network keeps every transaction in full, so that
	// `specie audit` can re-verify it from genesis (GET /v1/log/batches).
	return ledger.Config{Network: c.Network, MintKeys: c.MintKeys, MintQuorum: c.MintQuorum, RedeemKeys: c.RedeemKeys, Shards: c.Shards, Logger: log, Archive: true}
}

func (c *Config) issuerConfig(log *slog.Logger) (issuer.Config, error) {
	rk, err := c.RedeemSigner()
	if err != nil {
		return issuer.Config{}, err
	}
	return issuer.Config{Network: c.Network, MintKeys: c.MintKeys, MintQuorum: c.MintQuorum, RedeemKey: rk, Reserves: c.Reserves, Logger: log}, nil
}

// intermediaryConfig is intermediary name's configuration: the policy
// from pol (verified by the intermediary before it applies it), the
// holding-limit registry reg keyed with the intermediaries' shared salt,
// and the limits' time zone.
func (c *Config) intermediaryConfig(name string, log *slog.Logger, pol roles.Policies, reg roles.Registry) (intermediary.Config, error) {
	ic := intermediary.Config{Name: name, Network: c.Network, Logger: log, Policies: pol}
	if err := c.treasuryKey(name, &ic); err != nil {
		return ic, err
	}
	if c.TimeZone != "" {
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return ic, fmt.Errorf("intermediary %s: time zone: %w", name, err)
		}
		ic.Location = loc
	}
	if c.PseudonymSaltFile == "" {
		log.Warn("no pseudonym salt in the devnet config: intermediaries run without the holding-limit registry", "intermediary", name)
		return ic, nil
	}
	b, err := os.ReadFile(c.PseudonymSaltFile)
	if err != nil {
		return ic, fmt.Errorf("intermediary %s: pseudonym salt: %w", name, err)
	}
	salt, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return ic, fmt.Errorf("intermediary %s: pseudonym salt %s: %w", name, c.PseudonymSaltFile, err)
	}
	ic.PseudonymSalt, ic.Registry = salt, reg
	return ic, nil
}

func (c *Config) credentials() []api.Credential {
	var out []api.Credential
	for tok, p := range c.Principals() {
		out = append(out, api.Credential{Token: tok, Principal: p})
	}
	return out
}

func firstLimits(lim []api.Limits) api.Limits {
	if len(lim) == 0 {
		return api.Limits{}
	}
	return lim[0]
}

func (n *Node) serve(addr string, ac api.Config, lim api.Limits) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	n.URL = "http://" + ln.Addr().String()
	if n.tls != nil {
		n.URL = "https://" + ln.Addr().String()
	}
	srv := api.New(ac)
	if n.Ledger != nil {
		srv.Registry().MustRegister(newLedgerCollector(n.Ledger))
	}
	n.srv = api.NewHTTPServer(srv.Handler(), lim, ac.Logger)
	n.closed = make(chan struct{})
	go func() {
		defer close(n.closed)
		serve := n.srv.Serve
		if n.tls != nil {
			serve = func(ln net.Listener) error { return n.srv.ServeTLS(ln, n.tls) }
		}
		if err := serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.serr = err
		}
	}()
	return nil
}

// Done is closed when the HTTP server stops.
func (n *Node) Done() <-chan struct{} { return n.closed }

// Close stops the HTTP server, then every role, last the ledger.
func (n *Node) Close() error {
	var errs []error
	if n.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, n.srv.Shutdown(ctx))
		cancel()
		<-n.closed
	}
	errs = append(errs, n.closeServices())
	return errors.Join(errs...)
}

// Supply is the ledger's totals, from whichever ledger this node runs.
func (n *Node) Supply(ctx context.Context) (roles.LedgerSupply, error) {
	switch {
	case n.Group != nil:
		return n.Group.Supply(ctx)
	case n.Ledger != nil:
		return n.Ledger.Supply(ctx)
	}
	return roles.LedgerSupply{}, errcode.New(errcode.Unavailable, "this node runs no ledger")
}

func (n *Node) closeServices() error {
	var errs []error
	if n.Gateway != nil {
		errs = append(errs, n.Gateway.Close())
	}
	for _, b := range n.Banks {
		errs = append(errs, b.Close())
	}
	if n.Issuer != nil {
		errs = append(errs, n.Issuer.Close())
	}
	if n.Sharded != nil {
		n.Sharded.close()
	}
	if len(n.Replicas) > 0 {
		// A replica's raft node stops before its ledger closes.
		for _, r := range n.Replicas {
			errs = append(errs, r.close())
		}
		return errors.Join(errs...)
	}
	if n.Ledger != nil {
		errs = append(errs, n.Ledger.Close())
	}
	if n.log != nil {
		errs = append(errs, n.log.Close())
	}
	if n.Config != nil {
		errs = append(errs, n.Config.CloseHSM())
	}
	return errors.Join(errs...)
}
