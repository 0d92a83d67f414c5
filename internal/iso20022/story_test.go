package iso20022_test

import (
	"context"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/roles"
)

// TestStory is the whole path over HTTP, each organisation with its own
// credential: an RTGS pacs.009 funds bank-a's reserve; bank-a mints
// against it with two officers' approvals; a customer's pacs.008 from
// another bank credits alice's wallet by her phone number (an alias in the
// directory); alice pays bob at bank-b; bob pays out to a bank account by
// pain.001 (an outgoing pacs.008) and bank-b redeems the pay-out (an
// outgoing pacs.009). At the end of the day every
// wallet's and reserve account's camt.053 reconciles to the cent: the
// wallets' closing balances sum to the ledger's outstanding supply, and
// the reserve accounts close at the issuer's reserves.
func TestStory(t *testing.T) {
	e := up(t)
	ctx := context.Background()
	cfg := e.n.Config
	tok := func(name string) string {
		if name == "issuer" {
			return cfg.Issuer.Token
		}
		tk, _ := cfg.Token(name)
		return tk
	}
	issuer := client.New(e.n.URL, tok("issuer")).Issuer()
	rtgs := client.New(e.n.URL, tok("issuer")).ISO20022("issuer")
	isoA := client.New(e.n.URL, tok("bank-a")).ISO20022("bank-a")
	isoB := client.New(e.n.URL, tok("bank-b")).ISO20022("bank-b")
	bankA := client.New(e.n.URL, tok("bank-a")).Intermediary("bank-a")
	bankB := client.New(e.n.URL, tok("bank-b")).Intermediary("bank-b")
	day := today()
	reserveA0 := e.reserve("bank-a")

	// 1. The RTGS funds bank-a's reserve by pacs.009.
	ans, err := rtgs.Send(ctx, fill(t, "pacs009-funding.xml", newFunding("RTGS-STORY-1", "250000.00")))
	if err != nil {
		t.Fatal(err)
	}
	conforms(t, iso20022.Pacs002, ans)
	if grp, _, _ := status(t, iso20022.Answer{XML: ans}); grp != "ACSC" {
		t.Fatalf("funding: %s", ans)
	}

	// 2. bank-a mints 200,000.00 against it: proposed, two officers approve.
	m, err := issuer.ProposeMint(ctx, "bank-a", 200_000_00)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range e.officers[:2] {
		if m, err = issuer.ApproveMint(ctx, m.ID, k.Public(), k.Sign(crypto.Mint, cfg.Network.ID, m.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if m.Status != roles.MintCommitted {
		t.Fatalf("mint %+v", m)
	}

	// 3. A customer of another bank deposits into alice's wallet, by the
	// phone number she bound to it in the alias directory.
	alice := e.open("bank-a", "alice")
	bob := e.open("bank-b", "bob")
	e.bindAlias("bank-a", alice, "+15551234567")
	ans, err = isoA.Send(ctx, fill(t, "pacs008-deposits.xml", deposits{MsgID: "DEUT-STORY-1", Agent: "BNKAUS33", Txs: []deposit{
		{E2E: "E2E-STORY-ALICE", UETR: uuidFor("story"), Ccy: "USD", Amount: "1500.75", Alias: "+15551234567", Name: "Alice"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if grp, _, _ := status(t, iso20022.Answer{XML: ans}); grp != "ACSC" {
		t.Fatalf("deposit: %s", ans)
	}

	// 4. alice pays bob at bank-b.
	if _, err := bankA.Pay(ctx, roles.Payment{From: alice, To: bob, Amount: 600_25, Reference: "rent"}); err != nil {
		t.Fatal(err)
	}

	// 5. bob pays out 400.00 to his account at another bank; bank-b
	// redeems what left the system.
	p, err := isoB.Send(ctx, fill(t, "pain001-batch.xml", batch{MsgID: "BOB-PAYOUT-1", From: bob, Txs: []batchTx{
		{E2E: "E2E-BOB-OUT", Ccy: "USD", Amount: "400.00", IBAN: "FR1420041010050500013M02606", BIC: "BNPAFRPPXXX", Name: "Bob Martin"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if grp, txs := pain002(t, iso20022.Answer{Kind: iso20022.Pain002, XML: p}); grp != "ACSC" {
		t.Fatalf("pay-out: %s %v", grp, txs)
	}
	if _, err := bankB.Redeem(ctx, roles.RedeemRequest{Amount: 400_00}); err != nil {
		t.Fatal(err)
	}
	outB, err := isoB.Messages(ctx, day)
	if err != nil || len(outB) != 1 || outB[0].Kind != iso20022.Pacs008 {
		t.Fatalf("bank-b produced %+v %v", outB, err)
	}
	conforms(t, iso20022.Pacs008, outB[0].XML)
	outI, err := rtgs.Messages(ctx, day)
	if err != nil || len(outI) != 1 || outI[0].Kind != iso20022.Pacs009 {
		t.Fatalf("issuer produced %+v %v", outI, err)
	}
	conforms(t, iso20022.Pacs009, outI[0].XML)

	// 6. End of day: every camt.053 reconciles.
	var sum uint64
	for _, w := range []struct {
		gw   *client.ISO20022
		bank roles.Intermediary
		id   string
	}{{isoA, bankA, "bank-a.treasury"}, {isoA, bankA, alice}, {isoB, bankB, "bank-b.treasury"}, {isoB, bankB, bob}} {
		doc, err := w.gw.Statement(ctx, w.id, day)
		if err != nil {
			t.Fatal(err)
		}
		o, c, net, _ := stmt(t, doc)
		wl, err := w.bank.Wallet(ctx, w.id)
		if err != nil {
			t.Fatal(err)
		}
		if o != 0 || c != wl.Balance || int64(o)+net != int64(c) {
			t.Fatalf("%s: statement opens %d closes %d (entries %d), wallet holds %d", w.id, o, c, net, wl.Balance)
		}
		sum += c
	}
	sup, err := issuer.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum != sup.Outstanding || sup.Outstanding != 200_000_00-400_00 {
		t.Fatalf("wallets close at %d in all, the ledger's outstanding supply is %d", sum, sup.Outstanding)
	}
	wantRes := map[string]uint64{"bank-a": reserveA0 + 250_000_00 - 200_000_00, "bank-b": e.n.Config.Reserves["bank-b"] + 400_00}
	for _, r := range sup.Reserves {
		doc, err := rtgs.Statement(ctx, r.Intermediary, day)
		if err != nil {
			t.Fatal(err)
		}
		o, c, net, _ := stmt(t, doc)
		if c != r.Balance || c != wantRes[r.Intermediary] || int64(o)+net != int64(c) || o != e.n.Config.Reserves[r.Intermediary] {
			t.Fatalf("reserve %s: statement opens %d closes %d (entries %d), the issuer holds %d, want %d",
				r.Intermediary, o, c, net, r.Balance, wantRes[r.Intermediary])
		}
	}
}
