package iso20022_test

import (
	"bytes"
	"testing"

	"github.com/specie/specie/internal/iso20022"
)

type batch struct {
	MsgID, From string
	Txs         []batchTx
}

type batchTx struct {
	E2E, Ccy, Amount, Wallet, IBAN, BIC, Name string
}

// pain002 reads a pain.002: the group status and each payment's status
// and reason, by EndToEndId.
func pain002(t *testing.T, a iso20022.Answer) (grp string, txs map[string]string) {
	t.Helper()
	if a.Kind != iso20022.Pain002 {
		t.Fatalf("answer is %s", a.Kind)
	}
	var r iso20022.Pain002Doc
	if err := iso20022.Decode(a.XML, iso20022.Pain002, &r); err != nil {
		t.Fatal(err)
	}
	txs = map[string]string{}
	for _, pi := range r.Msg.OrgnlPmtInfAndSts {
		for _, tx := range pi.TxInfAndSts {
			s := tx.TxSts
			if len(tx.StsRsnInf) > 0 {
				s += "/" + tx.StsRsnInf[0].Rsn.Cd
			}
			txs[tx.OrgnlEndToEndID] = s
		}
	}
	return r.Msg.OrgnlGrpInfAndSts.GrpSts, txs
}

// TestInitiationPain001 pays a business wallet's batch: to a wallet here,
// to a wallet at bank-b, out to a bank account (the wallet pays the
// treasury and a pacs.008 goes out), and one it cannot afford; the
// pain.002 reports each and the group, and resending changes nothing.
func TestInitiationPain001(t *testing.T) {
	e := up(t)
	e.mint("bank-a", 10_000_00)
	shop := e.open("bank-a", "shop")
	alice := e.open("bank-a", "alice")
	bob := e.open("bank-b", "bob")
	fund := deposits{MsgID: "FUND-SHOP", Agent: "BNKAUS33", Txs: []deposit{{E2E: "F1", Ccy: "USD", Amount: "1000.00", Wallet: shop, Name: "Shop"}}}
	if grp, _, _ := status(t, e.send("bank-a", fill(t, "pacs008-deposits.xml", fund))); grp != "ACSC" {
		t.Fatal("funding the shop failed")
	}
	treasury := e.balance("bank-a.treasury")
	b := batch{MsgID: "SHOP-PAYRUN-0042", From: shop, Txs: []batchTx{
		{E2E: "PAY-ALICE", Ccy: "USD", Amount: "100.00", Wallet: alice, Name: "Alice"},
		{E2E: "PAY-BOB", Ccy: "USD", Amount: "200.00", Wallet: bob, Name: "Bob"},
		{E2E: "PAY-OUT", Ccy: "USD", Amount: "300.25", IBAN: "DE89370400440532013000", BIC: "DEUTDEFFXXX", Name: "Supplier GmbH"},
		{E2E: "PAY-TOOMUCH", Ccy: "USD", Amount: "5000.00", Wallet: alice, Name: "Alice"},
		{E2E: "PAY-NOBIC", Ccy: "USD", Amount: "1.00", IBAN: "GB33BUKB20201555555555", Name: "No bank given"},
	}}
	doc := fill(t, "pain001-batch.xml", b)
	conforms(t, iso20022.Pain001, doc)
	a := e.send("bank-a", doc)
	grp, txs := pain002(t, a)
	want := map[string]string{"PAY-ALICE": "ACSC", "PAY-BOB": "ACSC", "PAY-OUT": "ACSC", "PAY-TOOMUCH": "RJCT/AM04", "PAY-NOBIC": "RJCT/AC01"}
	if grp != "PART" {
		t.Fatalf("group %s\n%s", grp, a.XML)
	}
	for k, v := range want {
		if txs[k] != v {
			t.Errorf("%s: %s, want %s", k, txs[k], v)
		}
	}
	check := func() {
		t.Helper()
		for id, want := range map[string]uint64{shop: 1000_00 - 100_00 - 200_00 - 300_25, alice: 100_00, bob: 200_00, "bank-a.treasury": treasury + 300_25} {
			if got := e.balance(id); got != want {
				t.Fatalf("%s: %d, want %d", id, got, want)
			}
		}
	}
	check()

	// The pay-out's interbank leg.
	ms, err := e.gw().Messages(as("bank-a"), "bank-a", today())
	if err != nil {
		t.Fatal(err)
	}
	var out []iso20022.Produced
	for _, m := range ms {
		if m.Kind == iso20022.Pacs008 {
			out = append(out, m)
		}
	}
	if len(out) != 1 {
		t.Fatalf("outgoing pacs.008s: %+v", ms)
	}
	conforms(t, iso20022.Pacs008, out[0].XML)
	var p iso20022.Pacs008Doc
	if err := iso20022.Decode(out[0].XML, iso20022.Pacs008, &p); err != nil {
		t.Fatal(err)
	}
	tx := p.Msg.CdtTrfTxInf
	if len(tx) != 1 || tx[0].PmtID.EndToEndID != "PAY-OUT" || tx[0].IntrBkSttlmAmt.Value != "300.25" ||
		tx[0].CdtrAcct.Number() != "DE89370400440532013000" || tx[0].CdtrAgt.BIC() != "DEUTDEFFXXX" || tx[0].DbtrAgt.BIC() != "BNKAUS33" {
		t.Fatalf("outgoing pacs.008: %+v", tx)
	}
	got, err := e.gw().Message(as("bank-a"), "bank-a", out[0].MsgID)
	if err != nil || !bytes.Equal(got.XML, out[0].XML) {
		t.Fatalf("message by id: %v", err)
	}

	if again := e.send("bank-a", doc); !bytes.Equal(again.XML, a.XML) {
		t.Fatalf("resent pain.001 answered differently:\n%s", again.XML)
	}
	check()
	// bank-b may not initiate from bank-a's wallets.
	if _, err := e.gw().Process(as("bank-b"), "bank-a", doc); !isCode(err, "unauthorized") {
		t.Fatalf("bank-b: %v", err)
	}
	// A wallet of bank-b is not bank-a's to debit.
	b2 := batch{MsgID: "BOB-AT-A", From: bob, Txs: []batchTx{{E2E: "X", Ccy: "USD", Amount: "1.00", Wallet: alice, Name: "A"}}}
	if grp, txs := pain002(t, e.send("bank-a", fill(t, "pain001-batch.xml", b2))); grp != "RJCT" || txs["X"] != "RJCT/AC01" {
		t.Fatalf("debit of another bank's wallet: %s %v", grp, txs)
	}
	check()
}
