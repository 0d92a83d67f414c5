package api_test

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func init() {
	// The gateway's bodies are XML documents; the spec types them as
	// strings, which the plain decoder reads.
	openapi3filter.RegisterBodyDecoder("application/xml", openapi3filter.PlainBodyDecoder)
}

// openRealGateway serves the ISO 20022 gateway over the real issuer and
// intermediaries of newRealEnv.
func openRealGateway(t *testing.T, dir string, cur money.Currency, desk iso20022.ReserveDesk, banks map[string]roles.Intermediary) *iso20022.Gateway {
	t.Helper()
	g, err := iso20022.Open(filepath.Join(dir, "iso20022"), iso20022.Config{Currency: cur, BIC: "SPCBUS33",
		BICs: map[string]string{"bank-a": "BNKAUS33", "bank-b": "BNKBUS33"}, Issuer: desk, Intermediaries: banks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// openFakeGateway serves a gateway over the fake intermediaries (for the
// route table).
func openFakeGateway(t *testing.T, banks map[string]roles.Intermediary) *iso20022.Gateway {
	t.Helper()
	g, err := iso20022.Open(t.TempDir(), iso20022.Config{Currency: money.Currency{Code: "USD", Exponent: 2}, Intermediaries: banks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func isoDoc(t *testing.T, v any) string {
	t.Helper()
	b, err := iso20022.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func bic(b string) iso20022.Agent { return iso20022.Agent{FinInstnID: iso20022.FinInstnID{BICFI: b}} }

func othr(id string) *iso20022.Account {
	return &iso20022.Account{ID: iso20022.AcctID{Othr: &iso20022.OtherAcctID{ID: id}}}
}

// isoConformance calls every ISO 20022 route for its success and each
// error it documents, on the real network behind the API.
func isoConformance(t *testing.T, c *conformance, e *realEnv) {
	t.Helper()
	u := e.srv.URL
	xml := map[string]string{"Content-Type": "application/xml"}
	do := func(route, path, token, body string, hdr map[string]string, status int, code string) response {
		t.Helper()
		return c.do(req{base: u, route: route, path: path, token: token, body: body, header: hdr}, status, code)
	}
	now := "2026-12-02T10:00:00Z"
	day := time.Now().UTC().Format("2006-01-02")
	amt := iso20022.Amt{Ccy: "USD", Value: "100.00"}

	fund := &iso20022.Pacs009Doc{}
	fund.Msg.GrpHdr = iso20022.GrpHdr93{MsgID: "CONF-RTGS-1", CreDtTm: now, NbOfTxs: "1", SttlmInf: iso20022.SttlmInf{SttlmMtd: "CLRG"}}
	fund.Msg.CdtTrfTxInf = []iso20022.CdtTrf44{{PmtID: iso20022.PmtID{EndToEndID: "E1"}, IntrBkSttlmAmt: amt, Dbtr: bic("BNKAUS33"), Cdtr: bic("SPCBUS33")}}
	fundDoc := isoDoc(t, fund)
	const post = "POST /v1/iso20022/{role}"
	r := do(post, "/v1/iso20022/issuer", issuerTok, fundDoc, xml, 200, "")
	if !strings.Contains(string(r.body), "<GrpSts>ACSC</GrpSts>") {
		t.Fatalf("funding answered %s", r.body)
	}
	do(post, "/v1/iso20022/issuer", issuerTok, fundDoc, nil, 400, "malformed")
	do(post, "/v1/iso20022/issuer", "", fundDoc, xml, 401, "unauthorized")
	do(post, "/v1/iso20022/issuer", bankATok, fundDoc, xml, 403, "unauthorized")
	do(post, "/v1/iso20022/bank-z", bankATok, fundDoc, xml, 404, "not_found")

	// A deposit to a wallet that does not exist: rejected and returned by
	// a pacs.004, a produced message.
	dep := &iso20022.Pacs008Doc{}
	dep.Msg.GrpHdr = iso20022.GrpHdr93{MsgID: "CONF-DEP-1", CreDtTm: now, NbOfTxs: "1", SttlmInf: iso20022.SttlmInf{SttlmMtd: "CLRG"}}
	dep.Msg.CdtTrfTxInf = []iso20022.CdtTrf43{{PmtID: iso20022.PmtID{EndToEndID: "E2"}, IntrBkSttlmAmt: amt, ChrgBr: "SLEV",
		DbtrAgt: bic("DEUTDEFFXXX"), CdtrAgt: bic("BNKAUS33"), CdtrAcct: othr("bank-a.nosuchwallet")}}
	r = do(post, "/v1/iso20022/bank-a", bankATok, isoDoc(t, dep), xml, 200, "")
	if !strings.Contains(string(r.body), "<Cd>AC01</Cd>") {
		t.Fatalf("deposit answered %s", r.body)
	}

	const list = "GET /v1/iso20022/{role}/messages"
	r = do(list, "/v1/iso20022/bank-a/messages?date="+day, bankATok, "", nil, 200, "")
	var ms struct {
		Messages []struct {
			MsgID string `json:"msg_id"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(r.body, &ms); err != nil || len(ms.Messages) != 1 {
		t.Fatalf("messages %s: %v", r.body, err)
	}
	do(list, "/v1/iso20022/issuer/messages?date="+day, issuerTok, "", nil, 200, "")
	do(list, "/v1/iso20022/bank-a/messages?date=yesterday", bankATok, "", nil, 400, "malformed")
	do(list, "/v1/iso20022/bank-a/messages?date="+day, "", "", nil, 401, "unauthorized")
	do(list, "/v1/iso20022/bank-z/messages?date="+day, bankATok, "", nil, 404, "not_found")
	const one = "GET /v1/iso20022/{role}/messages/{id}"
	do(one, "/v1/iso20022/bank-a/messages/"+url.PathEscape(ms.Messages[0].MsgID), bankATok, "", nil, 200, "")
	do(one, "/v1/iso20022/bank-a/messages/nosuch", bankATok, "", nil, 404, "not_found")
	do(one, "/v1/iso20022/bank-a/messages/nosuch", "", "", nil, 401, "unauthorized")

	const stmt = "GET /v1/iso20022/{role}/statements/{account}"
	r = do(stmt, "/v1/iso20022/issuer/statements/bank-a?date="+day, issuerTok, "", nil, 200, "")
	if !strings.Contains(string(r.body), "<Cd>CLBD</Cd>") {
		t.Fatalf("statement %s", r.body)
	}
	do(stmt, "/v1/iso20022/bank-a/statements/bank-a.treasury?date="+day, bankATok, "", nil, 200, "")
	do(stmt, "/v1/iso20022/issuer/statements/bank-a?date=2026-13-01", issuerTok, "", nil, 400, "malformed")
	do(stmt, "/v1/iso20022/issuer/statements/bank-a?date="+day, "", "", nil, 401, "unauthorized")
	do(stmt, "/v1/iso20022/issuer/statements/bank-a?date="+day, bankATok, "", nil, 403, "unauthorized")
	do(stmt, "/v1/iso20022/issuer/statements/bank-z?date="+day, issuerTok, "", nil, 404, "not_found")

	const notes = "GET /v1/iso20022/{role}/notifications/{account}"
	r = do(notes, "/v1/iso20022/issuer/notifications/bank-a?date="+day, issuerTok, "", nil, 200, "")
	if !strings.Contains(string(r.body), "camt.054.001.08") {
		t.Fatalf("notifications %s", r.body)
	}
	do(notes, "/v1/iso20022/issuer/notifications/bank-a", issuerTok, "", nil, 400, "malformed")
	do(notes, "/v1/iso20022/issuer/notifications/bank-a?date="+day, "", "", nil, 401, "unauthorized")
	do(notes, "/v1/iso20022/bank-a/notifications/bank-a.nosuch?date="+day, bankATok, "", nil, 404, "not_found")

	// A request to pay by bank-b's treasury (the payee, whose intermediary
	// takes the pain.013) of bank-a's treasury (the payer), declined at
	// bank-a; accepting it afterwards is a conflict.
	rtp := &iso20022.Pain013Doc{}
	rtp.Msg.GrpHdr = iso20022.GrpHdr95{MsgID: "CONF-RTP-1", CreDtTm: now, NbOfTxs: "1", InitgPty: iso20022.Party{Nm: "Shop"}}
	rtp.Msg.PmtInf = []iso20022.RTPPmtInf{{PmtMtd: "TRF", ReqdExctnDt: iso20022.DateChoice{Dt: "2026-12-02"}, Dbtr: iso20022.Party{Nm: "Payer"},
		DbtrAcct: othr("bank-a.treasury"), DbtrAgt: bic("BNKAUS33"), CdtTrfTx: []iso20022.RTPTx{{PmtID: iso20022.PmtID{EndToEndID: "E3"},
			Amt: iso20022.InstdAmt{InstdAmt: amt}, ChrgBr: "SLEV", CdtrAgt: bic("BNKBUS33"), Cdtr: iso20022.Party{Nm: "Shop"}, CdtrAcct: othr("bank-b.treasury")}}}}
	r = do(post, "/v1/iso20022/bank-b", bankBTok, isoDoc(t, rtp), xml, 200, "")
	_, after, _ := strings.Cut(string(r.body), "<AcctSvcrRef>")
	ref, _, _ := strings.Cut(after, "</AcctSvcrRef>")
	if ref == "" || !strings.Contains(string(r.body), "<TxSts>PDNG</TxSts>") {
		t.Fatalf("request to pay answered %s", r.body)
	}
	const status = "GET /v1/iso20022/{role}/requests/{id}"
	do(status, "/v1/iso20022/bank-b/requests/"+ref, bankBTok, "", nil, 200, "")
	do(status, "/v1/iso20022/bank-b/requests/"+ref, "", "", nil, 401, "unauthorized")
	do(status, "/v1/iso20022/bank-b/requests/bank-b.rqnosuch", bankBTok, "", nil, 404, "not_found")
	const decide = "POST /v1/iso20022/{role}/requests/{id}"
	do(decide, "/v1/iso20022/bank-a/requests/"+ref, bankATok, `{"accept":false}`, nil, 200, "")
	do(decide, "/v1/iso20022/bank-a/requests/"+ref, bankATok, `{"accept":true}`, nil, 409, "conflict")
	do(decide, "/v1/iso20022/bank-a/requests/"+ref, bankATok, `{}`, nil, 400, "malformed")
	do(decide, "/v1/iso20022/bank-a/requests/"+ref, "", `{"accept":true}`, nil, 401, "unauthorized")
	do(decide, "/v1/iso20022/bank-a/requests/bank-b.rqnosuch", bankATok, `{"accept":true}`, nil, 404, "not_found")
}
