package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// The examples run against a real network: what `specie up` starts, in
// process, on a free port. Only network() reaches into internal/devnet; the
// examples themselves use the public packages alone, as a program in
// another module does (see examples/sdk for one).

// devnetInfo is what a program reads from a devnet's devnet.json.
type devnetInfo struct {
	URL      string
	Token    map[string]string // "issuer", "bank-a", "bank-b"
	Officers []string          // officer key files
}

var (
	netOnce sync.Once
	netNode *devnet.Node
	netDir  string
	netInfo devnetInfo
)

// network starts the shared network on first use.
func network() devnetInfo {
	netOnce.Do(func() {
		dir, err := os.MkdirTemp("", "specie-client-example")
		if err != nil {
			log.Fatal(err)
		}
		netDir = dir
		netNode, _, err = devnet.Up(dir, "127.0.0.1:0", slog.New(slog.DiscardHandler))
		if err != nil {
			log.Fatal(err)
		}
		cfg := netNode.Config
		netInfo = devnetInfo{URL: netNode.URL, Token: map[string]string{}, Officers: cfg.OfficerKeyFiles}
		for _, name := range []string{"issuer", "bank-a", "bank-b"} {
			netInfo.Token[name], _ = cfg.Token(name)
		}
	})
	return netInfo
}

func TestMain(m *testing.M) {
	code := m.Run()
	if netNode != nil {
		if err := netNode.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close example network:", err)
			code = 1
		}
		os.RemoveAll(netDir)
	}
	os.Exit(code)
}

// mint has the issuer mint amount to bank-a with two officers' approvals.
func mint(ctx context.Context, d devnetInfo, amount uint64) {
	issuer := client.New(d.URL, d.Token["issuer"]).Issuer()
	info, err := client.New(d.URL, "").Ledger().Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	m, err := issuer.ProposeMint(ctx, "bank-a", amount)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range d.Officers[:2] {
		key, err := crypto.LoadKey(f)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := issuer.ApproveMint(ctx, m.ID, key.Public(), key.Sign(crypto.Mint, info.Network.ID, m.ID)); err != nil {
			log.Fatal(err)
		}
	}
}

// The issuer's m-of-n mint: a proposal, then officers each check the
// mint transaction and sign its txid; the quorum's last approval commits
// it and delivers the notes to the intermediary.
func ExampleClient_Issuer() {
	d := network()
	ctx := context.Background()
	issuer := client.New(d.URL, d.Token["issuer"]).Issuer()
	info, err := client.New(d.URL, "").Ledger().Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	net := info.Network

	m, err := issuer.ProposeMint(ctx, "bank-a", 1_000_00) // minor units: 1,000.00
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("proposed %s %s to %s: %s, quorum %d\n", net.Currency.Format(m.Amount), net.Currency.Code, m.To, m.Status, m.Quorum)
	// What an officer checks before signing: the transaction is a mint of
	// the amount, and it hashes to the ID being signed.
	_, out := m.Tx.Sums()
	fmt.Println("mint tx hashes to its ID:", m.Tx.Kind == money.Mint && out == m.Amount && net.TxID(m.Tx) == m.ID)
	for i, f := range d.Officers[:info.MintQuorum] {
		key, err := crypto.LoadKey(f)
		if err != nil {
			log.Fatal(err)
		}
		m, err = issuer.ApproveMint(ctx, m.ID, key.Public(), key.Sign(crypto.Mint, net.ID, m.ID))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("officer %d approved: %s, %d of %d\n", i+1, m.Status, len(m.Approvers), m.Quorum)
	}
	// Output:
	// proposed 1000.00 USD to bank-a: pending, quorum 2
	// mint tx hashes to its ID: true
	// officer 1 approved: pending, 1 of 2
	// officer 2 approved: committed, 2 of 2
}

// An intermediary's wallets and payments, over HTTP with the same
// roles.Intermediary contract the in-process service implements.
// Rejections carry stable codes, matched with errcode.Is.
func ExampleClient_Intermediary() {
	d := network()
	ctx := context.Background()
	mint(ctx, d, 1_000_00)
	var bank roles.Intermediary = client.New(d.URL, d.Token["bank-a"]).Intermediary("bank-a")

	alice, err := bank.OpenWallet(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	res, err := bank.Pay(ctx, roles.Payment{From: "bank-a" + roles.TreasurySuffix, To: alice.ID, Amount: 250_00, Reference: "welcome"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid", res.Amount, "minor units to", roles.IntermediaryOf(res.To))
	w, err := bank.Wallet(ctx, alice.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice holds", w.Balance, "in", w.Notes, "note")

	_, err = bank.Pay(ctx, roles.Payment{From: alice.ID, To: "bank-a" + roles.TreasurySuffix, Amount: 1_000_00})
	switch {
	case errcode.Is(err, errcode.InsufficientFunds):
		fmt.Println("refused:", errcode.Of(err))
	case errcode.Is(err, errcode.Unavailable):
		fmt.Println("retry later, with the same IdempotencyKey:", err)
	case err != nil:
		log.Fatal(err)
	}
	// Output:
	// paid 25000 minor units to bank-a
	// alice holds 25000 in 1 note
	// refused: insufficient_funds
}

// Anyone can check a committed transaction without trusting the server:
// the Merkle proof leads from the txid to its batch header's root, and
// that header sits in the hash chain from batch 1. Public reads need no
// token.
func ExampleClient_Ledger() {
	d := network()
	ctx := context.Background()
	mint(ctx, d, 10_00)
	bank := client.New(d.URL, d.Token["bank-a"]).Intermediary("bank-a")
	bob, err := client.New(d.URL, d.Token["bank-b"]).Intermediary("bank-b").OpenWallet(ctx, "bob")
	if err != nil {
		log.Fatal(err)
	}
	pay, err := bank.Pay(ctx, roles.Payment{From: "bank-a" + roles.TreasurySuffix, To: bob.ID, Amount: 10_00})
	if err != nil {
		log.Fatal(err)
	}

	ledger := client.New(d.URL, "").Ledger()
	info, err := ledger.Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	ti, err := ledger.Tx(ctx, pay.TxID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ti.Kind, ti.Status, "in batch", ti.Header.Seq == pay.Receipt.Batch)
	fmt.Println("inclusion proof verifies:", ti.Header.VerifyInclusion(pay.TxID, ti.Index, ti.Proof) == nil)

	hs, err := ledger.Headers(ctx, 1, 1000) // a short log: one page
	if err != nil {
		log.Fatal(err)
	}
	var prev *money.BatchHeader
	for i := range hs {
		if err := info.Network.VerifyNext(prev, &hs[i]); err != nil {
			log.Fatal(err)
		}
		prev = &hs[i]
	}
	inChain := info.Network.HeaderHash(&hs[ti.Header.Seq-1]) == info.Network.HeaderHash(&ti.Header)
	fmt.Println("its header is the chain's:", inChain)
	// Output:
	// transfer committed in batch true
	// inclusion proof verifies: true
	// its header is the chain's: true
}

// Submitting a transaction needs an issuer's or an intermediary's token.
// The ledger validates a transaction built and signed here, and refuses
// this one by code because its input note never existed.
func ExampleClient_Ledger_submit() {
	d := network()
	ctx := context.Background()
	ledger := client.New(d.URL, d.Token["bank-a"]).Ledger()
	info, err := ledger.Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	key, err := crypto.KeyFromSeed(make([]byte, 32))
	if err != nil {
		log.Fatal(err)
	}
	lock := money.KeyLock(key.Public())
	tx := &money.Tx{
		Kind:    money.Transfer,
		Inputs:  []money.Note{{TxID: money.Hash{1}, Output: money.Output{Value: 500, Lock: lock}}},
		Outputs: []money.Output{{Value: 500, Lock: lock}},
	}
	tx.InputSigs = []money.Sig{key.Sign(crypto.Spend, info.Network.ID, info.Network.TxID(tx))}

	rc, err := ledger.Submit(ctx, tx)
	switch {
	case errcode.Is(err, errcode.UnknownNote):
		fmt.Println("refused:", errcode.Of(err))
	case errcode.Is(err, errcode.DoubleSpend):
		fmt.Println("already spent")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("committed in batch", rc.Batch)
	}
	// Output:
	// refused: unknown_note
}

// An intermediary fetches the central bank's policy and applies it only
// once the ledger's officer keys, at their quorum, are found to have
// signed it: the answer could come from anyone on the way.
func ExampleClient_Policies() {
	net := network()
	ctx := context.Background()
	c := client.New(net.URL, net.Token["bank-a"])
	signed, err := c.Policies().Policy(ctx)
	if err != nil {
		log.Fatal(err)
	}
	info, err := c.Ledger().Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := signed.Verify(info.Network.ID, info.MintKeys, info.MintQuorum); err != nil {
		log.Fatal(err)
	}
	t0, _ := signed.Policy.Tier(0)
	fmt.Printf("policy v%d: tier 0 %q holds at most %s\n", signed.Policy.Version, t0.Name, info.Network.Currency.Format(t0.Holding))
	// Output:
	// policy v1: tier 0 "phone only" holds at most 500.00
}

// Two intermediaries share one person's holding limit through the central
// bank's registry, which knows the person only by a salted pseudonym.
func ExampleClient_Registry() {
	net := network()
	ctx := context.Background()
	salt := []byte("the intermediaries' shared secret")
	person := roles.Pseudonym(salt, "passport:X1234567")
	a := client.New(net.URL, net.Token["bank-a"]).Registry()
	b := client.New(net.URL, net.Token["bank-b"]).Registry()
	r, err := a.Reserve(ctx, roles.Reservation{Person: person, Wallet: "bank-a.example", Share: 300_00, Limit: 500_00})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("bank-a reserved, used:", r.Used)
	_, err = b.Reserve(ctx, roles.Reservation{Person: person, Wallet: "bank-b.example", Share: 250_00, Limit: 500_00})
	fmt.Println(errcode.Of(err))
	if err := a.Release(ctx, person, "bank-a.example"); err != nil {
		log.Fatal(err)
	}
	r, err = b.Reserve(ctx, roles.Reservation{Person: person, Wallet: "bank-b.example", Share: 250_00, Limit: 500_00})
	fmt.Println("bank-b reserved, used:", r.Used, err)
	// Output:
	// bank-a reserved, used: 30000
	// limit_exceeded
	// bank-b reserved, used: 25000 <nil>
}
