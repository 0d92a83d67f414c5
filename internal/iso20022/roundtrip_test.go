package iso20022_test

import (
	"reflect"
	"testing"

	"github.com/specie/specie/internal/iso20022"
)

// TestRoundTrips writes one message of each kind from typed structs,
// validates it against its official XSD, reads it back and compares.
func TestRoundTrips(t *testing.T) {
	amt := iso20022.Amt{Ccy: "USD", Value: "1234.56"}
	agent := iso20022.Agent{FinInstnID: iso20022.FinInstnID{BICFI: "BNKAUS33"}}
	acct := &iso20022.Account{ID: iso20022.AcctID{Othr: &iso20022.OtherAcctID{ID: "bank-a.k3j9x2"}}}
	iban := &iso20022.Account{ID: iso20022.AcctID{IBAN: "DE89370400440532013000"}}
	pmt := iso20022.PmtID{InstrID: "I1", EndToEndID: "E2E-1", TxID: "TX-1", UETR: "8a562c67-ca16-48ba-b074-65581be6f001"}
	rsn := []iso20022.StsRsnInf{{Rsn: &iso20022.Reason{Cd: "AC01"}, AddtlInf: []string{"no such wallet"}}}
	when := "2026-12-02T10:00:00.000Z"

	p008 := &iso20022.Pacs008Doc{}
	p008.Msg.GrpHdr = iso20022.GrpHdr93{MsgID: "M8", CreDtTm: when, NbOfTxs: "1", TtlIntrBkSttlmAmt: &amt, IntrBkSttlmDt: "2026-12-02", SttlmInf: iso20022.SttlmInf{SttlmMtd: "CLRG"}, InstgAgt: &agent}
	p008.Msg.CdtTrfTxInf = []iso20022.CdtTrf43{{PmtID: pmt, IntrBkSttlmAmt: amt, ChrgBr: "SLEV", Dbtr: iso20022.Party{Nm: "Maria", PstlAdr: &iso20022.PostalAddress{TwnNm: "Rome", Ctry: "IT"}},
		DbtrAcct: iban, DbtrAgt: agent, CdtrAgt: agent, Cdtr: iso20022.Party{Nm: "Alice"}, CdtrAcct: acct, RmtInf: &iso20022.RmtInf{Ustrd: []string{"invoice 1"}}}}

	p009 := &iso20022.Pacs009Doc{}
	p009.Msg.GrpHdr = iso20022.GrpHdr93{MsgID: "M9", CreDtTm: when, NbOfTxs: "1", SttlmInf: iso20022.SttlmInf{SttlmMtd: "CLRG"}}
	p009.Msg.CdtTrfTxInf = []iso20022.CdtTrf44{{PmtID: pmt, IntrBkSttlmAmt: amt, Dbtr: agent, Cdtr: agent, CdtrAcct: acct}}

	p002 := &iso20022.Pacs002Doc{}
	p002.Msg.GrpHdr = iso20022.GrpHdr91{MsgID: "M2", CreDtTm: when}
	p002.Msg.OrgnlGrpInfAndSts = iso20022.OrgnlGrp17{OrgnlMsgID: "M8", OrgnlMsgNmID: iso20022.Pacs008, GrpSts: "PART"}
	p002.Msg.TxInfAndSts = []iso20022.TxSts{{OrgnlEndToEndID: "E2E-1", OrgnlUETR: pmt.UETR, TxSts: "RJCT", StsRsnInf: rsn}}

	p004 := &iso20022.Pacs004Doc{}
	p004.Msg.GrpHdr = iso20022.GrpHdr90{MsgID: "M4", CreDtTm: when, NbOfTxs: "1", SttlmInf: iso20022.SttlmInf{SttlmMtd: "CLRG"}}
	p004.Msg.TxInf = []iso20022.RtrTx{{RtrID: "R1", OrgnlGrpInf: &iso20022.OrgnlGrpInf{OrgnlMsgID: "M8", OrgnlMsgNmID: iso20022.Pacs008}, OrgnlEndToEndID: "E2E-1", RtrdIntrBkSttlmAmt: amt, RtrRsnInf: rsn}}

	c053 := &iso20022.Camt053Doc{}
	c053.Msg.GrpHdr = iso20022.GrpHdr81{MsgID: "S1", CreDtTm: when}
	bal := iso20022.Balance{Amt: amt, CdtDbtInd: "CRDT", Dt: iso20022.DateChoice{Dt: "2026-12-02"}}
	bal.Tp.CdOrPrtry.Cd = "OPBD"
	dom := &iso20022.BkTxDomain{Cd: "PMNT"}
	dom.Fmly.Cd, dom.Fmly.SubFmlyCd = "RCDT", "DMCT"
	entry := iso20022.Entry{Amt: amt, CdtDbtInd: "CRDT", Sts: iso20022.EntryStatus{Cd: "BOOK"}, BkTxCd: iso20022.BkTxCd{Domn: dom},
		NtryDtls: []iso20022.EntryDetail{{TxDtls: []iso20022.TxDetail{{Refs: &iso20022.TxRefs{EndToEndID: "E2E-1"}}}}}}
	c053.Msg.Stmt = []iso20022.Statement{{ID: "S1", Acct: iso20022.StmtAccount{ID: acct.ID, Ccy: "USD", Svcr: &agent}, Bal: []iso20022.Balance{bal}, Ntry: []iso20022.Entry{entry}}}

	c054 := &iso20022.Camt054Doc{}
	c054.Msg.GrpHdr = iso20022.GrpHdr81{MsgID: "N1", CreDtTm: when}
	c054.Msg.Ntfctn = []iso20022.Notification{{ID: "N1", Acct: iso20022.StmtAccount{ID: acct.ID}, Ntry: []iso20022.Entry{entry}}}

	ag := iso20022.PartyOrAgent{Agt: &agent}
	c056 := &iso20022.Camt056Doc{}
	c056.Msg.Assgnmt = iso20022.Assignment{ID: "C1", Assgnr: ag, Assgne: ag, CreDtTm: when}
	c056.Msg.Undrlyg = []iso20022.Underlying{{TxInf: []iso20022.CxlTx{{OrgnlGrpInf: &iso20022.OrgnlGrpInf{OrgnlMsgID: "M8", OrgnlMsgNmID: iso20022.Pacs008}, OrgnlEndToEndID: "E2E-1", OrgnlIntrBkSttlmAmt: &amt}}}}

	c029 := &iso20022.Camt029Doc{}
	c029.Msg.Assgnmt = iso20022.Assignment{ID: "C2", Assgnr: ag, Assgne: ag, CreDtTm: when}
	c029.Msg.Sts.Conf = "RJCR"
	c029.Msg.CxlDtls = []iso20022.CxlDetails{{TxInfAndSts: []iso20022.CxlTxSts{{OrgnlEndToEndID: "E2E-1", TxCxlSts: "RJCR", CxlStsRsnInf: rsn}}}}

	p001 := &iso20022.Pain001Doc{}
	p001.Msg.GrpHdr = iso20022.GrpHdr95{MsgID: "P1", CreDtTm: when, NbOfTxs: "1", InitgPty: iso20022.Party{Nm: "Shop"}}
	p001.Msg.PmtInf = []iso20022.PmtInf34{{PmtInfID: "PI", PmtMtd: "TRF", ReqdExctnDt: iso20022.DateChoice{Dt: "2026-12-02"}, Dbtr: iso20022.Party{Nm: "Shop"},
		DbtrAcct: *acct, DbtrAgt: agent, CdtTrfTxInf: []iso20022.CdtTrf40{{PmtID: iso20022.PmtID{EndToEndID: "E2E-1"}, Amt: iso20022.InstdAmt{InstdAmt: amt}, CdtrAgt: &agent, CdtrAcct: iban}}}}

	p002c := &iso20022.Pain002Doc{}
	p002c.Msg.GrpHdr = iso20022.GrpHdr91{MsgID: "P2", CreDtTm: when}
	p002c.Msg.OrgnlGrpInfAndSts = iso20022.OrgnlGrp17{OrgnlMsgID: "P1", OrgnlMsgNmID: iso20022.Pain001, GrpSts: "ACSC"}
	p002c.Msg.OrgnlPmtInfAndSts = []iso20022.OrgnlPmtInf{{OrgnlPmtInfID: "PI", TxInfAndSts: []iso20022.TxSts{{OrgnlEndToEndID: "E2E-1", TxSts: "ACSC"}}}}

	p013 := &iso20022.Pain013Doc{}
	p013.Msg.GrpHdr = iso20022.GrpHdr95{MsgID: "R1", CreDtTm: when, NbOfTxs: "1", InitgPty: iso20022.Party{Nm: "Shop"}}
	p013.Msg.PmtInf = []iso20022.RTPPmtInf{{PmtMtd: "TRF", ReqdExctnDt: iso20022.DateChoice{Dt: "2026-12-02"}, Dbtr: iso20022.Party{Nm: "Alice"}, DbtrAcct: acct, DbtrAgt: agent,
		CdtTrfTx: []iso20022.RTPTx{{PmtID: iso20022.PmtID{EndToEndID: "E2E-1"}, Amt: iso20022.InstdAmt{InstdAmt: amt}, ChrgBr: "SLEV", CdtrAgt: agent, Cdtr: iso20022.Party{Nm: "Shop"}, CdtrAcct: acct}}}}

	p014 := &iso20022.Pain014Doc{}
	p014.Msg.GrpHdr.MsgID, p014.Msg.GrpHdr.CreDtTm, p014.Msg.GrpHdr.InitgPty = "R2", when, iso20022.Party{Nm: "Specie"}
	p014.Msg.OrgnlGrpInfAndSts = iso20022.OrgnlGrp17{OrgnlMsgID: "R1", OrgnlMsgNmID: iso20022.Pain013, GrpSts: "PDNG"}

	for _, tc := range []struct {
		msg string
		v   any
	}{
		{iso20022.Pacs008, p008}, {iso20022.Pacs009, p009}, {iso20022.Pacs002, p002}, {iso20022.Pacs004, p004},
		{iso20022.Camt053, c053}, {iso20022.Camt054, c054}, {iso20022.Camt056, c056}, {iso20022.Camt029, c029},
		{iso20022.Pain001, p001}, {iso20022.Pain002, p002c}, {iso20022.Pain013, p013}, {iso20022.Pain014, p014},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			doc, err := iso20022.Encode(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			conforms(t, tc.msg, doc)
			if got, err := iso20022.Detect(doc); err != nil || got != tc.msg {
				t.Fatalf("detect: %q %v", got, err)
			}
			back := reflect.New(reflect.TypeOf(tc.v).Elem()).Interface()
			if err := iso20022.Decode(doc, tc.msg, back); err != nil {
				t.Fatal(err)
			}
			again, err := iso20022.Encode(back)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(doc) {
				t.Fatalf("round trip changed the document:\n%s\nwas:\n%s", again, doc)
			}
		})
	}
}
