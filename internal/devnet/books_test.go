package devnet_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// payLedger is what a test asked of the intermediaries and what they
// answered: payments reported committed, and the definite outcome of
// every payment made with an idempotency key (its txid, or its code).
type payLedger struct {
	mu       sync.Mutex
	wallets  []string                     // every wallet, treasuries included
	reported map[money.TxID]roles.Payment // committed, as the API said
	at       map[money.TxID]time.Time     // when the API said so
	keyed    map[string]keyedOutcome
}

type keyedOutcome struct {
	p    roles.Payment
	txid money.TxID   // committed
	code errcode.Code // or refused with this code
}

func newPayLedger(wallets ...string) *payLedger {
	return &payLedger{wallets: wallets, reported: map[money.TxID]roles.Payment{}, at: map[money.TxID]time.Time{}, keyed: map[string]keyedOutcome{}}
}

// record notes what p was answered. An unknown outcome (unavailable,
// internal, a broken connection) is not recorded: the payment may or may
// not have committed, and a retry with its key may settle it either way.
func (pl *payLedger) record(p roles.Payment, r roles.PaymentResult, err error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	switch {
	case err == nil:
		pl.reported[r.TxID] = p
		pl.at[r.TxID] = time.Now()
		if p.IdempotencyKey != "" {
			pl.keyed[p.IdempotencyKey] = keyedOutcome{p: p, txid: r.TxID}
		}
	case p.IdempotencyKey != "" && !errcode.Is(err, errcode.Unavailable) && !errcode.Is(err, errcode.Internal):
		pl.keyed[p.IdempotencyKey] = keyedOutcome{p: p, code: errcode.Of(err)}
	}
}

// checkReported asserts, through the roles' interfaces (over HTTP when
// given clients), that every payment reported committed is committed on
// the ledger and in its payer's history, and that a payment made again
// with its idempotency key gets the same answer: the same txid, or the
// same code.
func (pl *payLedger) checkReported(t *testing.T, led roles.Ledger, banks map[string]roles.Intermediary) {
	t.Helper()
	ctx := context.Background()
	out := map[string]map[money.TxID]bool{} // payer -> txids in its history
	for id, p := range pl.reported {
		if _, err := led.Tx(ctx, id); err != nil {
			t.Fatalf("payment %s %+v was reported committed: ledger says %v", id, p, err)
		}
		if out[p.From] == nil {
			h, err := banks[roles.IntermediaryOf(p.From)].History(ctx, p.From)
			if err != nil {
				t.Fatalf("history of %s: %v", p.From, err)
			}
			out[p.From] = map[money.TxID]bool{}
			for _, e := range h {
				if e.Direction == "out" {
					out[p.From][e.TxID] = true
				}
			}
		}
		if !out[p.From][id] {
			t.Fatalf("payment %s %+v was reported committed but is not in the payer's history", id, p)
		}
	}
	for k, o := range pl.keyed {
		r, err := banks[roles.IntermediaryOf(o.p.From)].Pay(ctx, o.p)
		switch {
		case o.code == "" && err != nil:
			t.Fatalf("payment %s (%s) made again with its key: %v; want the same txid", k, o.txid, err)
		case o.code == "" && r.TxID != o.txid:
			t.Fatalf("payment %s made again with its key answered %s, first %s", k, r.TxID, o.txid)
		case o.code != "" && errcode.Of(err) != o.code:
			t.Fatalf("payment %s, refused with %s, made again with its key: %v, %v", k, o.code, r, err)
		}
	}
}

// books is a network's state opened in this process after its processes
// stopped: the ledger, the issuer and every intermediary, each on its own
// data directory as `specie up` or `specie serve` left it. Nothing is in
// flight, so spends the ledger never committed are released at once
// (SettleAfter < 0), as the running roles would after SettleAfter.
type books struct {
	cfg    *devnet.Config
	ledger *ledger.Ledger
	issuer *issuer.Issuer
	banks  map[string]*intermediary.Intermediary
}

// openBooks opens the state under dirs (role name -> data directory).
func openBooks(t *testing.T, cfg *devnet.Config, dirs map[string]string) *books {
	t.Helper()
	k := &books{cfg: cfg, banks: map[string]*intermediary.Intermediary{}}
	var err error
	k.ledger, err = ledger.Open(dirs["ledger"], ledger.Config{Network: cfg.Network, MintKeys: cfg.MintKeys, MintQuorum: cfg.MintQuorum,
		RedeemKeys: cfg.RedeemKeys, Shards: cfg.Shards, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	peers := func(name string) (roles.Intermediary, bool) {
		mu.Lock()
		defer mu.Unlock()
		b, ok := k.banks[name]
		return b, ok
	}
	rk, err := crypto.LoadKey(cfg.RedeemKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	k.issuer, err = issuer.Open(dirs["issuer"], issuer.Config{Network: cfg.Network, MintKeys: cfg.MintKeys, MintQuorum: cfg.MintQuorum,
		RedeemKey: rk, Reserves: cfg.Reserves, Logger: quietLog()}, k.ledger, peers)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cfg.Intermediaries {
		b, err := intermediary.Open(dirs[e.Name], intermediary.Config{Name: e.Name, Network: cfg.Network, RetryInterval: -1, SettleAfter: -1, Logger: quietLog()},
			k.ledger, k.issuer, peers)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		k.banks[e.Name] = b
		mu.Unlock()
	}
	return k
}

func (k *books) close(t *testing.T) {
	for _, b := range k.banks {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
	if err := k.issuer.Close(); err != nil {
		t.Error(err)
	}
	if err := k.ledger.Close(); err != nil {
		t.Error(err)
	}
}

func asBank(name string) context.Context {
	return roles.WithCaller(context.Background(), roles.Principal{Name: name, Role: roles.RoleIntermediary})
}

// check asserts issue 8's "nothing lost, nothing doubled" once whatever
// the stop left pending is settled with the ledger and every undelivered
// payment delivered:
//   - each wallet's balance is the sum of the notes its books hold, and
//     each of those is unspent on the ledger with that value;
//   - no note is in two wallets;
//   - the wallets (treasuries included) hold the whole outstanding supply,
//     and as many notes as the ledger holds unspent: the held notes are
//     distinct unspent notes, so they are then all of them, and no note
//     the core holds unspent is missing from an intermediary's books
//     (every note of this network is in custody);
//   - reserves plus the outstanding supply are the opening reserves;
//   - every payment reported committed, and every keyed outcome, holds
//     (see checkReported).
func (k *books) check(t *testing.T, pl *payLedger) {
	t.Helper()
	ctx := context.Background()
	if err := k.issuer.RetryDeliveries(ctx); err != nil {
		t.Fatalf("issuer: deliver mints: %v", err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range k.banks {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		if err := k.banks[n].ResolvePending(ctx); err != nil {
			t.Fatalf("%s: settle pending spends: %v", n, err)
		}
	}
	for _, n := range names {
		if err := k.banks[n].RetryDeliveries(ctx); err != nil {
			t.Fatalf("%s: deliver: %v", n, err)
		}
		if p, err := k.banks[n].Pending(); err != nil || len(p) != 0 {
			t.Fatalf("%s: %d spends still pending (%v)", n, len(p), err)
		}
	}
	holder := map[money.NoteID]string{}
	var held, count uint64
	for _, id := range pl.wallets {
		name := roles.IntermediaryOf(id)
		notes, err := k.banks[name].Holdings(asBank(name), id)
		if err != nil {
			t.Fatalf("notes of %s: %v", id, err)
		}
		var sum uint64
		for _, n := range notes {
			nid := k.cfg.Network.NoteID(&n)
			if other, ok := holder[nid]; ok {
				t.Fatalf("note %s is in wallets %s and %s", nid, other, id)
			}
			holder[nid] = id
			info, err := k.ledger.Note(ctx, nid)
			if err != nil || info.Status != roles.NoteUnspent || info.Value != n.Value {
				t.Fatalf("wallet %s holds note %s (%d) that the ledger reports %+v, %v", id, nid, n.Value, info, err)
			}
			sum += n.Value
		}
		w, err := k.banks[name].Wallet(asBank(name), id)
		if err != nil {
			t.Fatal(err)
		}
		if w.Balance != sum || w.Notes != len(notes) {
			t.Fatalf("wallet %s: balance %d in %d notes, its books hold %d in %d", id, w.Balance, w.Notes, sum, len(notes))
		}
		held += sum
		count += uint64(len(notes))
	}
	sup, err := k.issuer.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if held != sup.Outstanding || count != sup.Unspent {
		t.Fatalf("wallets hold %d in %d notes; the ledger has %d outstanding in %d unspent notes", held, count, sup.Outstanding, sup.Unspent)
	}
	var reserves, opening uint64
	for _, r := range sup.Reserves {
		reserves += r.Balance
	}
	for _, v := range k.cfg.Reserves {
		opening += v
	}
	if reserves+sup.Outstanding != opening {
		t.Fatalf("reserves %d and outstanding %d do not add up to the opening reserves %d", reserves, sup.Outstanding, opening)
	}
	banks := map[string]roles.Intermediary{}
	for n, b := range k.banks {
		banks[n] = selfCaller{b}
	}
	pl.checkReported(t, k.ledger, banks)
}

// selfCaller calls an in-process intermediary with its own credential,
// as its API server does for its customers.
type selfCaller struct{ *intermediary.Intermediary }

func (s selfCaller) History(_ context.Context, id string) ([]roles.Entry, error) {
	return s.Intermediary.History(asBank(s.Name()), id)
}

func (s selfCaller) Pay(_ context.Context, p roles.Payment) (roles.PaymentResult, error) {
	return s.Intermediary.Pay(asBank(s.Name()), p)
}

func (s selfCaller) Wallet(_ context.Context, id string) (roles.Wallet, error) {
	return s.Intermediary.Wallet(asBank(s.Name()), id)
}

// upDirs are where `specie up` keeps each role's state under root.
func upDirs(root string, cfg *devnet.Config) map[string]string {
	dirs := map[string]string{"ledger": filepath.Join(root, "ledger"), "issuer": filepath.Join(root, "issuer")}
	for _, e := range cfg.Intermediaries {
		dirs[e.Name] = filepath.Join(root, e.Name)
	}
	return dirs
}

// mintTo issues amount to bank through the issuer: proposed, approved by
// two officers.
func (p *parties) mintTo(t *testing.T, bank string, amount uint64) {
	t.Helper()
	ctx := context.Background()
	m, err := p.issuer.ProposeMint(ctx, bank, amount)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range p.officer[:2] {
		if m, err = p.issuer.ApproveMint(ctx, m.ID, k.Public(), k.Sign(crypto.Mint, p.cfg.Network.ID, m.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if m.Status != roles.MintCommitted {
		t.Fatalf("mint %+v", m)
	}
}

// bank is the client of the intermediary holding wallet id.
func (p *parties) bank(id string) roles.Intermediary {
	if roles.IntermediaryOf(id) == "bank-a" {
		return p.bankA
	}
	return p.bankB
}

// openFunded opens n wallets at each bank, each paid amount from its
// bank's treasury (minted first), and returns every wallet, treasuries
// first.
func (p *parties) openFunded(t *testing.T, n int, amount uint64) []string {
	t.Helper()
	ctx := context.Background()
	wallets := []string{"bank-a.treasury", "bank-b.treasury"}
	for _, name := range []string{"bank-a", "bank-b"} {
		p.mintTo(t, name, uint64(n)*amount+amount)
		b := p.bank(name + ".x")
		for i := range n {
			w, err := b.OpenWallet(ctx, unlimited(fmt.Sprintf("%s customer %d", name, i)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Pay(ctx, roles.Payment{From: name + ".treasury", To: w.ID, Amount: amount}); err != nil {
				t.Fatal(err)
			}
			wallets = append(wallets, w.ID)
		}
	}
	return wallets
}
