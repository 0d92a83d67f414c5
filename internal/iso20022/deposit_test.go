package iso20022_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// TestDepositPacs008 reads a bank's realistic pacs.008 with several
// payments into bank-a: payments to its wallets, by wallet ID or by an
// alias bound in the directory, are credited from the treasury; the others are rejected in the pacs.002 with their reason and
// returned by a pacs.004; the same message again changes nothing, also
// after a restart.
func TestDepositPacs008(t *testing.T) {
	e := up(t)
	e.mint("bank-a", 100_000_00)
	alice := e.open("bank-a", "alice")
	shop := e.open("bank-a", "shop")
	bob := e.open("bank-b", "bob")
	small, err := e.n.Banks["bank-a"].OpenWallet(as("bank-a"), roles.WalletRequest{Owner: "carol", Tier: 0,
		Evidence: []roles.EvidenceRef{{Kind: policy.Phone, Ref: "+15550000001"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.bindAlias("bank-a", shop, "shop@example.com")
	e.bindAlias("bank-b", bob, "+15557654321")
	d := deposits{MsgID: "DEUT-20261202-000017", Agent: "BNKAUS33", Txs: []deposit{
		{E2E: "E2E-ALICE", UETR: uuidFor("alice"), Ccy: "USD", Amount: "1250.50", Wallet: alice, Name: "Alice Example"},
		{E2E: "E2E-SHOP", Ccy: "USD", Amount: "99.5", Alias: "shop@example.com", Name: "Corner Shop Ltd"},
		{E2E: "E2E-BOB-ALIAS", Ccy: "USD", Amount: "10.00", Alias: "+15557654321", Name: "Bob's alias is at bank-b"},
		{E2E: "E2E-NOWALLET", Ccy: "USD", Amount: "10.00", Wallet: "bank-a.nosuchwallet", Name: "Nobody"},
		{E2E: "E2E-OTHERBANK", Ccy: "USD", Amount: "10.00", Wallet: bob, Name: "Bob at bank-b"},
		{E2E: "E2E-ALIAS", Ccy: "USD", Amount: "10.00", Alias: "+15551234567", Name: "By phone"},
		{E2E: "E2E-EUR", Ccy: "EUR", Amount: "10.00", Wallet: alice, Name: "Alice Example"},
		{E2E: "E2E-LIMIT", Ccy: "USD", Amount: "600.00", Wallet: small.ID, Name: "Carol, phone-only tier"},
	}}
	doc := fill(t, "pacs008-deposits.xml", d)
	conforms(t, iso20022.Pacs008, doc)
	treasury := e.balance("bank-a.treasury")

	a := e.send("bank-a", doc)
	grp, _, txs := status(t, a)
	want := map[string]string{
		"E2E-ALICE": "ACSC", "E2E-SHOP": "ACSC", "E2E-NOWALLET": "RJCT/AC01", "E2E-OTHERBANK": "RJCT/AC01", "E2E-BOB-ALIAS": "RJCT/AC01",
		"E2E-ALIAS": "RJCT/AC01", "E2E-EUR": "RJCT/CURR", "E2E-LIMIT": "RJCT/AM02",
	}
	if grp != "PART" {
		t.Fatalf("group %s, want PART\n%s", grp, a.XML)
	}
	for k, v := range want {
		if txs[k] != v {
			t.Errorf("%s: %s, want %s", k, txs[k], v)
		}
	}
	check := func() {
		t.Helper()
		if got := e.balance(alice); got != 1250_50 {
			t.Fatalf("alice %d", got)
		}
		if got := e.balance(shop); got != 99_50 {
			t.Fatalf("shop %d", got)
		}
		if got := e.balance(small.ID); got != 0 {
			t.Fatalf("carol %d", got)
		}
		if got := e.balance("bank-a.treasury"); got != treasury-1250_50-99_50 {
			t.Fatalf("treasury %d, want %d", got, treasury-1250_50-99_50)
		}
	}
	check()

	// The returns: one pacs.004 with the payments that arrived and could
	// not be credited (not the one in another currency, which was never
	// settled in this one).
	ms, err := e.gw().Messages(as("bank-a"), "bank-a", today())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Kind != iso20022.Pacs004 {
		t.Fatalf("produced %+v", ms)
	}
	conforms(t, iso20022.Pacs004, ms[0].XML)
	var ret iso20022.Pacs004Doc
	if err := iso20022.Decode(ms[0].XML, iso20022.Pacs004, &ret); err != nil {
		t.Fatal(err)
	}
	returned := map[string]string{}
	for _, tx := range ret.Msg.TxInf {
		returned[tx.OrgnlEndToEndID] = tx.RtrdIntrBkSttlmAmt.Value + " " + tx.RtrRsnInf[0].Rsn.Cd
	}
	wantRet := map[string]string{"E2E-NOWALLET": "10.00 AC01", "E2E-OTHERBANK": "10.00 AC01", "E2E-BOB-ALIAS": "10.00 AC01", "E2E-ALIAS": "10.00 AC01", "E2E-LIMIT": "600.00 AM02"}
	if len(returned) != len(wantRet) {
		t.Fatalf("returned %v, want %v", returned, wantRet)
	}
	for k, v := range wantRet {
		if returned[k] != v {
			t.Errorf("return of %s: %q, want %q", k, returned[k], v)
		}
	}

	// Resent, also after a restart: the first answer, nothing paid twice.
	if again := e.send("bank-a", doc); !bytes.Equal(again.XML, a.XML) {
		t.Fatalf("resent pacs.008 answered differently:\n%s", again.XML)
	}
	e.restart()
	if again := e.send("bank-a", doc); !bytes.Equal(again.XML, a.XML) {
		t.Fatalf("resent pacs.008 after restart answered differently:\n%s", again.XML)
	}
	check()

	// The same payment (UETR) in a new message is refused as a duplicate.
	d2 := deposits{MsgID: "DEUT-20261202-000018", Agent: "BNKAUS33", Txs: []deposit{
		{E2E: "E2E-ALICE-AGAIN", UETR: uuidFor("alice"), Ccy: "USD", Amount: "1250.50", Wallet: alice, Name: "Alice Example"}}}
	grp, _, txs = status(t, e.send("bank-a", fill(t, "pacs008-deposits.xml", d2)))
	if grp != "RJCT" || txs["E2E-ALICE-AGAIN"] != "RJCT/DUPL" {
		t.Fatalf("same UETR again: %s %v", grp, txs)
	}
	check()
}

// TestDepositNeedsTreasury returns a deposit the treasury cannot fund
// (AM04) and moves nothing.
func TestDepositNeedsTreasury(t *testing.T) {
	e := up(t)
	alice := e.open("bank-a", "alice")
	d := deposits{MsgID: "DEUT-EMPTY-1", Agent: "BNKAUS33", Txs: []deposit{
		{E2E: "E2E-1", Ccy: "USD", Amount: "5.00", Wallet: alice, Name: "Alice"}}}
	grp, _, txs := status(t, e.send("bank-a", fill(t, "pacs008-deposits.xml", d)))
	if grp != "RJCT" || txs["E2E-1"] != "RJCT/AM04" {
		t.Fatalf("deposit with an empty treasury: %s %v", grp, txs)
	}
	if got := e.balance(alice); got != 0 {
		t.Fatalf("alice %d", got)
	}
	// Once the treasury is funded, the refused payment sent again in a
	// new message goes through: only applied payments count as received.
	e.mint("bank-a", 10_00)
	d.MsgID = "DEUT-EMPTY-2"
	grp, _, txs = status(t, e.send("bank-a", fill(t, "pacs008-deposits.xml", d)))
	if grp != "ACSC" || e.balance(alice) != 5_00 {
		t.Fatalf("the refused payment again: %s %v, alice %d", grp, txs, e.balance(alice))
	}
}

// TestSamePaymentAtOnce sends the same payment (one UETR) in several
// messages at the same moment: exactly one applies it, the others answer
// DUPL, and the wallet is credited once.
func TestSamePaymentAtOnce(t *testing.T) {
	e := up(t)
	e.mint("bank-a", 1_000_00)
	alice := e.open("bank-a", "alice")
	const n = 8
	answers := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		d := deposits{MsgID: fmt.Sprintf("RACE-%d", i), Agent: "BNKAUS33", Txs: []deposit{
			{E2E: "E2E-RACE", UETR: uuidFor("race"), Ccy: "USD", Amount: "7.00", Wallet: alice, Name: "Alice"}}}
		doc := fill(t, "pacs008-deposits.xml", d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := e.gw().Process(as("bank-a"), "bank-a", doc)
			if err != nil {
				answers <- err.Error()
				return
			}
			var r iso20022.Pacs002Doc
			if err := iso20022.Decode(a.XML, iso20022.Pacs002, &r); err != nil {
				answers <- err.Error()
				return
			}
			answers <- r.Msg.OrgnlGrpInfAndSts.GrpSts
		}()
	}
	wg.Wait()
	close(answers)
	got := map[string]int{}
	for a := range answers {
		got[a]++
	}
	if got["ACSC"] != 1 || got["RJCT"] != n-1 {
		t.Fatalf("answers %v, want one ACSC and %d RJCT", got, n-1)
	}
	if b := e.balance(alice); b != 7_00 {
		t.Fatalf("alice %d, want 7.00 once", b)
	}
}

// TestGatewayAuthorization: only the issuer's credential exchanges the
// issuer's messages, only bank-a's bank-a's; nothing is applied otherwise.
func TestGatewayAuthorization(t *testing.T) {
	e := up(t)
	before := e.reserve("bank-a")
	doc := fill(t, "pacs009-funding.xml", newFunding("RTGS-AUTH-1", "10.00"))
	if _, err := e.gw().Process(as("bank-a"), iso20022.RoleIssuer, doc); err == nil || !isCode(err, "unauthorized") {
		t.Fatalf("bank-a funding reserves: %v", err)
	}
	if _, err := e.gw().Process(as("bank-b"), "bank-a", doc); err == nil || !isCode(err, "unauthorized") {
		t.Fatalf("bank-b as bank-a: %v", err)
	}
	if _, err := e.gw().Process(as("bank-a"), "bank-z", doc); err == nil || !isCode(err, "not_found") {
		t.Fatalf("unknown role: %v", err)
	}
	// A pacs.009 sent to an intermediary is refused, not applied.
	grp, reason, _ := status(t, e.send("bank-a", doc))
	if grp != "RJCT" || reason != "AG01" {
		t.Fatalf("pacs.009 at bank-a: %s/%s", grp, reason)
	}
	if e.reserve("bank-a") != before {
		t.Fatal("reserve moved")
	}
}
