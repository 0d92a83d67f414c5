package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Reading the public ledger needs no token.
func ExampleClient_Ledger() {
	c := client.New("http://127.0.0.1:8080", "")
	sup, err := c.Ledger().Supply(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("outstanding minor units:", sup.Outstanding)
}

// Submitting a signed transaction needs an issuer or intermediary token;
// rejections carry stable codes.
func ExampleClient_Ledger_submit() {
	c := client.New("http://127.0.0.1:8080", "bank-a-token")
	var tx *money.Tx // built and signed by the caller
	rc, err := c.Ledger().Submit(context.Background(), tx)
	switch {
	case errcode.Is(err, errcode.DoubleSpend):
		fmt.Println("already spent")
	case errcode.Is(err, errcode.Unavailable):
		fmt.Println("retry later:", err)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("committed in batch", rc.Batch)
	}
}

// An intermediary's wallets and payments, over HTTP with the same
// roles.Intermediary contract the in-process service implements.
func ExampleClient_Intermediary() {
	c := client.New("http://127.0.0.1:8080", "bank-a-token")
	var bank roles.Intermediary = c.Intermediary("bank-a")
	ctx := context.Background()
	w, err := bank.OpenWallet(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	res, err := bank.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: w.ID, Amount: 1250, Reference: "welcome"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("paid", res.Amount, "in tx", res.TxID)
}

// The issuer's m-of-n mint: propose, then each officer approves.
func ExampleClient_Issuer() {
	c := client.New("http://127.0.0.1:8080", "issuer-token")
	ctx := context.Background()
	m, err := c.Issuer().ProposeMint(ctx, "bank-a", 100000000)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("officers sign txid", m.ID, "status", m.Status)
}
