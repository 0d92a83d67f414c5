package iso20022_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/specie/specie/internal/iso20022"
)

// TestFundingPacs009 funds bank-a's reserve by an RTGS pacs.009 and checks
// exactly once: the same message again (also after a restart) gets the
// same answer and credits nothing more; the same MsgId with other content
// and the same payment in a new message are refused DUPL.
func TestFundingPacs009(t *testing.T) {
	e := up(t)
	before := e.reserve("bank-a")
	doc := fill(t, "pacs009-funding.xml", newFunding("RTGS-20261202-0001", "2500000.00"))
	conforms(t, iso20022.Pacs009, doc)

	a := e.send(iso20022.RoleIssuer, doc)
	grp, _, txs := status(t, a)
	if grp != "ACSC" || txs["E2E-RTGS-20261202-0001"] != "ACSC" {
		t.Fatalf("funding answered %s %v\n%s", grp, txs, a.XML)
	}
	if got := e.reserve("bank-a"); got != before+2_500_000_00 {
		t.Fatalf("reserve %d, want %d", got, before+2_500_000_00)
	}

	again := e.send(iso20022.RoleIssuer, doc)
	if !bytes.Equal(again.XML, a.XML) {
		t.Fatalf("resent message got another answer:\n%s\nfirst:\n%s", again.XML, a.XML)
	}
	e.restart()
	again = e.send(iso20022.RoleIssuer, doc)
	if !bytes.Equal(again.XML, a.XML) {
		t.Fatalf("resent message after restart got another answer:\n%s", again.XML)
	}
	if got := e.reserve("bank-a"); got != before+2_500_000_00 {
		t.Fatalf("reserve %d after resends, want %d", got, before+2_500_000_00)
	}

	// Same MsgId, other amount: refused as a duplicate, nothing credited.
	other := fill(t, "pacs009-funding.xml", newFunding("RTGS-20261202-0001", "1.00"))
	grp, reason, _ := status(t, e.send(iso20022.RoleIssuer, other))
	if grp != "RJCT" || reason != "DUPL" {
		t.Fatalf("same MsgId other content: %s/%s", grp, reason)
	}
	// Same payment (UETR) in a new message: that payment is refused.
	f := newFunding("RTGS-20261202-0002", "2500000.00")
	f.UETR = newFunding("RTGS-20261202-0001", "").UETR
	grp, _, txs = status(t, e.send(iso20022.RoleIssuer, fill(t, "pacs009-funding.xml", f)))
	if grp != "RJCT" || txs[f.E2E] != "RJCT/DUPL" {
		t.Fatalf("same UETR in another message: %s %v", grp, txs)
	}
	if got := e.reserve("bank-a"); got != before+2_500_000_00 {
		t.Fatalf("reserve %d after duplicates, want %d", got, before+2_500_000_00)
	}
}

// TestFundingRejections refuses pacs.009s that cannot be applied, each
// with its ISO reason code, and leaves every reserve as it was.
func TestFundingRejections(t *testing.T) {
	e := up(t)
	tests := []struct {
		name   string
		edit   func(*funding)
		raw    func([]byte) []byte
		group  bool // the whole message is refused (format), not one payment
		reason string
		says   string // the explanation names this (for format errors)
	}{
		{name: "unknown BIC", edit: func(f *funding) { f.Debtor = "UNKNUS33" }, reason: "AC01"},
		{name: "creditor not the central bank", edit: func(f *funding) { f.Creditor = "OTHRUS33" }, reason: "AC01"},
		{name: "other currency", edit: func(f *funding) { f.Ccy = "EUR" }, reason: "CURR"},
		{name: "too many decimals", edit: func(f *funding) { f.Amount = "10.001" }, reason: "AM12"},
		{name: "zero", edit: func(f *funding) { f.Amount = "0.00" }, reason: "AM01"},
		// The schema itself refuses these (minInclusive 0, xs:decimal,
		// totalDigits 18): the whole message is FF01 naming the element.
		{name: "negative", edit: func(f *funding) { f.Amount = "-5.00" }, group: true, reason: "FF01", says: "IntrBkSttlmAmt"},
		{name: "not a number", edit: func(f *funding) { f.Amount = "1e5" }, group: true, reason: "FF01", says: "IntrBkSttlmAmt"},
		{name: "overflow", edit: func(f *funding) { f.Amount = "999999999999999999.99" }, group: true, reason: "FF01", says: "more than the"},
		{name: "element out of order", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("<NbOfTxs>1</NbOfTxs>"), []byte(""), 1)
		}, group: true, reason: "FF01", says: "NbOfTxs"},
		{name: "unknown element", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("<SttlmPrty>HIGH</SttlmPrty>"), []byte("<Bogus>1</Bogus>"), 1)
		}, group: true, reason: "FF01", says: "Bogus"},
		{name: "bad BIC", edit: func(f *funding) { f.Debtor = "bank-a" }, group: true, reason: "FF01", says: "BICFI"},
		{name: "not XML", raw: func(b []byte) []byte { return b[:len(b)/2] }, group: true, reason: "FF01"},
		{name: "DOCTYPE with entities", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("<Document"), []byte(`<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>`+"\n<Document"), 1)
		}, group: true, reason: "FF01"},
		{name: "external entity", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("<Document"), []byte(`<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>`+"\n<Document"), 1)
		}, group: true, reason: "FF01"},
		{name: "other namespace", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("pacs.009.001.09"), []byte("pacs.009.001.08"), 1)
		}, group: true, reason: "FF01"},
		{name: "too large", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte("<FICdtTrf>"), []byte("<FICdtTrf>"+strings.Repeat(" ", iso20022.MaxDocument)), 1)
		}, group: true, reason: "FF01"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a0, b0 := e.reserve("bank-a"), e.reserve("bank-b")
			f := newFunding("RTGS-REJ-"+string(rune('A'+i)), "100.00")
			if tc.edit != nil {
				tc.edit(&f)
			}
			doc := fill(t, "pacs009-funding.xml", f)
			if tc.raw != nil {
				doc = tc.raw(doc)
			}
			a := e.send(iso20022.RoleIssuer, doc)
			grp, greason, txs := status(t, a)
			if grp != "RJCT" {
				t.Fatalf("group status %s, want RJCT\n%s", grp, a.XML)
			}
			if tc.group && greason != tc.reason {
				t.Fatalf("group reason %s, want %s\n%s", greason, tc.reason, a.XML)
			}
			if tc.says != "" && !strings.Contains(string(a.XML), tc.says) {
				t.Fatalf("the rejection does not name %q:\n%s", tc.says, a.XML)
			}
			if !tc.group && txs[f.E2E] != "RJCT/"+tc.reason {
				t.Fatalf("payment %v, want RJCT/%s\n%s", txs, tc.reason, a.XML)
			}
			if a1, b1 := e.reserve("bank-a"), e.reserve("bank-b"); a1 != a0 || b1 != b0 {
				t.Fatalf("reserves moved: %d,%d -> %d,%d", a0, b0, a1, b1)
			}
		})
	}
}
