package iso20022_test

import (
	"bytes"
	"testing"

	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/roles"
)

type recallReq struct {
	ID, OrigMsgID string
	Txs           []recallTx
}

type recallTx struct{ E2E, Amount string }

func camt029(t *testing.T, a iso20022.Answer) (conf string, txs map[string]string) {
	t.Helper()
	if a.Kind != iso20022.Camt029 {
		t.Fatalf("answer is %s", a.Kind)
	}
	var r iso20022.Camt029Doc
	if err := iso20022.Decode(a.XML, iso20022.Camt029, &r); err != nil {
		t.Fatal(err)
	}
	txs = map[string]string{}
	for _, d := range r.Msg.CxlDtls {
		for _, tx := range d.TxInfAndSts {
			s := tx.TxCxlSts
			if len(tx.CxlStsRsnInf) > 0 {
				s += "/" + tx.CxlStsRsnInf[0].Rsn.Cd
			}
			txs[tx.OrgnlEndToEndID] = s
		}
		if g := d.OrgnlGrpInfAndSts; g != nil && len(g.CxlStsRsnInf) > 0 {
			txs["group"] = g.GrpCxlSts + "/" + g.CxlStsRsnInf[0].Rsn.Cd
		}
	}
	return r.Msg.Sts.Conf, txs
}

// TestRecallCamt056: a recalled deposit still in its wallet is taken back
// (ACCR, pacs.004); one already spent is refused AM04 and stays; one never
// received NOOR; recalling again ARDT; and the resent camt.056 gets its
// first answer.
func TestRecallCamt056(t *testing.T) {
	e := up(t)
	e.mint("bank-a", 10_000_00)
	alice := e.open("bank-a", "alice")
	bob := e.open("bank-a", "bob")
	d := deposits{MsgID: "DEUT-RECALL-1", Agent: "BNKAUS33", Txs: []deposit{
		{E2E: "E2E-KEEP", Ccy: "USD", Amount: "40.00", Wallet: alice, Name: "Alice"},
		{E2E: "E2E-SPENT", Ccy: "USD", Amount: "70.00", Wallet: bob, Name: "Bob"},
	}}
	if grp, _, _ := status(t, e.send("bank-a", fill(t, "pacs008-deposits.xml", d))); grp != "ACSC" {
		t.Fatal("deposits")
	}
	// bob spends his.
	if _, err := e.n.Banks["bank-a"].Pay(as("bank-a"), roles.Payment{From: bob, To: alice, Amount: 60_00}); err != nil {
		t.Fatal(err)
	}
	treasury := e.balance("bank-a.treasury")
	req := recallReq{ID: "RECALL-0001", OrigMsgID: "DEUT-RECALL-1", Txs: []recallTx{{"E2E-KEEP", "40.00"}, {"E2E-SPENT", "70.00"}, {"E2E-NEVER", "1.00"}}}
	doc := fill(t, "camt056-recall.xml", req)
	conforms(t, iso20022.Camt056, doc)
	a := e.send("bank-a", doc)
	conf, txs := camt029(t, a)
	want := map[string]string{"E2E-KEEP": "ACCR", "E2E-SPENT": "RJCR/AM04", "E2E-NEVER": "RJCR/NOOR"}
	if conf != "CNCL" {
		t.Fatalf("conf %s\n%s", conf, a.XML)
	}
	for k, v := range want {
		if txs[k] != v {
			t.Errorf("%s: %s, want %s", k, txs[k], v)
		}
	}
	check := func() {
		t.Helper()
		// alice had 40 + 60 from bob; 40 went back.
		if got := e.balance(alice); got != 60_00 {
			t.Fatalf("alice %d", got)
		}
		if got := e.balance(bob); got != 10_00 {
			t.Fatalf("bob %d", got)
		}
		if got := e.balance("bank-a.treasury"); got != treasury+40_00 {
			t.Fatalf("treasury %d", got)
		}
	}
	check()
	ms, err := e.gw().Messages(as("bank-a"), "bank-a", today())
	if err != nil {
		t.Fatal(err)
	}
	var ret *iso20022.Produced
	for i := range ms {
		if ms[i].Kind == iso20022.Pacs004 {
			ret = &ms[i]
		}
	}
	if ret == nil {
		t.Fatalf("no pacs.004 among %+v", ms)
	}
	conforms(t, iso20022.Pacs004, ret.XML)
	var r iso20022.Pacs004Doc
	if err := iso20022.Decode(ret.XML, iso20022.Pacs004, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Msg.TxInf) != 1 || r.Msg.TxInf[0].OrgnlEndToEndID != "E2E-KEEP" || r.Msg.TxInf[0].RtrdIntrBkSttlmAmt.Value != "40.00" ||
		r.Msg.TxInf[0].RtrRsnInf[0].Rsn.Cd != "FOCR" {
		t.Fatalf("return %+v", r.Msg.TxInf)
	}

	if again := e.send("bank-a", doc); !bytes.Equal(again.XML, a.XML) {
		t.Fatalf("resent camt.056 answered differently")
	}
	e.restart()
	req2 := recallReq{ID: "RECALL-0002", OrigMsgID: "DEUT-RECALL-1", Txs: []recallTx{{"E2E-KEEP", "40.00"}}}
	conf, txs = camt029(t, e.send("bank-a", fill(t, "camt056-recall.xml", req2)))
	if conf != "RJCR" || txs["E2E-KEEP"] != "RJCR/ARDT" {
		t.Fatalf("second recall: %s %v", conf, txs)
	}
	check()
	// An unreadable camt.056 is answered by a camt.029 naming the problem.
	conf, txs = camt029(t, e.send("bank-a", doc[:len(doc)-40]))
	if conf != "RJCR" || txs["group"] != "RJCR/FF01" {
		t.Fatalf("unreadable camt.056: %s %v", conf, txs)
	}
	check()
}
