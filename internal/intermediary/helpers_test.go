package intermediary_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openingReserve is each bank's reserve account at the issuer.
const openingReserve = 10_000_000

// env is a network on one machine: the real ledger, the real issuer desk
// (reserve accounts for bank-a and bank-b only), and intermediaries that
// find each other through a Directory.
type env struct {
	t      testing.TB
	net    *ledgertest.Net
	ledger *ledger.Ledger
	link   *faultyLedger // what the intermediaries see: the ledger, with faults on demand
	issuer *issuer.Issuer
	root   string

	seed  uint64 // 0: keys and IDs from crypto/rand
	mu    sync.Mutex
	rands map[string]io.Reader // per role, when seeded
	banks map[string]*intermediary.Intermediary
	peers map[string]roles.Intermediary // overrides, e.g. an unreachable peer
	now   func() time.Time              // the intermediaries' clock; nil: time.Now
}

func newEnv(t testing.TB, names ...string) *env { return newSeededEnv(t, 0, names...) }

// newSeededEnv is newEnv with, for a seed other than 0, every key, nonce
// and wallet ID drawn from the seed, so that the seed replays the run.
func newSeededEnv(t testing.TB, seed uint64, names ...string) *env {
	t.Helper()
	e := &env{t: t, net: ledgertest.New(), root: t.TempDir(), seed: seed, rands: map[string]io.Reader{},
		banks: map[string]*intermediary.Intermediary{}, peers: map[string]roles.Intermediary{}}
	if seed != 0 {
		e.net = ledgertest.NewFromSeed(seed)
	}
	cfg := e.net.TestConfig()
	cfg.Shards = 4
	cfg.Logger = quiet
	l, err := ledger.Open(filepath.Join(e.root, "ledger"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.ledger = l
	e.link = &faultyLedger{Ledger: l}
	icfg := issuer.Config{Network: e.net.Network, MintQuorum: 2, RedeemKey: e.net.RedeemKey,
		Reserves: map[string]uint64{"bank-a": openingReserve, "bank-b": openingReserve}, Logger: quiet, Rand: e.rand("issuer")}
	for _, k := range e.net.Officers {
		icfg.MintKeys = append(icfg.MintKeys, k.Public())
	}
	is, err := issuer.Open(filepath.Join(e.root, "issuer"), icfg, l, roles.Directory(e.directory))
	if err != nil {
		t.Fatal(err)
	}
	e.issuer = is
	t.Cleanup(func() {
		e.mu.Lock()
		banks := e.banks
		e.banks = nil
		e.mu.Unlock()
		for _, b := range banks {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		}
		if err := is.Close(); err != nil {
			t.Error(err)
		}
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, n := range names {
		e.open(n)
	}
	return e
}

func (e *env) config(name string) intermediary.Config {
	return intermediary.Config{Name: name, Network: e.net.Network, RetryInterval: -1, SettleAfter: -1, Logger: quiet, Rand: e.rand(name), Now: e.now}
}

// rand is role name's randomness: nil (crypto/rand) unless the env is
// seeded, else one stream per role drawn from the seed, which goes on
// across the role's restarts.
func (e *env) rand(name string) io.Reader {
	if e.seed == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.rands[name]
	if !ok {
		s := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(name), e.seed))
		r = mrand.NewChaCha8(s)
		e.rands[name] = r
	}
	return r
}

func (e *env) directory(name string) (roles.Intermediary, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.peers[name]; ok {
		return p, true
	}
	b, ok := e.banks[name]
	if !ok {
		return nil, false
	}
	return b, true
}

// open opens (or reopens) intermediary name with its data under the env.
func (e *env) open(name string) *intermediary.Intermediary {
	return e.openWith(e.config(name))
}

func (e *env) openWith(cfg intermediary.Config) *intermediary.Intermediary {
	e.t.Helper()
	b, err := intermediary.Open(filepath.Join(e.root, cfg.Name), cfg, e.link, e.issuer, e.directory)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.banks[cfg.Name] = b
	e.mu.Unlock()
	return b
}

func (e *env) bank(name string) *intermediary.Intermediary {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.banks[name]
}

// close closes intermediary name, as a stop before a restart.
func (e *env) close(name string) {
	e.t.Helper()
	e.mu.Lock()
	b := e.banks[name]
	delete(e.banks, name)
	e.mu.Unlock()
	if err := b.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// as is a context carrying intermediary name's own credential.
func as(name string) context.Context {
	return roles.WithCaller(context.Background(), roles.Principal{Name: name, Role: roles.RoleIntermediary})
}

var asIssuer = roles.WithCaller(context.Background(), roles.Principal{Name: "issuer", Role: roles.RoleIssuer})

// mint creates notes of the given values in bank's treasury directly, the
// way the issuer does but with several outputs: a mint signed by an officer
// quorum, committed on the real ledger, then delivered.
func (e *env) mint(bank string, values ...uint64) *money.Tx {
	e.t.Helper()
	b := e.bank(bank)
	lock, err := b.ReceiveLock(asIssuer, b.Treasury())
	if err != nil {
		e.t.Fatal(err)
	}
	var outs []money.Output
	for _, v := range values {
		outs = append(outs, money.Output{Value: v, Lock: lock})
	}
	tx := e.net.Mint([]int{0, 2}, outs...)
	if _, err := e.ledger.Submit(asIssuer, tx); err != nil {
		e.t.Fatal(err)
	}
	if err := b.Deliver(asIssuer, tx); err != nil {
		e.t.Fatal(err)
	}
	return tx
}

// issue mints amount to bank through the issuer desk: proposed against the
// bank's reserve, approved by two officers, committed and delivered by the
// issuer to the bank's treasury.
func (e *env) issue(bank string, amount uint64) roles.Mint {
	e.t.Helper()
	m, err := e.issuer.ProposeMint(asIssuer, bank, amount)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, i := range []int{0, 1} {
		k := e.net.Officers[i]
		if m, err = e.issuer.ApproveMint(asIssuer, m.ID, k.Public(), k.Sign(crypto.Mint, e.net.Network.ID, m.ID)); err != nil {
			e.t.Fatal(err)
		}
	}
	if m.Status != roles.MintCommitted {
		e.t.Fatalf("mint %+v", m)
	}
	return m
}

// wallet opens a wallet at bank and pays it amount from the treasury,
// issuing the money first.
func (e *env) wallet(bank, owner string, amount uint64) string {
	e.t.Helper()
	b := e.bank(bank)
	w, err := b.OpenWallet(as(bank), unlimited(owner))
	if err != nil {
		e.t.Fatal(err)
	}
	if amount > 0 {
		e.issue(bank, amount)
		if _, err := b.Pay(as(bank), roles.Payment{From: b.Treasury(), To: w.ID, Amount: amount}); err != nil {
			e.t.Fatal(err)
		}
	}
	return w.ID
}

// unlimited asks for a wallet of the default policy's merchant tier,
// which has no holding, payment, daily or monthly limit: for tests of
// payments, not of limits.
func unlimited(owner string) roles.WalletRequest {
	return roles.WalletRequest{Owner: owner, Tier: 3, Evidence: []roles.EvidenceRef{
		{Kind: policy.Identity, Ref: "ID-" + owner}, {Kind: policy.Address, Ref: "addr-" + owner}, {Kind: policy.Business, Ref: "REG-" + owner}}}
}

// phoneOnly asks for a tier-0 wallet of the default policy.
func phoneOnly(owner, phone string) roles.WalletRequest {
	return roles.WalletRequest{Owner: owner, Tier: 0, Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: phone}}}
}

func (e *env) balance(id string) uint64 {
	e.t.Helper()
	name := roles.IntermediaryOf(id)
	w, err := e.bank(name).Wallet(as(name), id)
	if err != nil {
		e.t.Fatalf("wallet %s: %v", id, err)
	}
	return w.Balance
}

func (e *env) history(id string) []roles.Entry {
	e.t.Helper()
	name := roles.IntermediaryOf(id)
	h, err := e.bank(name).History(as(name), id)
	if err != nil {
		e.t.Fatalf("history %s: %v", id, err)
	}
	return h
}

// snapshot is everything a user could notice: every wallet's balance,
// note count and history length, the ledger's supply, and the
// intermediaries' pending spends and undelivered payments.
type snapshot struct {
	Wallets map[string][3]int
	Supply  roles.LedgerSupply
	Pending int
	Outbox  int
}

// unchanged fails t unless the wallets ids look exactly as in before:
// what every rejected request must leave behind.
func (e *env) unchanged(t testing.TB, before snapshot, ids ...string) {
	t.Helper()
	if after := e.snapshot(ids...); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

func (e *env) snapshot(ids ...string) snapshot {
	e.t.Helper()
	s := snapshot{Wallets: map[string][3]int{}}
	for _, id := range ids {
		name := roles.IntermediaryOf(id)
		w, err := e.bank(name).Wallet(as(name), id)
		if err != nil {
			e.t.Fatal(err)
		}
		s.Wallets[id] = [3]int{int(w.Balance), w.Notes, len(e.history(id))}
	}
	sup, err := e.ledger.Supply(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	s.Supply = sup
	e.mu.Lock()
	banks := make([]*intermediary.Intermediary, 0, len(e.banks))
	for _, b := range e.banks {
		banks = append(banks, b)
	}
	e.mu.Unlock()
	for _, b := range banks {
		p, err := b.Pending()
		if err != nil {
			e.t.Fatal(err)
		}
		o, err := b.Outbox()
		if err != nil {
			e.t.Fatal(err)
		}
		s.Pending += len(p)
		s.Outbox += len(o)
	}
	return s
}

// checkConservation asserts that the wallets' balances add up to the
// ledger's outstanding supply: no money appears or vanishes in custody.
func (e *env) checkConservation(ids ...string) {
	e.t.Helper()
	var sum uint64
	for _, id := range ids {
		sum += e.balance(id)
	}
	sup, err := e.ledger.Supply(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	if sum != sup.Outstanding {
		e.t.Fatalf("wallets hold %d, ledger outstanding %d", sum, sup.Outstanding)
	}
}

// wantCode fails unless err carries code (and, when status != 0, that HTTP status).
func wantCode(t *testing.T, err error, code errcode.Code, status int) {
	t.Helper()
	if !errcode.Is(err, code) {
		t.Fatalf("error %v: want code %s", err, code)
	}
	if status != 0 && errcode.HTTPStatus(err) != status {
		t.Fatalf("error %v: HTTP status %d, want %d", err, errcode.HTTPStatus(err), status)
	}
}

// faultyLedger is the real ledger behind a link that can fail: with down
// set nothing reaches the ledger; with lostReply the transaction reaches it
// but the answer is lost (both look the same to the caller: unavailable);
// with tamper a signature is damaged on the way, so the ledger rejects it;
// with resubmit a retried send answers double_spend for a committed tx.
type faultyLedger struct {
	*ledger.Ledger
	down      atomic.Bool
	lostReply atomic.Bool
	tamper    atomic.Bool
	resubmit  atomic.Bool // the link sends twice; the caller sees the second answer
	// hold, when set, is called before a submission travels: a test
	// blocks in it to keep a payment in flight.
	hold atomic.Pointer[func()]
	// locates counts Locate calls, txs Tx calls.
	locates, txs atomic.Int64
}

func (f *faultyLedger) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	if h := f.hold.Load(); h != nil {
		(*h)()
	}
	if f.down.Load() {
		return roles.Receipt{}, errcode.New(errcode.Unavailable, "ledger unreachable")
	}
	if f.tamper.Load() && len(tx.InputSigs) > 0 {
		c := *tx
		c.InputSigs = slices.Clone(tx.InputSigs)
		c.InputSigs[0][0] ^= 1
		tx = &c
	}
	r, err := f.Ledger.Submit(ctx, tx)
	if f.resubmit.Load() {
		r, err = f.Ledger.Submit(ctx, tx)
	}
	if f.lostReply.Load() {
		return roles.Receipt{}, errcode.New(errcode.Unavailable, "connection reset")
	}
	return r, err
}

// SubmitBatch is Submit for each transaction, faults and all; with no
// fault set it is the ledger's own SubmitBatch.
func (f *faultyLedger) SubmitBatch(ctx context.Context, txs []*money.Tx) ([]roles.Result, error) {
	if f.hold.Load() == nil && !f.down.Load() && !f.lostReply.Load() && !f.tamper.Load() && !f.resubmit.Load() {
		return f.Ledger.SubmitBatch(ctx, txs)
	}
	out := make([]roles.Result, len(txs))
	for i, tx := range txs {
		out[i].Receipt, out[i].Err = f.Submit(ctx, tx)
	}
	return out, nil
}

// Locate is the ledger's, failing as Tx does while the link is down.
func (f *faultyLedger) Locate(ctx context.Context, ids []money.TxID) ([]roles.Result, error) {
	f.locates.Add(1)
	if f.down.Load() {
		return nil, errcode.New(errcode.Unavailable, "ledger unreachable")
	}
	return f.Ledger.Locate(ctx, ids)
}

func (f *faultyLedger) Tx(ctx context.Context, id money.TxID) (roles.TxInfo, error) {
	f.txs.Add(1)
	if f.down.Load() {
		return roles.TxInfo{}, errcode.New(errcode.Unavailable, "ledger unreachable")
	}
	return f.Ledger.Tx(ctx, id)
}

// flakyPeer is a real intermediary reached over a link that can drop
// deliveries.
type flakyPeer struct {
	roles.Intermediary
	down atomic.Bool
}

func (f *flakyPeer) Deliver(ctx context.Context, tx *money.Tx) error {
	if f.down.Load() {
		return errcode.New(errcode.Unavailable, "peer unreachable")
	}
	return f.Intermediary.Deliver(ctx, tx)
}
