// Package issuer is the central bank's issuance desk. It is the only party
// that creates money (a mint approved by m of n officer keys, debited from
// an intermediary's reserve account) and the only one that acknowledges its
// destruction (a redeem, credited back to the reserve account).
//
// It implements roles.Issuer. Its state (proposals, reserve balances,
// redemptions and an outbox of notes still to deliver) lives in its own
// store, and every step that moves money is written so that a crash at any
// point neither loses a debit or credit nor applies one twice.
//
// The central bank's other two duties live here too, in the same store
// under keys of their own: the policy (roles.PolicyDesk, policy.go),
// proposed and approved by the same officers as mints, and the
// holding-limit registry (roles.Registry, registry.go), which knows people
// only by pseudonyms.
package issuer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Config sets up the issuance desk. Network and keys must match the
// ledger's, or the ledger rejects every mint and redeem.
type Config struct {
	Network    money.Network
	MintKeys   []crypto.PublicKey // officer keys; approvals must come from these
	MintQuorum int                // m of n (devnet 2 of 3)
	RedeemKey  crypto.Signer      // the issuer's operational key, one of the ledger's RedeemKeys: in memory or on an HSM (internal/hsm)
	// Reserves is the opening reserve balance per intermediary name, written
	// at the first Open only; only these intermediaries exist.
	Reserves map[string]uint64

	// RetryEvery is how often undelivered mints are retried and interrupted
	// submissions reconciled with the ledger; 0 means 10 seconds.
	RetryEvery time.Duration
	// Logger receives the desk's logs; nil means slog.Default().
	Logger *slog.Logger
	// FS is the filesystem under the desk's store; nil means the operating
	// system's. Tests crash it or fail it on purpose.
	FS vfs.FS
	// Rand is where mint nonces come from; nil means crypto/rand. A
	// simulation passes a seeded generator, so its seed replays the run.
	Rand io.Reader
}

// Issuer is the issuance desk. It is safe for concurrent use.
type Issuer struct {
	cfg    Config
	log    *slog.Logger
	db     *store.DB
	ledger roles.Ledger
	dir    roles.Directory
	mkeys  map[crypto.PublicKey]bool

	// mu guards the store's money state and the caches below; it is never
	// held while calling the ledger or an intermediary.
	mu       sync.Mutex
	reserves map[string]uint64           // mirror of the reserve keys
	open     map[money.TxID]openProposal // pending and submitting proposals
	busy     map[money.TxID]bool         // mints and redeems at the ledger right now
	pol      policyState                 // the policy version in force
	keys     keyState                    // the officer key set in force (keys.go)
	closed   bool
	jlast    int64 // the latest reserve journal time (reserves.go), unix nanos

	// reg is the holding-limit registry, which shares the store but not
	// mu: it serialises its own work per person (see registry.go).
	reg *Registry
	// aliases is the alias directory, beside the registry (aliases.go).
	aliases *AliasDirectory

	randMu sync.Mutex // guards cfg.Rand, which need not be safe for concurrent use

	deliver sync.Mutex         // serialises deliveries so each runs once at a time
	bg      context.Context    // the retry loop's context, cancelled by Close
	cancel  context.CancelFunc // ends bg
	done    chan struct{}      // closed when the retry loop has ended
}

type openProposal struct {
	to     string
	amount uint64
}

// self is the principal the desk uses when it calls other roles.
var self = roles.Principal{Name: "issuer", Role: roles.RoleIssuer}

// Open opens (creating at first use) the desk's store in dir, reconciles any
// submission a crash interrupted with the ledger, and starts the background
// loop that retries deliveries. ledger is where mints and redeems are
// committed; intermediaries finds where to deliver minted notes.
func Open(dir string, cfg Config, ledger roles.Ledger, intermediaries roles.Directory) (*Issuer, error) {
	if err := validate(&cfg, ledger, intermediaries); err != nil {
		return nil, fmt.Errorf("open issuer: %w", err)
	}
	is := &Issuer{
		cfg:    cfg,
		log:    cfg.Logger,
		ledger: ledger,
		dir:    intermediaries,
		mkeys:  make(map[crypto.PublicKey]bool, len(cfg.MintKeys)),
		busy:   make(map[money.TxID]bool),
		done:   make(chan struct{}),
	}
	is.reg = &Registry{is: is, seed: maphash.MakeSeed()}
	is.aliases = &AliasDirectory{is: is}
	for _, k := range cfg.MintKeys {
		is.mkeys[k] = true
	}
	is.bg, is.cancel = context.WithCancel(roles.WithCaller(context.Background(), self))
	fail := func(err error) (*Issuer, error) {
		is.cancel()
		if is.db != nil {
			is.db.Close()
		}
		return nil, fmt.Errorf("open issuer: %w", err)
	}
	// Before anything is written: a desk pointed at the wrong network must
	// not create reserve accounts.
	ctx, cancel := context.WithTimeout(is.bg, lookupTimeout)
	err := is.checkLedger(ctx)
	cancel()
	if err != nil {
		return fail(err)
	}
	if is.db, err = store.Open(dir, store.Options{CacheBytes: 8 << 20, FS: cfg.FS}); err != nil {
		return fail(err)
	}
	if err := is.loadKeySets(); err != nil {
		return fail(err)
	}
	if err := is.load(); err != nil {
		return fail(err)
	}
	ctx, cancel = context.WithTimeout(is.bg, lookupTimeout)
	is.reconcileAll(ctx)
	if err := is.pushKeySets(ctx); err != nil {
		is.log.Warn("the ledger has not applied the officer key set in force yet; retrying in the background", "err", err)
	}
	cancel()
	go is.loop()
	return is, nil
}

func validate(cfg *Config, ledger roles.Ledger, dir roles.Directory) error {
	if err := cfg.Network.Validate(); err != nil {
		return err
	}
	if ledger == nil || dir == nil {
		return errors.New("a ledger and a directory are required")
	}
	if cfg.RedeemKey == nil {
		return errors.New("a redeem key is required")
	}
	if cfg.MintQuorum < 1 || cfg.MintQuorum > len(cfg.MintKeys) {
		return fmt.Errorf("mint quorum %d of %d keys", cfg.MintQuorum, len(cfg.MintKeys))
	}
	if cfg.MintQuorum > money.MaxAuth {
		return fmt.Errorf("mint quorum %d exceeds %d signatures per transaction", cfg.MintQuorum, money.MaxAuth)
	}
	seen := make(map[crypto.PublicKey]bool)
	for _, k := range cfg.MintKeys {
		if seen[k] {
			return fmt.Errorf("mint key %s listed twice", k)
		}
		seen[k] = true
	}
	for name := range cfg.Reserves {
		if name == "" {
			return errors.New("a reserve account needs a name")
		}
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.Logger = cfg.Logger.With("role", "issuer")
	return nil
}

// checkLedger compares the ledger's settings with the desk's, so a desk
// pointed at another network fails at start rather than at the first mint.
// An unreachable ledger is only logged: the desk can still answer reads,
// and a redeem key or officer set the ledger does not know is logged too.
func (is *Issuer) checkLedger(ctx context.Context) error {
	info, err := is.ledger.Info(ctx)
	if err != nil {
		is.log.Warn("cannot reach the ledger at start", "err", err)
		return nil
	}
	if info.Network.ID != is.cfg.Network.ID {
		return fmt.Errorf("ledger is on network %q, the issuer on %q", info.Network.ID, is.cfg.Network.ID)
	}
	if !slices.Contains(info.RedeemKeys, is.cfg.RedeemKey.Public()) {
		is.log.Error("the issuer's redeem key is not one of the ledger's redeem keys; redeems will be rejected", "key", is.cfg.RedeemKey.Public())
	}
	for _, k := range is.cfg.MintKeys {
		if !slices.Contains(info.MintKeys, k) {
			is.log.Error("an officer key is not one of the ledger's mint keys; mints it approves will be rejected", "key", k)
		}
	}
	return nil
}

// Close stops the retry loop and closes the store. Undelivered mints stay in
// the outbox for the next Open.
func (is *Issuer) Close() error {
	first := func() bool {
		is.mu.Lock()
		defer is.mu.Unlock()
		was := is.closed
		is.closed = true
		return !was
	}()
	if !first {
		return nil
	}
	is.cancel()
	<-is.done
	is.deliver.Lock() // wait for a delivery in flight
	defer is.deliver.Unlock()
	is.reg.gate.Lock() // wait for registry calls in flight; later ones see closed
	defer is.reg.gate.Unlock()
	is.mu.Lock()
	defer is.mu.Unlock()
	if err := is.db.Close(); err != nil {
		return fmt.Errorf("close issuer: %w", err)
	}
	return nil
}

func (is *Issuer) loop() {
	defer close(is.done)
	t := time.NewTicker(is.cfg.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-is.bg.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(is.bg, is.cfg.RetryEvery)
		is.reconcileAll(ctx)
		if err := is.RetryDeliveries(ctx); err != nil {
			is.log.Warn("deliveries still pending", "err", err)
		}
		if err := is.pushKeySets(ctx); err != nil {
			is.log.Warn("the ledger has not applied the officer key set in force yet", "err", err)
		}
		cancel()
	}
}

// requireIssuer admits only the issuer's own staff (the API edge sets the
// principal from their credential).
func requireIssuer(ctx context.Context) error { return requireIssuerTo(ctx, "manage mints") }

// requireIssuerTo is requireIssuer saying what the caller tried to do.
func requireIssuerTo(ctx context.Context, what string) error {
	p, ok := roles.Caller(ctx)
	if !ok {
		return errcode.New(errcode.Unauthorized, "only the issuer may %s", what)
	}
	if p.Role != roles.RoleIssuer {
		return errcode.Forbidden("only the issuer may %s, not %s", what, p.Name)
	}
	return nil
}

// requireIntermediaryTo admits an intermediary only and names it: a call
// with no credential is unauthorized (401), one by another role is
// forbidden (403: known, but not allowed to do what).
func requireIntermediaryTo(ctx context.Context, what string) (string, error) {
	p, ok := roles.Caller(ctx)
	if !ok {
		return "", errcode.New(errcode.Unauthorized, "only an intermediary may %s", what)
	}
	if p.Role != roles.RoleIntermediary {
		return "", errcode.Forbidden("only an intermediary may %s, not %s", what, p.Name)
	}
	return p.Name, nil
}

// Supply reports the ledger's supply with the currency and every reserve
// account, sorted by intermediary name. Anyone may read it.
func (is *Issuer) Supply(ctx context.Context) (roles.Supply, error) {
	ls, err := is.ledger.Supply(ctx)
	if err != nil {
		return roles.Supply{}, fmt.Errorf("supply: %w", err)
	}
	s := roles.Supply{LedgerSupply: ls, Currency: is.cfg.Network.Currency}
	func() {
		is.mu.Lock()
		defer is.mu.Unlock()
		for name, bal := range is.reserves {
			s.Reserves = append(s.Reserves, roles.Reserve{Intermediary: name, Balance: bal})
		}
	}()
	sort.Slice(s.Reserves, func(i, j int) bool { return s.Reserves[i].Intermediary < s.Reserves[j].Intermediary })
	return s, nil
}

// Reserve reports one intermediary's reserve balance.
func (is *Issuer) Reserve(name string) (uint64, bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	b, ok := is.reserves[name]
	return b, ok
}

var _ roles.Issuer = (*Issuer)(nil)
