package ledger

import (
	"context"
	"slices"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
)

// TestRotationBetweenValidationAndCommit: a mint validated under the
// founding keys reaches the commit step after a rotation (batch 1)
// replaced one of its signers: the step refuses it (unauthorized) and
// commits nothing, because which keys mint in a batch depends on the
// batches before it alone, not on when the mint was validated.
func TestRotationBetweenValidationAndCommit(t *testing.T) {
	ctx := context.Background()
	var officers []*crypto.PrivateKey
	var pubs []crypto.PublicKey
	for range 3 {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		officers, pubs = append(officers, k), append(pubs, k.Public())
	}
	redeem, _ := crypto.GenerateKey()
	net := money.Network{ID: "rotation-test", Currency: money.Currency{Code: "USD", Exponent: 2}}
	l, err := Open(t.TempDir(), Config{Network: net, MintKeys: pubs, MintQuorum: 2, RedeemKeys: []crypto.PublicKey{redeem.Public()}, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	owner, _ := crypto.GenerateKey()
	tx := &money.Tx{Kind: money.Mint, Nonce: 1, Outputs: []money.Output{{Value: 100, Lock: money.KeyLock(owner.Public())}}}
	id := net.TxID(tx)
	for _, k := range officers[:2] {
		tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, net.ID, id)})
	}
	slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
	c := l.prepare(tx)
	if c.err != nil {
		t.Fatalf("the mint does not validate under the founding keys: %v", c.err)
	}
	c.done = make(chan result, 1)

	fresh, _ := crypto.GenerateKey()
	next := policy.KeySet{Network: net.ID, Version: 2, Quorum: 2, Keys: []crypto.PublicKey{fresh.Public(), pubs[1], pubs[2]}}
	s := policy.SignedKeySet{KeySet: next}
	for _, k := range officers[1:] {
		a, err := policy.SignKeySet(&next, k)
		if err != nil {
			t.Fatal(err)
		}
		s.Approvals = append(s.Approvals, a)
	}
	if _, err := l.RotateMintKeys(ctx, s); err != nil {
		t.Fatal(err)
	}
	l.commit([]*checked{c})
	if r := <-c.done; !errcode.Is(r.err, errcode.Unauthorized) {
		t.Fatalf("mint by a replaced key at the commit step: %v, want unauthorized", r.err)
	}
	// Batch 1 is the rotation itself; the refused mint added none.
	if sup, _ := l.Supply(ctx); sup.Batches != 1 || sup.Minted != 0 {
		t.Fatalf("the refused mint changed the ledger: %+v", sup)
	}
}
