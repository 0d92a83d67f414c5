package iso20022_test

import (
	"testing"

	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/roles"
)

// stmt reads a camt.053: opening and closing booked balances in minor
// units, and the entries' signed sum.
func stmt(t *testing.T, doc []byte) (opening, closing uint64, net int64, n int) {
	t.Helper()
	conforms(t, iso20022.Camt053, doc)
	var m iso20022.Camt053Doc
	if err := iso20022.Decode(doc, iso20022.Camt053, &m); err != nil {
		t.Fatal(err)
	}
	cur := usd
	s := m.Msg.Stmt[0]
	for _, b := range s.Bal {
		v, rej := iso20022.ParseAmount(cur, b.Amt)
		if rej != nil && rej.Code != "AM01" {
			t.Fatalf("balance %+v: %v", b, rej)
		}
		switch b.Tp.CdOrPrtry.Cd {
		case "OPBD":
			opening = v
		case "CLBD":
			closing = v
		}
	}
	for _, e := range s.Ntry {
		v, rej := iso20022.ParseAmount(cur, e.Amt)
		if rej != nil {
			t.Fatal(rej)
		}
		if e.CdtDbtInd == "CRDT" {
			net += int64(v)
		} else {
			net -= int64(v)
		}
	}
	return opening, closing, net, len(s.Ntry)
}

// TestStatements: a wallet's and a reserve account's camt.053 open and
// close at the books' balances with every entry between, and each entry
// has its camt.054; a redeem produces the outgoing pacs.009.
func TestStatements(t *testing.T) {
	e := up(t)
	open0 := e.reserve("bank-a")
	grp, _, _ := status(t, e.send(iso20022.RoleIssuer, fill(t, "pacs009-funding.xml", newFunding("RTGS-STMT-1", "1000.00"))))
	if grp != "ACSC" {
		t.Fatal("funding")
	}
	e.mint("bank-a", 500_00)
	alice := e.open("bank-a", "alice")
	bank := e.n.Banks["bank-a"]
	ctx := as("bank-a")
	for _, v := range []uint64{120_00, 30_05} {
		if _, err := bank.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: alice, Amount: v, Reference: "top-up"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bank.Pay(ctx, roles.Payment{From: alice, To: "bank-a.treasury", Amount: 50_00, Reference: "cash-out"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bank.Redeem(ctx, roles.RedeemRequest{Amount: 100_00}); err != nil {
		t.Fatal(err)
	}

	doc, err := e.gw().Statement(ctx, "bank-a", alice, today())
	if err != nil {
		t.Fatal(err)
	}
	o, c, net, n := stmt(t, doc)
	if o != 0 || c != e.balance(alice) || c != 100_05 || int64(o)+net != int64(c) || n != 3 {
		t.Fatalf("wallet statement: opening %d closing %d net %d entries %d, balance %d\n%s", o, c, net, n, e.balance(alice), doc)
	}
	// The treasury too (the mint in, the payments, the redeem out).
	doc, err = e.gw().Statement(ctx, "bank-a", "bank-a.treasury", today())
	if err != nil {
		t.Fatal(err)
	}
	o, c, net, _ = stmt(t, doc)
	if o != 0 || c != e.balance("bank-a.treasury") || int64(o)+net != int64(c) {
		t.Fatalf("treasury statement: opening %d closing %d net %d, balance %d\n%s", o, c, net, e.balance("bank-a.treasury"), doc)
	}

	doc, err = e.gw().Statement(as(iso20022.RoleIssuer), iso20022.RoleIssuer, "bank-a", today())
	if err != nil {
		t.Fatal(err)
	}
	o, c, net, n = stmt(t, doc)
	if o != open0 || c != e.reserve("bank-a") || c != open0+1000_00-500_00+100_00 || int64(o)+net != int64(c) || n != 3 {
		t.Fatalf("reserve statement: opening %d (want %d) closing %d (reserve %d) net %d entries %d\n%s", o, open0, c, e.reserve("bank-a"), net, n, doc)
	}
	// Yesterday: no entries, both balances the opening reserve.
	o, c, _, n = func() (uint64, uint64, int64, int) {
		doc, err := e.gw().Statement(as(iso20022.RoleIssuer), iso20022.RoleIssuer, "bank-a", today().AddDate(0, 0, -1))
		if err != nil {
			t.Fatal(err)
		}
		return stmt(t, doc)
	}()
	if o != open0 || c != open0 || n != 0 {
		t.Fatalf("yesterday's reserve statement: %d %d %d", o, c, n)
	}

	notes, err := e.gw().Notifications(ctx, "bank-a", alice, today())
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 3 {
		t.Fatalf("%d notifications", len(notes))
	}
	ids := map[string]bool{}
	for _, d := range notes {
		conforms(t, iso20022.Camt054, d)
		ids[iso20022.MsgIDOf(d)] = true
	}
	if len(ids) != 3 {
		t.Fatalf("notification ids not distinct: %v", ids)
	}

	// The redeem went out as a pacs.009 to bank-a's settlement account.
	ms, err := e.gw().Messages(as(iso20022.RoleIssuer), iso20022.RoleIssuer, today())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Kind != iso20022.Pacs009 {
		t.Fatalf("issuer produced %+v", ms)
	}
	conforms(t, iso20022.Pacs009, ms[0].XML)
	var p iso20022.Pacs009Doc
	if err := iso20022.Decode(ms[0].XML, iso20022.Pacs009, &p); err != nil {
		t.Fatal(err)
	}
	tx := p.Msg.CdtTrfTxInf[0]
	if tx.IntrBkSttlmAmt.Value != "100.00" || tx.Cdtr.BIC() != "BNKAUS33" || tx.CdtrAcct.Number() != "RTGS-BNKAUS33" || tx.Dbtr.BIC() != "SPCBUS33" {
		t.Fatalf("redemption pacs.009 %+v", tx)
	}
	// Listing again produces nothing new.
	if ms2, _ := e.gw().Messages(as(iso20022.RoleIssuer), iso20022.RoleIssuer, today()); len(ms2) != 1 {
		t.Fatalf("second listing: %d", len(ms2))
	}
	// Unknown account, and a bank reading the issuer's books.
	if _, err := e.gw().Statement(ctx, "bank-a", "bank-a.nosuch", today()); !isCode(err, "not_found") {
		t.Fatalf("unknown wallet: %v", err)
	}
	if _, err := e.gw().Statement(ctx, iso20022.RoleIssuer, "bank-a", today()); !isCode(err, "unauthorized") {
		t.Fatalf("bank-a reading reserves: %v", err)
	}
}
