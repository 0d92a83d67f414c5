package roles_test

import (
	"context"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// A payment asks an intermediary to pay from one of its wallets to any
// wallet; amounts are minor units. The idempotency key makes a retry after
// a timeout safe.
func ExamplePayment() {
	p := roles.Payment{
		From:           "bank-a.k3j9x2",
		To:             "bank-b.q8w2e7",
		Amount:         120_00, // 120.00
		Reference:      "lunch",
		IdempotencyKey: "order-1234",
	}
	fmt.Printf("%+v\n", p) // over HTTP the client sends the amount as the string "12000"
	fmt.Println("payee's intermediary:", roles.IntermediaryOf(p.To))
	// Output:
	// {From:bank-a.k3j9x2 To:bank-b.q8w2e7 Amount:12000 Reference:lunch IdempotencyKey:order-1234 RefundOf:0000000000000000000000000000000000000000000000000000000000000000}
	// payee's intermediary: bank-b
}

// checkout is code written against the contract: it runs unchanged with an
// intermediary in process, over HTTP (client.New(...).Intermediary), or
// with a test double.
func checkout(ctx context.Context, bank roles.Intermediary, from, merchant string, amount uint64) string {
	res, err := bank.Pay(ctx, roles.Payment{From: from, To: merchant, Amount: amount, Reference: "order 42"})
	switch {
	case errcode.Is(err, errcode.InsufficientFunds):
		return "declined: top up your wallet"
	case errcode.Is(err, errcode.Unavailable):
		return "try again"
	case err != nil:
		return "error: " + string(errcode.Of(err))
	}
	return fmt.Sprintf("paid %d in batch %d", res.Amount, res.Receipt.Batch)
}

// fakeBank is a test double: it embeds the interface and implements only
// what checkout calls.
type fakeBank struct {
	roles.Intermediary
	balance uint64
}

func (f *fakeBank) Pay(_ context.Context, p roles.Payment) (roles.PaymentResult, error) {
	if p.Amount > f.balance {
		return roles.PaymentResult{}, errcode.New(errcode.InsufficientFunds, "balance %d, asked %d", f.balance, p.Amount)
	}
	f.balance -= p.Amount
	return roles.PaymentResult{TxID: money.TxID{1}, Receipt: roles.Receipt{Batch: 7}, From: p.From, To: p.To, Amount: p.Amount}, nil
}

func ExampleIntermediary() {
	bank := &fakeBank{balance: 50_00}
	ctx := context.Background()
	fmt.Println(checkout(ctx, bank, "bank-a.alice", "bank-b.shop", 30_00))
	fmt.Println(checkout(ctx, bank, "bank-a.alice", "bank-b.shop", 30_00))
	// Output:
	// paid 3000 in batch 7
	// declined: top up your wallet
}
