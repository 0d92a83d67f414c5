package intermediary_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Two banks on one ledger: the issuer mints into bank-a's treasury, which
// funds Alice's wallet; Alice pays Bob, who banks with bank-b; bank-a
// redeems part of its treasury.
func Example() {
	dir, _ := os.MkdirTemp("", "specie-example")
	defer os.RemoveAll(dir)

	net := ledgertest.New() // officer keys for the mint quorum, a redeem key
	lcfg := net.Config()
	lcfg.Logger = quiet
	l, err := ledger.Open(filepath.Join(dir, "ledger"), lcfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	banks := map[string]*intermediary.Intermediary{}
	directory := func(name string) (roles.Intermediary, bool) {
		b, ok := banks[name]
		return b, ok
	}
	// The central bank's issuance desk: 2 of 3 officers approve a mint,
	// against the bank's reserve account.
	icfg := issuer.Config{Network: net.Network, MintQuorum: 2, RedeemKey: net.RedeemKey,
		Reserves: map[string]uint64{"bank-a": 1_000_000, "bank-b": 1_000_000}, Logger: quiet}
	for _, k := range net.Officers {
		icfg.MintKeys = append(icfg.MintKeys, k.Public())
	}
	desk, err := issuer.Open(filepath.Join(dir, "issuer"), icfg, l, roles.Directory(directory))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer desk.Close()

	for _, name := range []string{"bank-a", "bank-b"} {
		cfg := intermediary.Config{Name: name, Network: net.Network, Logger: quiet}
		b, err := intermediary.Open(filepath.Join(dir, name), cfg, l, desk, directory)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer b.Close()
		banks[name] = b
	}
	a, b := banks["bank-a"], banks["bank-b"]
	// Each bank acts on its wallets with its own credential.
	ctxA := roles.WithCaller(context.Background(), roles.Principal{Name: "bank-a", Role: roles.RoleIntermediary})
	ctxB := roles.WithCaller(context.Background(), roles.Principal{Name: "bank-b", Role: roles.RoleIntermediary})

	// The issuer mints 100.00 for bank-a; on quorum it is committed and
	// delivered to bank-a's treasury.
	officers := roles.WithCaller(context.Background(), roles.Principal{Name: "issuer", Role: roles.RoleIssuer})
	m, err := desk.ProposeMint(officers, "bank-a", 10000)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range net.Officers[:2] {
		if m, err = desk.ApproveMint(officers, m.ID, k.Public(), k.Sign(crypto.Mint, net.Network.ID, m.ID)); err != nil {
			fmt.Println(err)
			return
		}
	}

	alice, _ := a.OpenWallet(ctxA, roles.WalletRequest{Owner: "Alice", Tier: 0, Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550100001"}}})
	bob, _ := b.OpenWallet(ctxB, roles.WalletRequest{Owner: "Bob", Tier: 0, Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550100002"}}})
	if _, err := a.Pay(ctxA, roles.Payment{From: a.Treasury(), To: alice.ID, Amount: 5000}); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := a.Pay(ctxA, roles.Payment{From: alice.ID, To: bob.ID, Amount: 1250, Reference: "books"}); err != nil {
		fmt.Println(err)
		return
	}

	cur := net.Network.Currency
	wa, _ := a.Wallet(ctxA, alice.ID)
	wb, _ := b.Wallet(ctxB, bob.ID)
	wt, _ := a.Wallet(ctxA, a.Treasury())
	fmt.Println("treasury", cur.Format(wt.Balance))
	fmt.Println("alice", cur.Format(wa.Balance))
	fmt.Println("bob", cur.Format(wb.Balance))
	h, _ := b.History(ctxB, bob.ID)
	fmt.Println("bob's history:", h[0].Direction, cur.Format(h[0].Amount))

	// bank-a returns 20.00 to the central bank: its reserve grows back.
	if _, err := a.Redeem(ctxA, roles.RedeemRequest{Amount: 2000}); err != nil {
		fmt.Println(err)
		return
	}
	reserve, _ := desk.Reserve("bank-a")
	wt, _ = a.Wallet(ctxA, a.Treasury())
	fmt.Println("after redeeming: treasury", cur.Format(wt.Balance), "reserve", cur.Format(reserve))
	// Output:
	// treasury 50.00
	// alice 37.50
	// bob 12.50
	// bob's history: in 12.50
	// after redeeming: treasury 30.00 reserve 9920.00
}
