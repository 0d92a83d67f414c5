package iso20022_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/specie/specie/internal/iso20022"
)

type rtp struct{ MsgID, From, To, E2E, Amount string }

// pain014 reads a pain.014: the one request's status, reason and reference.
func pain014(t *testing.T, a iso20022.Answer) (status, ref string) {
	t.Helper()
	if a.Kind != iso20022.Pain014 {
		t.Fatalf("answer is %s", a.Kind)
	}
	conforms(t, iso20022.Pain014, a.XML)
	var r iso20022.Pain014Doc
	if err := iso20022.Decode(a.XML, iso20022.Pain014, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Msg.OrgnlPmtInfAndSts) == 0 {
		return r.Msg.OrgnlGrpInfAndSts.GrpSts + "/" + r.Msg.OrgnlGrpInfAndSts.StsRsnInf[0].Rsn.Cd, ""
	}
	tx := r.Msg.OrgnlPmtInfAndSts[0].TxInfAndSts[0]
	status = tx.TxSts
	if len(tx.StsRsnInf) > 0 {
		status += "/" + tx.StsRsnInf[0].Rsn.Cd
	}
	return status, tx.AcctSvcrRef
}

// TestRequestToPay: a merchant's pain.013 at its own bank (bank-b)
// creates a request of the intermediaries' request-to-pay for alice at
// bank-a (pain.014 PDNG, the request's ID in AcctSvcrRef); accepted at
// bank-a it pays the merchant once (ACSC, at both banks); declined pays
// nothing (RJCT CUST); an unaffordable accept is refused AM04 and the
// request stays payable; an unknown payer is refused AC01.
func TestRequestToPay(t *testing.T) {
	e := up(t)
	e.mint("bank-a", 1_000_00)
	alice := e.open("bank-a", "alice")
	shop := e.open("bank-b", "shop")
	fund := deposits{MsgID: "FUND-ALICE", Agent: "BNKAUS33", Txs: []deposit{{E2E: "F1", Ccy: "USD", Amount: "100.00", Wallet: alice, Name: "Alice"}}}
	status(t, e.send("bank-a", fill(t, "pacs008-deposits.xml", fund)))

	doc := fill(t, "pain013-request.xml", rtp{MsgID: "SHOP-RTP-1", From: alice, To: shop, E2E: "ORDER-7781", Amount: "25.00"})
	conforms(t, iso20022.Pain013, doc)
	a := e.send("bank-b", doc)
	st, ref := pain014(t, a)
	if st != "PDNG" || ref == "" {
		t.Fatalf("request: %s %q\n%s", st, ref, a.XML)
	}
	if again := e.send("bank-b", doc); !bytes.Equal(again.XML, a.XML) {
		t.Fatal("resent pain.013 answered differently")
	}
	for _, bank := range []string{"bank-b", "bank-a"} {
		s, err := e.gw().RequestStatus(as(bank), bank, ref)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := pain014(t, s); st != "PDNG" {
			t.Fatalf("status at %s: %s", bank, st)
		}
	}
	if e.balance(alice) != 100_00 || e.balance(shop) != 0 {
		t.Fatal("a pending request moved money")
	}
	d, err := e.gw().Decide(as("bank-a"), "bank-a", ref, true)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := pain014(t, d); st != "ACSC" && st != "ACCP" {
		t.Fatalf("accepted: %s", st)
	}
	if e.balance(alice) != 75_00 || e.balance(shop) != 25_00 {
		t.Fatalf("after paying: alice %d shop %d", e.balance(alice), e.balance(shop))
	}
	eventually(t, func() error {
		s, err := e.gw().RequestStatus(as("bank-b"), "bank-b", ref)
		if err != nil {
			return err
		}
		if st, _ := pain014(t, s); st != "ACSC" {
			return fmt.Errorf("status at the payee's bank %s", st)
		}
		return nil
	})
	// Accepting again pays nothing more; declining now is a conflict.
	if _, err := e.gw().Decide(as("bank-a"), "bank-a", ref, true); err != nil && !isCode(err, "conflict") {
		t.Fatalf("accepting again: %v", err)
	}
	if _, err := e.gw().Decide(as("bank-a"), "bank-a", ref, false); !isCode(err, "conflict") {
		t.Fatalf("declining a paid request: %v", err)
	}
	if e.balance(alice) != 75_00 || e.balance(shop) != 25_00 {
		t.Fatal("paid twice")
	}

	// Declined.
	st, ref2 := pain014(t, e.send("bank-b", fill(t, "pain013-request.xml", rtp{MsgID: "SHOP-RTP-2", From: alice, To: shop, E2E: "ORDER-7782", Amount: "10.00"})))
	if st != "PDNG" {
		t.Fatal(st)
	}
	d, err = e.gw().Decide(as("bank-a"), "bank-a", ref2, false)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := pain014(t, d); st != "RJCT/CUST" {
		t.Fatalf("declined: %s", st)
	}
	// Accepted but more than the wallet holds: that attempt is refused
	// AM04 and the request stays pending.
	_, ref3 := pain014(t, e.send("bank-b", fill(t, "pain013-request.xml", rtp{MsgID: "SHOP-RTP-3", From: alice, To: shop, E2E: "ORDER-7783", Amount: "500.00"})))
	d, err = e.gw().Decide(as("bank-a"), "bank-a", ref3, true)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := pain014(t, d); st != "RJCT/AM04" {
		t.Fatalf("unaffordable: %s", st)
	}
	if s, err := e.gw().RequestStatus(as("bank-a"), "bank-a", ref3); err != nil {
		t.Fatal(err)
	} else if st, _ := pain014(t, s); st != "PDNG" {
		t.Fatalf("after a refused attempt: %s", st)
	}
	// The decisions' reports are among bank-a's produced messages.
	ms, err := e.gw().Messages(as("bank-a"), "bank-a", today())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.Kind == iso20022.Pain014 {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d pain.014s produced, want 2 (paid, declined)", n)
	}
	if st, _ := pain014(t, e.send("bank-b", fill(t, "pain013-request.xml", rtp{MsgID: "SHOP-RTP-4", From: "bank-a.nosuch", To: shop, E2E: "X", Amount: "1.00"}))); st != "RJCT/AC01" {
		t.Fatalf("unknown payer: %s", st)
	}
	if _, err := e.gw().Decide(as("bank-a"), "bank-a", "bank-b.rqnosuch", true); !isCode(err, "not_found") {
		t.Fatalf("unknown request: %v", err)
	}
	if e.balance(alice) != 75_00 || e.balance(shop) != 25_00 {
		t.Fatal("balances moved")
	}
}

// eventually retries f for up to five seconds.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
