package issuer_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

var (
	bg         = context.Background()
	officerCtx = roles.WithCaller(bg, roles.Principal{Name: "officer", Role: roles.RoleIssuer})
)

func bankCtx(name string) context.Context {
	return roles.WithCaller(bg, roles.Principal{Name: name, Role: roles.RoleIntermediary})
}

// bank is the delivery target: a minimal intermediary holding the key of
// its treasury wallet. It checks deliveries against the real ledger, as the
// intermediary service does, and can be told to fail them.
type bank struct {
	name     string
	treasury *crypto.PrivateKey
	ledger   roles.Ledger

	mu        sync.Mutex
	fail      error                    // Deliver returns this when set
	delivered map[money.TxID]*money.Tx // credited once each
	calls     int                      // Deliver calls, including failed and repeated ones
}

func newBank(name string, l roles.Ledger, treasury *crypto.PrivateKey) *bank {
	return &bank{name: name, treasury: treasury, ledger: l, delivered: map[money.TxID]*money.Tx{}}
}

var errNotHere = errcode.New(errcode.Unavailable, "not implemented by the test bank")

func (b *bank) Name() string { return b.name }
func (b *bank) OpenWallet(context.Context, roles.WalletRequest) (roles.Wallet, error) {
	return roles.Wallet{}, errNotHere
}
func (b *bank) Wallet(context.Context, string) (roles.Wallet, error) {
	return roles.Wallet{}, errNotHere
}
func (b *bank) History(context.Context, string) ([]roles.Entry, error) { return nil, errNotHere }
func (b *bank) Pay(context.Context, roles.Payment) (roles.PaymentResult, error) {
	return roles.PaymentResult{}, errNotHere
}
func (b *bank) Redeem(context.Context, roles.RedeemRequest) (roles.Redemption, error) {
	return roles.Redemption{}, errNotHere
}

func (b *bank) ReceiveLock(ctx context.Context, id string) (money.Lock, error) {
	if p, ok := roles.Caller(ctx); !ok || p.Role != roles.RoleIssuer {
		return money.Lock{}, errcode.New(errcode.Unauthorized, "caller %+v", p)
	}
	if id != b.name+roles.TreasurySuffix {
		return money.Lock{}, errcode.New(errcode.NotFound, "no wallet %q", id)
	}
	return money.KeyLock(b.treasury.Public()), nil
}

func (b *bank) Deliver(ctx context.Context, tx *money.Tx) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.fail != nil {
		return b.fail
	}
	if p, ok := roles.Caller(ctx); !ok || p.Role != roles.RoleIssuer {
		return errcode.New(errcode.Unauthorized, "caller %+v", p)
	}
	info, _ := b.ledger.Info(ctx)
	id := info.Network.TxID(tx)
	if _, err := b.ledger.Tx(ctx, id); err != nil {
		return fmt.Errorf("delivered tx not on the ledger: %w", err)
	}
	b.delivered[id] = tx
	return nil
}

func (b *bank) setFail(err error) {
	b.mu.Lock()
	b.fail = err
	b.mu.Unlock()
}

func (b *bank) got() (map[money.TxID]*money.Tx, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[money.TxID]*money.Tx, len(b.delivered))
	for k, v := range b.delivered {
		m[k] = v
	}
	return m, b.calls
}

// env is a network with a real ledger, an issuer and two test banks.
type env struct {
	t      *testing.T
	net    *ledgertest.Net
	ledger *ledger.Ledger
	lg     roles.Ledger // what the issuer talks to (the ledger, or a faulty wrapper)
	banks  map[string]*bank
	dir    string
	cfg    issuer.Config
	is     *issuer.Issuer
}

const openingA, openingB = 1_000_000, 50_000

func newEnv(t *testing.T) *env { return newEnvOn(t, nil, 0) }

// newEnvOn is newEnv with the issuer's store on fs (nil: the OS) and, with
// a seed other than 0, every key and mint nonce drawn from the seed, so
// that the seed replays the run.
func newEnvOn(t *testing.T, fs vfs.FS, seed uint64) *env {
	t.Helper()
	n := ledgertest.New()
	var rnd io.Reader = rand.Reader
	if seed != 0 {
		n = ledgertest.NewFromSeed(seed)
		var s [32]byte
		binary.BigEndian.PutUint64(s[:], seed)
		rnd = mrand.NewChaCha8(s)
	}
	l, err := ledger.Open(t.TempDir(), n.TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := &env{t: t, net: n, ledger: l, lg: l, dir: t.TempDir(), banks: map[string]*bank{}}
	for _, name := range []string{"bank-a", "bank-b"} {
		var ks [32]byte
		if _, err := io.ReadFull(rnd, ks[:]); err != nil {
			t.Fatal(err)
		}
		k, err := crypto.KeyFromSeed(ks[:])
		if err != nil {
			t.Fatal(err)
		}
		e.banks[name] = newBank(name, l, k)
	}
	e.cfg = issuer.Config{
		Network:    n.Network,
		MintQuorum: 2,
		RedeemKey:  n.RedeemKey,
		Reserves:   map[string]uint64{"bank-a": openingA, "bank-b": openingB},
		RetryEvery: time.Hour, // tests drive retries themselves
		Logger:     slog.New(slog.DiscardHandler),
		FS:         fs,
		Rand:       rnd,
	}
	for _, k := range n.Officers {
		e.cfg.MintKeys = append(e.cfg.MintKeys, k.Public())
	}
	e.open()
	t.Cleanup(func() {
		if e.is != nil {
			e.is.Close()
		}
	})
	return e
}

func (e *env) directory(name string) (roles.Intermediary, bool) {
	b, ok := e.banks[name]
	return b, ok
}

func (e *env) open() {
	e.t.Helper()
	is, err := issuer.Open(e.dir, e.cfg, e.lg, e.directory)
	if err != nil {
		e.t.Fatal(err)
	}
	e.is = is
}

// reopen closes the issuer and opens its store again, as after a restart.
func (e *env) reopen() {
	e.t.Helper()
	if err := e.is.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.is = nil
	e.open()
}

// sig is officer i's approval of mint id.
func (e *env) sig(i int, id money.TxID) (crypto.PublicKey, money.Sig) {
	k := e.net.Officers[i]
	return k.Public(), k.Sign(crypto.Mint, e.net.Network.ID, id)
}

func (e *env) approve(i int, id money.TxID) (roles.Mint, error) {
	k, s := e.sig(i, id)
	return e.is.ApproveMint(officerCtx, id, k, s)
}

func (e *env) propose(to string, amount uint64) roles.Mint {
	e.t.Helper()
	m, err := e.is.ProposeMint(officerCtx, to, amount)
	if err != nil {
		e.t.Fatalf("propose %d to %s: %v", amount, to, err)
	}
	return m
}

// mint proposes and approves a mint to its commit.
func (e *env) mint(to string, amount uint64) roles.Mint {
	e.t.Helper()
	m := e.propose(to, amount)
	if _, err := e.approve(0, m.ID); err != nil {
		e.t.Fatal(err)
	}
	m, err := e.approve(1, m.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if m.Status != roles.MintCommitted {
		e.t.Fatalf("mint status %s", m.Status)
	}
	return m
}

// state is everything a user can observe about money at the issuer and the ledger.
type state struct {
	supply roles.Supply
}

func (e *env) state() state {
	e.t.Helper()
	s, err := e.is.Supply(bg)
	if err != nil {
		e.t.Fatal(err)
	}
	return state{s}
}

func (e *env) reserve(name string) uint64 {
	e.t.Helper()
	b, ok := e.is.Reserve(name)
	if !ok {
		e.t.Fatalf("no reserve %s", name)
	}
	return b
}

func wantCode(t *testing.T, err error, c errcode.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", c)
	}
	if got := errcode.Of(err); got != c {
		t.Fatalf("want %s, got %s (%v)", c, got, err)
	}
}

func sameState(t *testing.T, before, after state) {
	t.Helper()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

// redeemTx builds a redeem by bank of the notes of mint m, keeping change.
func (e *env) redeemTx(b *bank, mintTx *money.Tx, change uint64) *money.Tx {
	notes := e.net.Notes(mintTx)
	tx := &money.Tx{Kind: money.Redeem, Inputs: notes, InputSigs: make([]money.Sig, len(notes))}
	if change > 0 {
		tx.Outputs = []money.Output{{Value: change, Lock: money.KeyLock(b.treasury.Public())}}
	}
	keys := make([]*crypto.PrivateKey, len(notes))
	for i := range keys {
		keys[i] = b.treasury
	}
	ledgertest.SignSpend(e.net.Network, tx, keys)
	return tx
}
