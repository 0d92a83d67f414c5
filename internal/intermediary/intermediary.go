// Package intermediary is a bank or payment provider running custodial
// wallets: it holds one Ed25519 key per wallet, keeps the wallet's notes,
// pays other wallets here or at other intermediaries through the ledger, and
// hands committed payments over to the intermediary that holds the
// recipient's wallet.
//
// Balances are never stored: a wallet's balance is the sum of the notes it
// holds. Every spend reserves its input notes durably before the transaction
// leaves the intermediary, so a crash or an unreachable ledger never loses or
// double-selects a note; the outcome is settled later by asking the ledger.
package intermediary

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Config names an intermediary and the network it works on.
type Config struct {
	// Name identifies the intermediary ("bank-a"); wallet IDs are
	// "<name>.<random>" and the treasury is "<name>.treasury".
	Name    string
	Network money.Network
	// TreasuryKey, when set, is the treasury's signing key held outside
	// the store (on an HSM, internal/hsm): the treasury is created locked
	// to it, no seed of it is stored, and its spends are signed through
	// it. Nil: the treasury's key is generated and kept in the store like
	// every wallet's. A treasury cannot move between the two.
	TreasuryKey crypto.Signer
	// RetryInterval is how often undelivered payments are retried and
	// spends of unknown outcome are settled; 0 means 5 seconds, negative
	// disables the background loop (call RetryDeliveries and
	// ResolvePending yourself).
	RetryInterval time.Duration
	// SettleAfter is how long after a spend was submitted the ledger's
	// "never heard of it" is taken as final and its notes are released,
	// so a request still travelling to the ledger cannot commit after its
	// notes were spent again. 0 means 30 seconds; negative means at once.
	// Committed spends are always settled at once.
	SettleAfter time.Duration
	// Logger receives the intermediary's logs; nil means slog.Default().
	Logger *slog.Logger
	// FS is the filesystem under the intermediary's store; nil means the
	// operating system's. Tests crash it or fail it on purpose.
	FS vfs.FS
	// Rand is where wallet keys and IDs come from; nil means crypto/rand.
	// A simulation passes a seeded generator, so its seed replays the run.
	Rand io.Reader
	// Now is the intermediary's clock (history times, the age of pending
	// spends and of idempotency keys); nil means time.Now. Tests pass a
	// fake clock.
	Now func() time.Time
	// IdempotencyRetention is how long an idempotency key is remembered,
	// counted from the payment's first attempt; a retry after that is a new
	// payment, and the background loop deletes the key's record. 0 means
	// 7 days. A key whose payment's outcome is still unknown is kept until
	// it is settled.
	IdempotencyRetention time.Duration
	// SettleBackoff is the longest pause between attempts of the settle
	// loop, which, while spends of unknown outcome remain, asks the ledger
	// about them and resubmits the ones it has not seen (a submitted
	// transaction is signed and its notes stay reserved for it, so
	// resubmitting it is always safe: it commits once or is rejected).
	// The loop starts at 20 ms and doubles up to this; 0 means 1 second.
	// It runs only when RetryInterval is not negative.
	SettleBackoff time.Duration
	// Policies is where the central bank publishes its policy (tiers and
	// limits). Each version fetched is applied only once its signatures
	// verify against the ledger's officer keys and quorum. nil applies
	// policy.Default for the network (a devnet without an issuer service).
	Policies roles.Policies
	// Location is the time zone of the daily and monthly outgoing limits'
	// windows; nil means UTC.
	Location *time.Location
	// Registry is the central bank's holding-limit registry; nil means no
	// registry (one intermediary: a wallet's share is its tier's limit).
	Registry roles.Registry
	// PseudonymSalt is the secret the intermediaries share to key the
	// registry by person without telling it who they are.
	PseudonymSalt []byte
	// SanctionsFile is the sanctions list screening checks payments
	// against (sanctions.go: one wallet ID or owner a line, # comments);
	// "" means none. It is read at Open, which fails if it cannot be, and
	// again whenever it changes.
	SanctionsFile string
	// NoScreening turns fraud and AML screening off: for measuring its
	// cost (specie bench --payments --screening=false), never in service.
	NoScreening bool
	// HoldTTL is how long a hold ReceiveFor places on a payee wallet here
	// for a payer at another intermediary lasts (holds.go), on the Now
	// clock: the payment is delivered within it or the capacity is free
	// again. 0 means DefaultHoldTTL.
	HoldTTL time.Duration
	// Aliases is the central bank's alias directory (aliases.go); nil
	// means this intermediary offers no aliases. Aliases are hashed under
	// a key derived from PseudonymSalt (roles.AliasKey), so it needs one.
	Aliases roles.AliasDirectory
	// OTPFile is where one-time codes proving control of an alias are
	// "sent", one line each, as well as to the log: a devnet has no SMS or
	// mail gateway. "" means the log only.
	OTPFile string
	// AliasLookupEvery and AliasLookupBurst bound each caller's alias
	// lookups (a token bucket: Burst at once, then one per Every), so
	// nobody enumerates phone numbers. 0 means DefaultAliasLookupEvery
	// and DefaultAliasLookupBurst.
	AliasLookupEvery time.Duration
	AliasLookupBurst int
	// RequestClaimTTL is how long a payer's intermediary's claim on a
	// payment request (accepted) holds without the payment arriving
	// (requests.go): then the request reads pending again, or expired
	// past its expiry, as if never claimed. 0 means DefaultRequestClaimTTL.
	RequestClaimTTL time.Duration
	// RequestRetention is how long a finished request (paid, declined,
	// cancelled, expired) is kept after it finished before the background
	// loop deletes it. 0 means IdempotencyRetention, as long as the keys
	// that made and paid it are remembered.
	RequestRetention time.Duration
	// ReservationBatchInterval is the time one ledger batch is taken to
	// last when a reservation's expiry time is turned into the batch
	// number the core enforces (reservations.go); 0 means
	// DefaultReservationBatchInterval.
	ReservationBatchInterval time.Duration
}

// DefaultHoldTTL is how long a hold on a payee's incoming capacity lasts
// unless Config.HoldTTL says otherwise.
const DefaultHoldTTL = 60 * time.Second

// DefaultRequestClaimTTL is how long a claim on a payment request holds
// unless Config.RequestClaimTTL says otherwise: far longer than a payment
// takes, even one retried through a short outage.
const DefaultRequestClaimTTL = 15 * time.Minute

// DefaultIdempotencyRetention is how long idempotency keys are kept unless
// Config.IdempotencyRetention says otherwise.
const DefaultIdempotencyRetention = 7 * 24 * time.Hour

// MinPseudonymSalt is the shortest Config.PseudonymSalt accepted.
const MinPseudonymSalt = 16

// MaxOwnerLen bounds a wallet owner's name in bytes.
const MaxOwnerLen = 256

// Intermediary runs custodial wallets. It implements roles.Intermediary.
type Intermediary struct {
	cfg    Config
	db     *store.DB
	ledger roles.Ledger
	issuer roles.Issuer
	peers  roles.Directory
	log    *slog.Logger
	self   roles.Principal

	// txLocks serialise the writes about one transaction (applying it,
	// releasing it, its outbox entry), so "already credited?" and "credit"
	// happen as one step. Everything such a write reads or writes is keyed
	// by the txid or by notes only it spends, so transactions that hash to
	// different stripes never wait for each other, and their store commits,
	// each synced, share fsyncs in Pebble's commit pipeline.
	txLocks [txLockStripes]sync.Mutex

	// walletMu guards wallets, inflight and passed.
	walletMu sync.Mutex
	wallets  map[string]*walletState
	inflight map[money.TxID]string // spends whose outcome is being awaited -> paying wallet
	// passed holds the spends in flight the settle loop passed by: one
	// that lands still pending wakes it (landed).
	passed map[money.TxID]struct{}

	// openReserved: the notes that spends pending when the store was
	// opened reserve, by wallet, until the wallet's index is loaded
	// (notes.go: a note's record does not say it is reserved).
	openReservedMu sync.Mutex
	openReserved   map[string]map[noteID]money.TxID

	// holdsMu guards holdWallets: the wallets that may have holds
	// (holds.go), so the background loop forgets expired ones without
	// visiting every wallet. Taken under a wallet's lock, never around one.
	holdsMu     sync.Mutex
	holdWallets map[string]struct{}

	keys sync.Map // wallet id -> *crypto.PrivateKey

	// Wallet records and lock owners never change once written, so they
	// are cached after the first read (or the write): a payment reads
	// them from memory, not from the store and JSON.
	walletRecs sync.Map // wallet id -> walletRec
	lockOwners sync.Map // money.Lock -> wallet id (only locks of wallets here)
	// foreignLocks remembers locks found to pay no wallet here (other
	// intermediaries' wallets, which every delivery's inputs and change
	// are locked to), at most maxForeignLocks of them. It is consulted
	// after lockOwners, so an entry made stale by a wallet created since
	// is never believed.
	foreignLocks sync.Map // money.Lock -> struct{}
	foreignN     atomic.Int64
	// ownLocks and idems hold the keys of the store's lock owners and
	// idempotency records (keyset.go): a lookup of a lock of another
	// intermediary or of a new idempotency key reads no store.
	ownLocks *keySet
	idems    *keySet

	// idemMu guards idemLocks: one lock per idempotency key in use, so
	// attempts with one key run one at a time.
	idemMu    sync.Mutex
	idemLocks map[string]*idemLock

	randMu sync.Mutex // guards cfg.Rand, which need not be safe for concurrent use

	// unsettled wakes the settle loop: a spend's outcome is unknown.
	unsettled chan struct{}

	// queues holds one delivery queue per peer and submitter the spends
	// on their way to the ledger; their workers run until workCtx ends
	// (Close).
	queuesMu  sync.Mutex
	queues    map[string]*batcher[*outgoing]
	submitter *batcher[*submission]
	workers   sync.WaitGroup
	workCtx   context.Context
	stopWork  context.CancelFunc

	clockMu sync.Mutex
	last    int64 // last history timestamp handed out, unix nanos

	mu     sync.Mutex
	closed bool
	active sync.WaitGroup
	stop   context.CancelFunc
	done   chan struct{}

	settleDone chan struct{}

	// pol is the policy in force here (policy.go).
	pol atomic.Pointer[policy.Signed]
	// opening holds the wallets being opened right now, whose registry
	// share may exist before the wallet does (registry.go).
	opening sync.Map  // wallet id -> struct{}
	scr     screening // fraud and AML screening (screen.go)

	alias aliasState // one-time codes and lookup limits (aliases.go)

	disputeMu sync.Mutex // serialises changes of dispute records (disputes.go)
	receipts  sync.Map   // receiptKey -> roles.Entry: history lines of payments refunded or disputed (refund.go)
}

var (
	_ roles.Intermediary   = (*Intermediary)(nil)
	_ roles.WalletAdmin    = (*Intermediary)(nil)
	_ roles.AmountReceiver = (*Intermediary)(nil)
	_ roles.HoldReleaser   = (*Intermediary)(nil)

	_ roles.DisputeDesk      = (*Intermediary)(nil)
	_ roles.DisputeExchanger = (*Intermediary)(nil)
)

const txLockStripes = 1024

// maxForeignLocks bounds the cache of locks that pay no wallet here
// (about 100 bytes each).
const maxForeignLocks = 1 << 20

// txLock is the lock of txid's stripe.
func (in *Intermediary) txLock(txid money.TxID) *sync.Mutex { return &in.txLocks[txStripe(txid)] }

func txStripe(txid money.TxID) int { return (int(txid[0])<<8 | int(txid[1])) % txLockStripes }

// Open opens (creating on first use) the intermediary's store in dir,
// creates the treasury wallet if missing, settles any spend left unsettled
// by a crash, and starts the background delivery loop.
func Open(dir string, cfg Config, ledger roles.Ledger, issuer roles.Issuer, peers roles.Directory) (*Intermediary, error) {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, ".\x00/") {
		return nil, fmt.Errorf("intermediary name %q: want a non-empty name without '.', '/' or NUL", cfg.Name)
	}
	if err := cfg.Network.Validate(); err != nil {
		return nil, fmt.Errorf("intermediary %s: %w", cfg.Name, err)
	}
	if ledger == nil {
		return nil, fmt.Errorf("intermediary %s: no ledger", cfg.Name)
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 5 * time.Second
	}
	if cfg.SettleAfter == 0 {
		cfg.SettleAfter = 30 * time.Second
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdempotencyRetention <= 0 {
		cfg.IdempotencyRetention = DefaultIdempotencyRetention
	}
	if cfg.RequestClaimTTL <= 0 {
		cfg.RequestClaimTTL = DefaultRequestClaimTTL
	}
	if cfg.RequestRetention <= 0 {
		cfg.RequestRetention = cfg.IdempotencyRetention
	}
	if cfg.SettleBackoff <= 0 {
		cfg.SettleBackoff = time.Second
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.HoldTTL <= 0 {
		cfg.HoldTTL = DefaultHoldTTL
	}
	if cfg.Registry != nil && len(cfg.PseudonymSalt) < MinPseudonymSalt {
		// Phone numbers are few enough to try them all: without a secret
		// salt of some length the registry could name every person.
		return nil, fmt.Errorf("intermediary %s: a holding-limit registry needs a pseudonym salt of at least %d bytes", cfg.Name, MinPseudonymSalt)
	}
	if cfg.Aliases != nil && len(cfg.PseudonymSalt) < MinPseudonymSalt {
		return nil, fmt.Errorf("intermediary %s: the alias directory needs a pseudonym salt of at least %d bytes to key alias hashes", cfg.Name, MinPseudonymSalt)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	db, err := store.Open(dir, store.Options{FS: cfg.FS, BloomBitsPerKey: 10}) // its hot reads are mostly of absent keys
	if err != nil {
		return nil, fmt.Errorf("intermediary %s: %w", cfg.Name, err)
	}
	in := &Intermediary{
		cfg:       cfg,
		db:        db,
		ledger:    ledger,
		issuer:    issuer,
		peers:     peers,
		log:       log.With("intermediary", cfg.Name),
		self:      roles.Principal{Name: cfg.Name, Role: roles.RoleIntermediary},
		wallets:   make(map[string]*walletState),
		inflight:  make(map[money.TxID]string),
		passed:    make(map[money.TxID]struct{}),
		idemLocks: make(map[string]*idemLock),
		unsettled: make(chan struct{}, 1),
		queues:    make(map[string]*batcher[*outgoing]),
		ownLocks:  newKeySet(),
		idems:     newKeySet(),
	}
	in.workCtx, in.stopWork = context.WithCancel(context.Background())
	in.submitter = newBatcher(in.workCtx, &in.workers, submitWorkers, maxSubmitBatch, in.submitBatch,
		func(s *submission, err error) { s.done <- roles.Result{Err: err} })
	if err := errors.Join(in.ownLocks.load(db, pLock), in.idems.load(db, pIdem)); err != nil {
		in.stopWork()
		in.workers.Wait()
		db.Close()
		return nil, fmt.Errorf("intermediary %s: %w", cfg.Name, err)
	}
	if err := errors.Join(in.loadOpenReserved(), in.ensureTreasury(), in.initScreening()); err != nil {
		in.stopWork()
		in.workers.Wait()
		db.Close()
		return nil, err
	}

	// Settle what a crash left behind. An unreachable ledger or peer is
	// not fatal: the background loop (or the operator) retries.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	in.startPolicy(ctx)
	in.reconcileShares(ctx, true)
	if err := in.ResolvePending(ctx); err != nil {
		in.log.Warn("pending spends not settled at open", "err", err)
	}
	cancel()

	loopCtx, stop := context.WithCancel(context.Background())
	in.stop = stop
	in.done = make(chan struct{})
	in.settleDone = make(chan struct{})
	go in.loop(loopCtx)
	go in.settleLoop(loopCtx)
	in.wakeSettle() // whatever Open could not settle
	return in, nil
}

// Close stops the background loop, waits for calls in progress and closes
// the store.
func (in *Intermediary) Close() error {
	first := func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		was := in.closed
		in.closed = true
		return !was
	}()
	if !first {
		return nil
	}
	in.stop()
	<-in.done
	<-in.settleDone
	in.active.Wait()
	in.stopWork()
	in.workers.Wait()
	if err := in.db.Close(); err != nil {
		return fmt.Errorf("intermediary %s: close: %w", in.cfg.Name, err)
	}
	return nil
}

// enter marks a call in progress; it fails once Close has begun.
func (in *Intermediary) enter() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return errcode.New(errcode.Unavailable, "intermediary %s is closed", in.cfg.Name)
	}
	in.active.Add(1)
	return nil
}

func (in *Intermediary) exit() { in.active.Done() }

func (in *Intermediary) loop(ctx context.Context) {
	defer close(in.done)
	if in.cfg.RetryInterval < 0 {
		return
	}
	t := time.NewTicker(in.cfg.RetryInterval)
	defer t.Stop()
	lastPolicy := in.cfg.Now() // Open fetched it
	lastEvict := in.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := in.enter(); err != nil {
			return
		}
		in.wakeSettle() // spends left pending by a path that did not wake it
		if in.cfg.Now().Sub(lastPolicy) >= policyRefresh {
			in.refreshPolicy(ctx)
			lastPolicy = in.cfg.Now()
		}
		in.reconcileShares(ctx, false)
		in.sweep(ctx)
		_ = in.loadSanctions(false) // if the file changed; a bad one is logged and ignored
		in.evictIdleWindows()
		if in.cfg.Now().Sub(lastEvict) >= noteIndexIdle/10 {
			in.evictIdleNotes(noteIndexIdle)
			lastEvict = in.cfg.Now()
		}
		in.expireHolds()
		in.retryDisputes(ctx)
		if _, err := in.expireAliasCodes(); err != nil {
			in.log.Warn("expiring one-time codes", "err", err)
		}
		if n, err := in.unbindClosed(ctx, ""); err != nil && ctx.Err() == nil {
			in.log.Warn("unbinding closed wallets' aliases", "err", err)
		} else if n > 0 {
			in.log.Debug("closed wallets' aliases still bound", "count", n)
		}
		if n, err := in.settleReservations(ctx); err != nil && ctx.Err() == nil {
			in.log.Warn("settling reservations", "err", err)
		} else if n > 0 {
			in.log.Debug("reservations still open", "count", n)
		}
		if err := in.retryDeliveries(ctx); err != nil && ctx.Err() == nil {
			in.log.Warn("retrying deliveries", "err", err)
		}
		if err := in.RetryRequestOffers(ctx); err != nil && ctx.Err() == nil {
			in.log.Debug("retrying payment request offers", "err", err)
		}
		if n, err := in.pruneRequests(ctx); err != nil && ctx.Err() == nil {
			in.log.Warn("pruning finished payment requests", "err", err)
		} else if n > 0 {
			in.log.Debug("finished payment requests pruned", "count", n)
		}
		if n, err := in.expireIdem(ctx); err != nil && ctx.Err() == nil {
			in.log.Warn("expiring idempotency keys", "err", err)
		} else if n > 0 {
			in.log.Debug("idempotency keys expired", "count", n)
		}
		in.exit()
	}
}

// Name is the intermediary's identifier, the prefix of its wallet IDs.
func (in *Intermediary) Name() string { return in.cfg.Name }

// Treasury is the ID of the intermediary's own wallet, which receives mints
// and holds the notes it redeems.
func (in *Intermediary) Treasury() string { return in.cfg.Name + roles.TreasurySuffix }

// asSelf is ctx carrying this intermediary's own credential, for calls to
// the ledger, the issuer and peers.
func (in *Intermediary) asSelf(ctx context.Context) context.Context {
	return roles.WithCaller(ctx, in.self)
}

// authorizeOwn admits only this intermediary's own credential: customers
// reach their wallets through it, never directly.
func (in *Intermediary) authorizeOwn(ctx context.Context) error {
	p, ok := roles.Caller(ctx)
	if !ok {
		return errcode.New(errcode.Unauthorized, "no credential")
	}
	if p.Name != in.cfg.Name {
		return errcode.Forbidden("%s may not act on %s's wallets", p.Name, in.cfg.Name)
	}
	return nil
}

// authorizeParticipant admits other intermediaries and the issuer, which
// ask for receive locks and deliver payments.
func (in *Intermediary) authorizeParticipant(ctx context.Context) error {
	p, ok := roles.Caller(ctx)
	if !ok {
		return errcode.New(errcode.Unauthorized, "no credential")
	}
	if p.Role != roles.RoleIntermediary && p.Role != roles.RoleIssuer {
		return errcode.Forbidden("%s (role %q) may not call %s", p.Name, p.Role, in.cfg.Name)
	}
	return nil
}

// ownWallet checks that id names a wallet of this intermediary, by prefix.
func (in *Intermediary) ownWallet(id string) error {
	if id == "" {
		return errcode.New(errcode.Malformed, "empty wallet id")
	}
	if owner := roles.IntermediaryOf(id); owner != in.cfg.Name {
		return errcode.Forbidden("wallet %s is not held by %s", id, in.cfg.Name)
	}
	return nil
}

// internalErr answers a failure of the intermediary itself, its store's
// among them: internal, or unavailable when the disk is full or the store
// stopped after an earlier failure (store.Retryable).
func internalErr(what string, err error) error {
	if store.Retryable(err) {
		return errcode.New(errcode.Unavailable, "%s: %v", what, err)
	}
	return errcode.New(errcode.Internal, "%s: %v", what, err)
}

// now hands out strictly increasing timestamps, so history keys never
// collide and stay in the order things happened.
func (in *Intermediary) now() time.Time {
	in.clockMu.Lock()
	defer in.clockMu.Unlock()
	n := in.cfg.Now().UnixNano()
	if n <= in.last {
		n = in.last + 1
	}
	in.last = n
	return time.Unix(0, n).UTC()
}

// walletState is a wallet's in-memory coordination: its lock, held while
// selecting and reserving notes so no two spends pick the same note, and a
// channel closed whenever one of its spends lands, so a payment that must
// wait for change can wait.
type walletState struct {
	mu       sync.Mutex
	notes    map[noteID]noteRec // the wallet's notes (notes.go); nil until loaded; guarded by mu
	used     int64              // when notes was last read (cfg.Now, Unix ns), for evictIdleNotes; guarded by mu
	inflight int                // guarded by Intermediary.walletMu
	changed  chan struct{}      // guarded by Intermediary.walletMu

	// The wallet's policy state (tiers.go, limits.go), guarded by mu.
	prof       *profileRec // nil: no profile (treasury, or opened before tiers)
	profLoaded bool
	win        spendWindow // outgoing payments in the current day and month
	incoming   uint64      // payments to it reserved here, not yet credited
	holds      []hold      // payments to it announced by other intermediaries, not yet delivered (holds.go)
}

func (in *Intermediary) walletState(id string) *walletState {
	in.walletMu.Lock()
	defer in.walletMu.Unlock()
	ws, ok := in.wallets[id]
	if !ok {
		ws = &walletState{changed: make(chan struct{})}
		in.wallets[id] = ws
	}
	return ws
}

func (in *Intermediary) walletLock(id string) *sync.Mutex { return &in.walletState(id).mu }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// random fills b from cfg.Rand.
func (in *Intermediary) random(b []byte) error {
	in.randMu.Lock()
	defer in.randMu.Unlock()
	_, err := io.ReadFull(in.cfg.Rand, b)
	return err
}

func (in *Intermediary) randomSuffix() (string, error) {
	var b [7]byte // 56 bits; 10 base32 characters use 50 of them
	if err := in.random(b[:]); err != nil {
		return "", fmt.Errorf("wallet id: %w", err)
	}
	return strings.ToLower(idEncoding.EncodeToString(b[:]))[:10], nil
}

func (in *Intermediary) ensureTreasury() error {
	id := in.Treasury()
	ok, err := in.db.Has(walletKey(id))
	if err != nil {
		return fmt.Errorf("intermediary %s: %w", in.cfg.Name, err)
	}
	if ok {
		// The treasury's key must be where it was created: in the store,
		// or the configured TreasuryKey.
		rec, err := in.loadWallet(id)
		if err == nil {
			_, err = in.key(&rec)
		}
		if err != nil {
			return fmt.Errorf("intermediary %s: treasury: %w", in.cfg.Name, err)
		}
		return nil
	}
	if _, err := in.createWallet(id, in.cfg.Name, nil); err != nil {
		return fmt.Errorf("intermediary %s: create treasury: %w", in.cfg.Name, err)
	}
	in.log.Info("treasury created", "wallet", id)
	return nil
}

// createWallet makes a key and stores the wallet with its lock index, and
// whatever extra adds to the same batch.
func (in *Intermediary) createWallet(id, owner string, extra func(*store.Batch) error) (roles.Wallet, error) {
	var rec walletRec
	var lock money.Lock
	var signer crypto.Signer
	if id == in.Treasury() && in.cfg.TreasuryKey != nil {
		rec = walletRec{ID: id, Owner: owner, Created: in.now()}
		lock = money.KeyLock(in.cfg.TreasuryKey.Public())
		signer = in.cfg.TreasuryKey
	} else {
		seed := make([]byte, ed25519.SeedSize)
		if err := in.random(seed); err != nil {
			return roles.Wallet{}, fmt.Errorf("wallet key: %w", err)
		}
		key, err := crypto.KeyFromSeed(seed)
		if err != nil {
			return roles.Wallet{}, err
		}
		rec = walletRec{ID: id, Owner: owner, Created: in.now(), Seed: key.Seed()}
		lock = money.KeyLock(key.Public())
		signer = key
	}
	b := in.db.NewBatch()
	v, err := recBytes(rec)
	if err != nil {
		b.Discard()
		return roles.Wallet{}, err
	}
	b.Set(walletKey(id), v)
	b.Set(lockKey(lock), []byte(id))
	lk := lockSetKey(lock)
	in.ownLocks.add(lk[:]) // before the lock can pay
	if extra != nil {
		if err := extra(b); err != nil {
			b.Discard()
			return roles.Wallet{}, err
		}
	}
	if err := b.Commit(true); err != nil {
		return roles.Wallet{}, err
	}
	in.keys.Store(id, signer)
	in.walletRecs.Store(id, rec)
	in.lockOwners.Store(lock, id)
	return roles.Wallet{ID: id, Owner: owner, Lock: lock, Created: rec.Created}, nil
}

// loadWallet reads a wallet record; errcode.NotFound when absent.
func (in *Intermediary) loadWallet(id string) (walletRec, error) {
	if r, ok := in.walletRecs.Load(id); ok {
		return r.(walletRec), nil
	}
	var rec walletRec
	found, err := getRec(in.db, walletKey(id), &rec)
	if err != nil {
		return rec, internalErr("wallet "+id, err)
	}
	if !found {
		return rec, errcode.New(errcode.NotFound, "no wallet %s", id)
	}
	in.walletRecs.Store(id, rec)
	return rec, nil
}

// key returns the wallet's signing key, cached after first use: from its
// seed in the store, or the configured TreasuryKey for a treasury made
// with one.
func (in *Intermediary) key(rec *walletRec) (crypto.Signer, error) {
	if k, ok := in.keys.Load(rec.ID); ok {
		return k.(crypto.Signer), nil
	}
	if rec.ID == in.Treasury() {
		switch {
		case len(rec.Seed) == 0 && in.cfg.TreasuryKey == nil:
			return nil, internalErr("wallet "+rec.ID+" key", errors.New("the treasury was created with a key outside the store (an HSM), and none is configured"))
		case len(rec.Seed) == 0:
			in.keys.Store(rec.ID, in.cfg.TreasuryKey)
			return in.cfg.TreasuryKey, nil
		case in.cfg.TreasuryKey != nil:
			return nil, internalErr("wallet "+rec.ID+" key", errors.New("a treasury key is configured, but the treasury was created with a key in the store and its notes are locked to that one"))
		}
	}
	k, err := crypto.KeyFromSeed(rec.Seed)
	if err != nil {
		return nil, internalErr("wallet "+rec.ID+" key", err)
	}
	in.keys.Store(rec.ID, k)
	return k, nil
}

// notes lists a wallet's notes in key order.
func (in *Intermediary) notes(id string) ([]noteRec, error) {
	var out []noteRec
	err := in.db.Scan(notePrefix(id), nil, func(k, v []byte) error {
		r, err := decodeNote(k, v)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, internalErr("notes of "+id, err)
	}
	return out, nil
}

// Wallet reports a wallet and its balance: the sum of its unspent notes.
// Notes reserved by a payment in flight are not in the balance but in
// Pending, until the payment settles.
func (in *Intermediary) Wallet(ctx context.Context, id string) (roles.Wallet, error) {
	if err := in.enter(); err != nil {
		return roles.Wallet{}, err
	}
	defer in.exit()
	if err := in.readable(ctx, id); err != nil {
		return roles.Wallet{}, err
	}
	return in.wallet(id)
}

// readable admits a read of wallet id: by the intermediary's own
// credential, of a wallet it holds, that exists. One rule for every read
// of a wallet (Wallet, History, Holdings).
func (in *Intermediary) readable(ctx context.Context, id string) error {
	if err := in.authorizeOwn(ctx); err != nil {
		return err
	}
	if err := in.ownWallet(id); err != nil {
		return err
	}
	_, err := in.loadWallet(id)
	return err
}

func (in *Intermediary) wallet(id string) (roles.Wallet, error) {
	rec, err := in.loadWallet(id)
	if err != nil {
		return roles.Wallet{}, err
	}
	k, err := in.key(&rec)
	if err != nil {
		return roles.Wallet{}, err
	}
	w := roles.Wallet{ID: rec.ID, Owner: rec.Owner, Lock: money.KeyLock(k.Public()), Created: rec.Created}
	ws := in.walletState(id)
	notes, prof, err := func() ([]noteRec, *profileRec, error) {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		notes, err := in.walletNotes(ws, id)
		if err != nil {
			return nil, nil, err
		}
		prof, err := in.profileLocked(ws, id)
		if err != nil || prof == nil {
			return notes, nil, err
		}
		p := *prof // a copy: the wallet's is changed under its lock
		return notes, &p, nil
	}()
	if err != nil {
		return roles.Wallet{}, err
	}
	if prof != nil {
		t, _ := in.policy().Tier(prof.Tier)
		in.describe(&w, t, prof)
	}
	for _, n := range notes {
		if n.State != stateUnspent {
			if w.Pending, err = money.Add(w.Pending, n.Note.Value); err != nil {
				return roles.Wallet{}, internalErr("pending of "+id, err)
			}
			continue
		}
		if w.Balance, err = money.Add(w.Balance, n.Note.Value); err != nil {
			return roles.Wallet{}, internalErr("balance of "+id, err)
		}
		w.Notes++
	}
	if w.Reserved, err = in.reservedBy(id); err != nil {
		return roles.Wallet{}, err
	}
	return w, nil
}

// History lists a wallet's payments, newest last.
func (in *Intermediary) History(ctx context.Context, id string) ([]roles.Entry, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	if err := in.readable(ctx, id); err != nil {
		return nil, err
	}
	out := []roles.Entry{}
	err := in.db.Scan(historyPrefix(id), nil, func(_, v []byte) error {
		var e roles.Entry
		if err := decodeRec(v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, internalErr("history of "+id, err)
	}
	return out, nil
}

// ReceiveLock returns the lock that pays wallet id. Other intermediaries
// (and the issuer) ask for it before paying one of this one's wallets.
func (in *Intermediary) ReceiveLock(ctx context.Context, id string) (money.Lock, error) {
	if err := in.enter(); err != nil {
		return money.Lock{}, err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return money.Lock{}, err
	}
	if roles.IntermediaryOf(id) != in.cfg.Name {
		return money.Lock{}, errcode.New(errcode.NotFound, "no wallet %s at %s", id, in.cfg.Name)
	}
	if err := in.screenReceiver(id); err != nil {
		return money.Lock{}, err
	}
	l, err := in.receiveLock(id)
	if err != nil {
		return money.Lock{}, err
	}
	if err := in.receivable(id); err != nil {
		return money.Lock{}, err
	}
	return l, nil
}

func (in *Intermediary) receiveLock(id string) (money.Lock, error) {
	rec, err := in.loadWallet(id)
	if err != nil {
		return money.Lock{}, err
	}
	k, err := in.key(&rec)
	if err != nil {
		return money.Lock{}, err
	}
	return money.KeyLock(k.Public()), nil
}

// walletOfLock returns the wallet a lock pays, or "" if none here.
func (in *Intermediary) walletOfLock(l money.Lock) (string, error) {
	if w, ok := in.lockOwners.Load(l); ok {
		return w.(string), nil
	}
	if lk := lockSetKey(l); !in.ownLocks.mayHave(lk[:]) {
		return "", nil // another intermediary's wallet, from memory
	}
	if _, ok := in.foreignLocks.Load(l); ok {
		// Unless its wallet was created after the entry was made: the
		// wallet's creation stores its lock before it is used, and
		// lockOwners is looked at first.
		return "", nil
	}
	v, err := in.db.Get(lockKey(l))
	if errors.Is(err, store.ErrNotFound) {
		if in.foreignN.Load() < maxForeignLocks {
			if _, had := in.foreignLocks.LoadOrStore(l, struct{}{}); !had {
				in.foreignN.Add(1)
			}
		}
		return "", nil
	}
	if err != nil {
		return "", err
	}
	in.lockOwners.Store(l, string(v))
	return string(v), nil
}
