package intermediary_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/internal/money"
	"github.com/specie/specie/internal/roles"
)

// Two banks on one ledger: bank-a's treasury receives minted money, funds
// Alice's wallet, and Alice pays Bob, who banks with bank-b.
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
	for _, name := range []string{"bank-a", "bank-b"} {
		cfg := intermediary.Config{Name: name, Network: net.Network, Logger: quiet}
		b, err := intermediary.Open(filepath.Join(dir, name), cfg, l, nil, directory)
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

	// The issuer mints 100.00 into bank-a's treasury and delivers it.
	issuer := roles.WithCaller(context.Background(), roles.Principal{Name: "issuer", Role: roles.RoleIssuer})
	lock, _ := a.ReceiveLock(issuer, a.Treasury())
	mint := net.Mint([]int{0, 1}, money.Output{Value: 10000, Lock: lock})
	if _, err := l.Submit(issuer, mint); err != nil {
		fmt.Println(err)
		return
	}
	if err := a.Deliver(issuer, mint); err != nil {
		fmt.Println(err)
		return
	}

	alice, _ := a.OpenWallet(ctxA, "Alice")
	bob, _ := b.OpenWallet(ctxB, "Bob")
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
	// Output:
	// treasury 50.00
	// alice 37.50
	// bob 12.50
	// bob's history: in 12.50
}
