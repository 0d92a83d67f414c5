package issuer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// treasury stands in for an intermediary: it names the lock of its
// treasury wallet and accepts delivered mints.
type treasury struct {
	roles.Intermediary // the other methods are not used here
	key                *crypto.PrivateKey
}

func (t treasury) ReceiveLock(context.Context, string) (money.Lock, error) {
	return money.KeyLock(t.key.Public()), nil
}

func (t treasury) Deliver(context.Context, *money.Tx) error { return nil }

// Three officers, any two of whom approve a mint against bank-a's reserve.
func Example() {
	data, _ := os.MkdirTemp("", "issuer-example")
	defer os.RemoveAll(data)
	net := money.Network{ID: "specie-example", Currency: money.Currency{Code: "USD", Exponent: 2}}
	officers := make([]*crypto.PrivateKey, 3)
	var mintKeys []crypto.PublicKey
	for i := range officers {
		officers[i], _ = crypto.GenerateKey()
		mintKeys = append(mintKeys, officers[i].Public())
	}
	redeemKey, _ := crypto.GenerateKey()

	l, err := ledger.Open(filepath.Join(data, "ledger"), ledger.Config{
		Network: net, MintKeys: mintKeys, MintQuorum: 2,
		RedeemKeys: []crypto.PublicKey{redeemKey.Public()},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	treasuryKey, _ := crypto.GenerateKey()
	banks := func(name string) (roles.Intermediary, bool) {
		return treasury{key: treasuryKey}, name == "bank-a"
	}
	is, err := issuer.Open(filepath.Join(data, "issuer"), issuer.Config{
		Network: net, MintKeys: mintKeys, MintQuorum: 2, RedeemKey: redeemKey,
		Reserves: map[string]uint64{"bank-a": 1_000_000_00},
		Logger:   slog.New(slog.DiscardHandler),
	}, l, banks)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer is.Close()

	// The API edge sets the caller from an officer's credential.
	ctx := roles.WithCaller(context.Background(), roles.Principal{Name: "desk", Role: roles.RoleIssuer})
	m, err := is.ProposeMint(ctx, "bank-a", 250_000_00)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("proposed:", m.Status)

	// Each officer signs the mint's txid, on their own device.
	for _, officer := range officers[:2] {
		sig := officer.Sign(crypto.Mint, net.ID, m.ID)
		m, err = is.ApproveMint(ctx, m.ID, officer.Public(), sig)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("approvals %d/%d: %s\n", len(m.Approvers), m.Quorum, m.Status)
	}
	s, _ := is.Supply(ctx)
	fmt.Println("outstanding:", net.Currency.Format(s.Outstanding))
	fmt.Println("bank-a reserve:", net.Currency.Format(s.Reserves[0].Balance))
	// Output:
	// proposed: pending
	// approvals 1/2: pending
	// approvals 2/2: committed
	// outstanding: 250000.00
	// bank-a reserve: 750000.00
}
