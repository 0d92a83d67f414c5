package audit_test

import (
	"context"
	"fmt"
	"os"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
)

// An auditor checks a ledger's whole log and its published supply through
// roles.Ledger alone: here an in-process ledger, in practice the HTTP client.
func ExampleVerifyLog() {
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	n := ledgertest.New()
	l, err := ledger.Open(dir, n.Config())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	ctx := context.Background()
	alice, bob := ledgertest.MustKey(), ledgertest.MustKey()
	mint := n.Mint([]int{0, 1}, ledgertest.To(alice, 1000))
	pay := n.Spend(money.Transfer, n.Notes(mint), []*crypto.PrivateKey{alice},
		ledgertest.To(bob, 400), ledgertest.To(alice, 600))
	redeem := n.Spend(money.Redeem, n.Notes(pay)[:1], []*crypto.PrivateKey{bob}, ledgertest.To(bob, 100))
	for _, tx := range []*money.Tx{mint, pay, redeem} {
		if _, err := l.Submit(ctx, tx); err != nil {
			fmt.Println(err)
			return
		}
	}

	sum, err := audit.VerifyLog(ctx, l)
	if err != nil {
		fmt.Println("audit failed:", err)
		return
	}
	fmt.Printf("batches %d, transactions %d\n", sum.Batches, sum.Transactions)
	fmt.Printf("minted %d, redeemed %d, outstanding %d\n", sum.Minted, sum.Redeemed, sum.Outstanding)
	fmt.Println("published supply matches the log:", sum.SupplyMatches)
	// Output:
	// batches 3, transactions 3
	// minted 1000, redeemed 300, outstanding 700
	// published supply matches the log: true
}
