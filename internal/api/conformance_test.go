package api_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
)

func sig(s [64]byte) []byte { return s[:] }

// TestResponsesConformToSpec calls every route of api/openapi.yaml on the
// real network (real ledger, issuer and intermediaries behind the API
// server) for its success and for each error status the spec documents
// for it, and checks every answer's status, content type and body
// against the spec's schema for that status. Statuses the real network
// cannot be made to answer on demand (503 unavailable) come from the same
// server over fake services that fail. Every status a route documents
// must have been provoked, so the spec cannot promise what the server
// never says, and the server cannot say what the spec does not document.
func TestResponsesConformToSpec(t *testing.T) {
	c := newConformance(t)
	e := newRealEnv(t)
	ctx := context.Background()
	net := e.net.Network
	u := e.srv.URL
	do := func(route, path, token, body string, status int, code string) response {
		t.Helper()
		return c.do(req{base: u, route: route, path: path, token: token, body: body}, status, code)
	}

	// --- ops ---
	do("GET /healthz", "/healthz", "", "", 200, "")
	do("GET /metrics", "/metrics", "", "", 200, "")

	// --- ledger ---
	do("GET /v1/info", "/v1/info", "", "", 200, "")
	do("GET /v1/info", "/v1/info", "not-a-token", "", 401, "unauthorized")

	owner, alice := key(8), key(10)
	const submit = "POST /v1/transactions"
	mint := e.net.Mint([]int{0, 2}, ledgertest.To(owner, 250000))
	do(submit, "/v1/transactions", issuerTok, `{"tx":"`+b64(t, mint)+`"}`, 200, "")
	do(submit, "/v1/transactions", issuerTok, `{"tx":"`+b64(t, mint)+`"}`, 409, "double_spend")
	do(submit, "/v1/transactions", issuerTok, `{"tx":"@@"}`, 400, "malformed")
	do(submit, "/v1/transactions", "", `{"tx":"`+b64(t, mint)+`"}`, 401, "unauthorized")
	do(submit, "/v1/transactions", auditorTok, `{"tx":"`+b64(t, mint)+`"}`, 403, "unauthorized")
	minted := e.net.Notes(mint)
	forged := e.net.Spend(money.Transfer, minted, []*crypto.PrivateKey{alice}, ledgertest.To(alice, 250000))
	do(submit, "/v1/transactions", bankATok, `{"tx":"`+b64(t, forged)+`"}`, 400, "bad_signature")
	ghost := money.Note{TxID: hashOf(0x55), Index: 0, Output: ledgertest.To(owner, 5)}
	spendGhost := e.net.Spend(money.Transfer, []money.Note{ghost}, []*crypto.PrivateKey{owner}, ledgertest.To(alice, 5))
	do(submit, "/v1/transactions", bankATok, `{"tx":"`+b64(t, spendGhost)+`"}`, 422, "unknown_note")
	do(submit, "/v1/transactions", bankATok, `{"tx":"`+b64(t, e.net.Mint([]int{0}, ledgertest.To(owner, 1)))+`"}`, 401, "unauthorized")

	tx := e.net.Spend(money.Transfer, minted, []*crypto.PrivateKey{owner}, ledgertest.To(alice, 1000), ledgertest.To(owner, 249000))
	const batch = "POST /v1/transactions/batch"
	do(batch, "/v1/transactions/batch", bankATok, `{"txs":["`+b64(t, tx)+`","`+b64(t, tx)+`","@@"]}`, 200, "")
	do(batch, "/v1/transactions/batch", bankATok, `{"txs":"x"}`, 400, "malformed")
	do(batch, "/v1/transactions/batch", "", `{"txs":[]}`, 401, "unauthorized")
	do(batch, "/v1/transactions/batch", auditorTok, `{"txs":[]}`, 403, "unauthorized")

	const getTx = "GET /v1/transactions/{txid}"
	do(getTx, "/v1/transactions/"+net.TxID(tx).String(), "", "", 200, "")
	do(getTx, "/v1/transactions/"+hashOf(0x99).String(), "", "", 404, "not_found")
	do(getTx, "/v1/transactions/zz", "", "", 400, "malformed")
	do(getTx, "/v1/transactions/"+net.TxID(tx).String(), "not-a-token", "", 401, "unauthorized")

	notes := e.net.Notes(tx)
	const getNote = "GET /v1/notes/{noteid}"
	do(getNote, "/v1/notes/"+net.NoteID(&notes[0]).String(), "", "", 200, "")
	do(getNote, "/v1/notes/"+net.NoteID(&minted[0]).String(), auditorTok, "", 200, "") // spent
	do(getNote, "/v1/notes/ZZ", "", "", 400, "malformed")
	do(getNote, "/v1/notes/"+net.NoteID(&notes[0]).String(), "not-a-token", "", 401, "unauthorized")

	const headers = "GET /v1/log/headers"
	do(headers, "/v1/log/headers?from=1&limit=2", "", "", 200, "")
	do(headers, "/v1/log/headers?from=0", "", "", 400, "malformed")
	do(headers, "/v1/log/headers", "not-a-token", "", 401, "unauthorized")

	do("GET /v1/supply", "/v1/supply", "", "", 200, "")
	do("GET /v1/supply", "/v1/supply", "not-a-token", "", 401, "unauthorized")

	// --- issuer: a mint to bank-a's treasury, proposed and approved ---
	const propose = "POST /v1/issuer/mints"
	r := do(propose, "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"2500.00"}`, 201, "")
	id := r.json(t)["id"].(string)
	do(propose, "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"-1"}`, 400, "malformed")
	do(propose, "/v1/issuer/mints", "", `{"to":"bank-a","amount":"1"}`, 401, "unauthorized")
	do(propose, "/v1/issuer/mints", bankATok, `{"to":"bank-a","amount":"1"}`, 403, "unauthorized")
	do(propose, "/v1/issuer/mints", issuerTok, `{"to":"bank-z","amount":"1"}`, 404, "not_found")
	do(propose, "/v1/issuer/mints", issuerTok, fmt.Sprintf(`{"to":"bank-b","amount":"%d"}`, openingReserve+1), 422, "insufficient_funds")

	const getMint = "GET /v1/issuer/mints/{id}"
	do(getMint, "/v1/issuer/mints/"+id, issuerTok, "", 200, "")
	do(getMint, "/v1/issuer/mints/xyz", issuerTok, "", 400, "malformed")
	do(getMint, "/v1/issuer/mints/"+id, "", "", 401, "unauthorized")
	do(getMint, "/v1/issuer/mints/"+id, bankATok, "", 403, "unauthorized")
	do(getMint, "/v1/issuer/mints/"+hashOf(0x77).String(), issuerTok, "", 404, "not_found")

	const approve = "POST /v1/issuer/mints/{id}/approvals"
	mid, err := money.ParseHash(id)
	noErr(t, err)
	approval := func(k *crypto.PrivateKey, over money.Hash) string {
		return `{"key":"` + k.Public().String() + `","signature":"` + hex.EncodeToString(sig(k.Sign(crypto.Mint, net.ID, over))) + `"}`
	}
	o0, o1 := e.net.Officers[0], e.net.Officers[1]
	ap := "/v1/issuer/mints/" + id + "/approvals"
	do(approve, ap, issuerTok, approval(o0, mid), 200, "")
	do(approve, ap, issuerTok, approval(o0, mid), 409, "conflict")
	do(approve, ap, issuerTok, approval(o1, hashOf(1)), 400, "bad_signature")
	do(approve, ap, issuerTok, `{"key":"zz","signature":""}`, 400, "malformed")
	do(approve, ap, issuerTok, approval(key(9), mid), 401, "unauthorized")
	do(approve, ap, bankATok, approval(o1, mid), 403, "unauthorized")
	do(approve, "/v1/issuer/mints/"+hashOf(0x77).String()+"/approvals", issuerTok, approval(o1, hashOf(0x77)), 404, "not_found")
	do(approve, ap, issuerTok, approval(o1, mid), 200, "")
	treasury := e.bankC.Intermediary("bank-a")
	eventually(t, "mint delivered to the treasury", func() error {
		w, err := treasury.Wallet(ctx, "bank-a.treasury")
		if err == nil && w.Balance != 250000 {
			err = fmt.Errorf("treasury balance %d", w.Balance)
		}
		return err
	})

	// A redeem through the issuer desk, of the owner's change.
	const issRedeem = "POST /v1/issuer/redeems"
	red := e.net.Spend(money.Redeem, notes[1:2], []*crypto.PrivateKey{owner}, ledgertest.To(owner, 240000))
	red.Auth = nil
	do(issRedeem, "/v1/issuer/redeems", bankATok, `{"tx":"`+b64(t, red)+`"}`, 200, "")
	again := e.net.Spend(money.Redeem, notes[1:2], []*crypto.PrivateKey{owner}, ledgertest.To(owner, 230000))
	again.Auth = nil
	do(issRedeem, "/v1/issuer/redeems", bankATok, `{"tx":"`+b64(t, again)+`"}`, 409, "double_spend")
	do(issRedeem, "/v1/issuer/redeems", bankATok, `{"tx":""}`, 400, "malformed")
	do(issRedeem, "/v1/issuer/redeems", "", `{"tx":"`+b64(t, red)+`"}`, 401, "unauthorized")
	// The issuer answers 401, not 403, to a known principal that is not an
	// intermediary (its choice; the spec documents what it does).
	do(issRedeem, "/v1/issuer/redeems", issuerTok, `{"tx":"`+b64(t, red)+`"}`, 401, "unauthorized")
	redGhost := e.net.Spend(money.Redeem, []money.Note{ghost}, []*crypto.PrivateKey{owner}, ledgertest.To(owner, 1))
	redGhost.Auth = nil
	do(issRedeem, "/v1/issuer/redeems", bankATok, `{"tx":"`+b64(t, redGhost)+`"}`, 422, "unknown_note")

	// --- intermediaries ---
	const open = "POST /v1/intermediaries/{name}/wallets"
	r = do(open, "/v1/intermediaries/bank-a/wallets", bankATok, `{"owner":"Alice"}`, 201, "")
	aliceW := r.json(t)["id"].(string)
	r = do(open, "/v1/intermediaries/bank-b/wallets", bankBTok, `{"owner":"Bob"}`, 201, "")
	bobW := r.json(t)["id"].(string)
	do(open, "/v1/intermediaries/bank-a/wallets", bankATok, `{"owner":""}`, 400, "malformed")
	do(open, "/v1/intermediaries/bank-a/wallets", "", `{"owner":"x"}`, 401, "unauthorized")
	do(open, "/v1/intermediaries/bank-a/wallets", issuerTok, `{"owner":"x"}`, 403, "unauthorized")
	do(open, "/v1/intermediaries/bank-z/wallets", bankATok, `{"owner":"x"}`, 404, "not_found")

	const pay = "POST /v1/intermediaries/{name}/payments"
	pp := "/v1/intermediaries/bank-a/payments"
	do(pay, pp, bankATok, `{"from":"bank-a.treasury","to":"`+aliceW+`","amount":"1000.00","reference":"welcome","idempotency_key":"k1"}`, 200, "")
	do(pay, pp, bankATok, `{"from":"`+aliceW+`","to":"`+bobW+`","amount":"250","reference":"rent"}`, 200, "")
	do(pay, pp, bankATok, `{"from":"bank-a.treasury","to":"`+aliceW+`","amount":"999","idempotency_key":"k1"}`, 409, "conflict")
	do(pay, pp, bankATok, `{"from":"`+aliceW+`","to":"`+bobW+`","amount":"100000000"}`, 422, "insufficient_funds")
	do(pay, pp, bankATok, `{"from":"`+aliceW+`","to":"`+bobW+`","amount":"0"}`, 400, "malformed")
	do(pay, pp, "", `{"from":"`+aliceW+`","to":"`+bobW+`","amount":"1"}`, 401, "unauthorized")
	do(pay, pp, bankATok, `{"from":"`+bobW+`","to":"`+aliceW+`","amount":"1"}`, 403, "unauthorized")
	do(pay, pp, bankATok, `{"from":"bank-a.nosuch","to":"`+bobW+`","amount":"1"}`, 404, "not_found")

	const wallet = "GET /v1/intermediaries/{name}/wallets/{id}"
	do(wallet, "/v1/intermediaries/bank-a/wallets/"+aliceW, bankATok, "", 200, "")
	do(wallet, "/v1/intermediaries/bank-a/wallets/"+aliceW, "", "", 401, "unauthorized")
	do(wallet, "/v1/intermediaries/bank-b/wallets/"+bobW, bankATok, "", 403, "unauthorized")
	do(wallet, "/v1/intermediaries/bank-a/wallets/bank-a.nosuch", bankATok, "", 404, "not_found")

	const history = "GET /v1/intermediaries/{name}/wallets/{id}/history"
	do(history, "/v1/intermediaries/bank-a/wallets/"+aliceW+"/history", bankATok, "", 200, "")
	do(history, "/v1/intermediaries/bank-a/wallets/"+aliceW+"/history", "", "", 401, "unauthorized")
	do(history, "/v1/intermediaries/bank-b/wallets/"+bobW+"/history", bankATok, "", 403, "unauthorized")
	do(history, "/v1/intermediaries/bank-a/wallets/bank-a.nosuch/history", bankATok, "", 404, "not_found")

	const lock = "GET /v1/intermediaries/{name}/wallets/{id}/lock"
	do(lock, "/v1/intermediaries/bank-b/wallets/"+bobW+"/lock", bankATok, "", 200, "")
	do(lock, "/v1/intermediaries/bank-b/wallets/"+bobW+"/lock", "", "", 401, "unauthorized")
	do(lock, "/v1/intermediaries/bank-b/wallets/"+bobW+"/lock", auditorTok, "", 403, "unauthorized")
	do(lock, "/v1/intermediaries/bank-b/wallets/bank-b.nosuch/lock", bankATok, "", 404, "not_found")
	r = do(open, "/v1/intermediaries/bank-b/wallets", bankBTok, `{"owner":"Mallory"}`, 201, "") // on the sanctions list
	mallory := r.json(t)["id"].(string)
	do(lock, "/v1/intermediaries/bank-b/wallets/"+mallory+"/lock", bankATok, "", 422, "blocked")
	do(pay, pp, bankATok, `{"from":"`+aliceW+`","to":"`+mallory+`","amount":"1"}`, 422, "blocked")

	const deliver = "POST /v1/intermediaries/{name}/deliveries"
	dp := "/v1/intermediaries/bank-a/deliveries"
	m, err := e.iss.Issuer().GetMint(ctx, mid)
	noErr(t, err)
	do(deliver, dp, issuerTok, `{"tx":"`+b64(t, m.Tx)+`"}`, 200, "") // again: credits once
	do(deliver, dp, issuerTok, `{"tx":"AAAA"}`, 400, "malformed")
	do(deliver, dp, "", `{"tx":"`+b64(t, m.Tx)+`"}`, 401, "unauthorized")
	do(deliver, dp, auditorTok, `{"tx":"`+b64(t, m.Tx)+`"}`, 403, "unauthorized")
	do(deliver, "/v1/intermediaries/bank-z/deliveries", issuerTok, `{"tx":"`+b64(t, m.Tx)+`"}`, 404, "not_found")
	do(deliver, dp, issuerTok, `{"tx":"`+b64(t, m.Tx)+`","memo":{"from":"bank-b.x","to":"bank-a.y"}}`, 400, "malformed") // the issuer has no wallets

	const deliverMany = "POST /v1/intermediaries/{name}/deliveries/batch"
	dbp := "/v1/intermediaries/bank-a/deliveries/batch"
	do(deliverMany, dbp, issuerTok, `{"deliveries":[{"tx":"`+b64(t, m.Tx)+`"},{"tx":"AAAA"},{"tx":"`+b64(t, m.Tx)+`","memo":{"from":"x","to":"y"}}]}`, 200, "")
	do(deliverMany, dbp, issuerTok, `{"deliveries":"x"}`, 400, "malformed")
	do(deliverMany, dbp, "", `{"deliveries":[]}`, 401, "unauthorized")
	do(deliverMany, dbp, auditorTok, `{"deliveries":[]}`, 403, "unauthorized")
	do(deliverMany, "/v1/intermediaries/bank-z/deliveries/batch", issuerTok, `{"deliveries":[]}`, 404, "not_found")

	const interRedeem = "POST /v1/intermediaries/{name}/redeems"
	do(interRedeem, "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"500.00"}`, 200, "")
	do(interRedeem, "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"0"}`, 400, "malformed")
	do(interRedeem, "/v1/intermediaries/bank-a/redeems", "", `{"amount":"1"}`, 401, "unauthorized")
	do(interRedeem, "/v1/intermediaries/bank-b/redeems", bankATok, `{"amount":"1"}`, 403, "unauthorized")
	do(interRedeem, "/v1/intermediaries/bank-z/redeems", bankATok, `{"amount":"1"}`, 404, "not_found")
	do(interRedeem, "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"100000000"}`, 422, "insufficient_funds")

	// --- screening alerts: the 1000.00 paid to Alice above is a large value here ---
	const alerts = "GET /v1/intermediaries/{name}/alerts"
	alp := "/v1/intermediaries/bank-a/alerts"
	r = do(alerts, alp+"?state=open", bankATok, "", 200, "")
	list := r.json(t)["alerts"].([]any)
	if len(list) != 1 {
		t.Fatalf("alerts %v; want the large value paid to Alice", list)
	}
	alertID := list[0].(map[string]any)["id"].(string)
	do(alerts, alp+"?state=shut", bankATok, "", 400, "malformed")
	do(alerts, alp, "", "", 401, "unauthorized")
	do(alerts, "/v1/intermediaries/bank-b/alerts", bankATok, "", 403, "unauthorized")
	do(alerts, "/v1/intermediaries/bank-z/alerts", bankATok, "", 404, "not_found")
	const alert = "GET /v1/intermediaries/{name}/alerts/{id}"
	do(alert, alp+"/"+alertID, bankATok, "", 200, "")
	do(alert, alp+"/"+alertID, "", "", 401, "unauthorized")
	do(alert, alp+"/"+alertID, bankBTok, "", 403, "unauthorized")
	do(alert, alp+"/nosuch", bankATok, "", 404, "not_found")
	const closeAlert = "POST /v1/intermediaries/{name}/alerts/{id}/close"
	cp := alp + "/" + alertID + "/close"
	do(closeAlert, cp, bankATok, `{"state":"open","reason":"x"}`, 400, "malformed")
	do(closeAlert, cp, "", `{"state":"dismissed","reason":"x"}`, 401, "unauthorized")
	do(closeAlert, cp, bankBTok, `{"state":"dismissed","reason":"x"}`, 403, "unauthorized")
	do(closeAlert, alp+"/nosuch/close", bankATok, `{"state":"dismissed","reason":"x"}`, 404, "not_found")
	do(closeAlert, cp, bankATok, `{"state":"reported","reason":"filed","by":"officer 7"}`, 200, "")
	do(closeAlert, cp, bankATok, `{"state":"dismissed","reason":"again"}`, 409, "conflict")

	// --- what only failing services answer: 503, and 500 under default ---
	f := newEnv(t, envOpts{currency: testNet.Currency})
	tx1 := b64(t, transferTx(10, 1))
	approvalBody := `{"key":"` + key(4).Public().String() + `","signature":"` + strings.Repeat("ab", 64) + `"}`
	h := hashOf(3).String()
	valid := []struct{ route, path, token, body string }{
		{"GET /v1/info", "/v1/info", "", ""},
		{submit, "/v1/transactions", bankATok, `{"tx":"` + tx1 + `"}`},
		{batch, "/v1/transactions/batch", bankATok, `{"txs":["` + tx1 + `"]}`},
		{getTx, "/v1/transactions/" + h, "", ""},
		{getNote, "/v1/notes/" + h, "", ""},
		{headers, "/v1/log/headers", "", ""},
		{"GET /v1/supply", "/v1/supply", "", ""},
		{propose, "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"1"}`},
		{getMint, "/v1/issuer/mints/" + h, issuerTok, ""},
		{approve, "/v1/issuer/mints/" + h + "/approvals", issuerTok, approvalBody},
		{issRedeem, "/v1/issuer/redeems", bankATok, `{"tx":"` + tx1 + `"}`},
		{open, "/v1/intermediaries/bank-a/wallets", bankATok, `{"owner":"x"}`},
		{wallet, "/v1/intermediaries/bank-a/wallets/bank-a.w1", bankATok, ""},
		{history, "/v1/intermediaries/bank-a/wallets/bank-a.w1/history", bankATok, ""},
		{lock, "/v1/intermediaries/bank-a/wallets/bank-a.w1/lock", bankATok, ""},
		{pay, pp, bankATok, `{"from":"bank-a.w1","to":"bank-b.w2","amount":"1"}`},
		{deliver, dp, bankATok, `{"tx":"` + tx1 + `"}`},
		{deliverMany, dbp, bankATok, `{"deliveries":[{"tx":"` + tx1 + `"}]}`},
		{interRedeem, "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"1"}`},
		{alerts, "/v1/intermediaries/bank-a/alerts", bankATok, ""},
		{alert, "/v1/intermediaries/bank-a/alerts/a1", bankATok, ""},
		{closeAlert, "/v1/intermediaries/bank-a/alerts/a1/close", bankATok, `{"state":"dismissed","reason":"x"}`},
	}
	setErr := func(err error) {
		f.ledger.setErr(err)
		f.issuer.setErr(err)
		for _, b := range f.banks {
			b.setErr(err)
		}
	}
	for _, fail := range []struct {
		err    error
		status int
		code   string
	}{
		{errcode.New(errcode.Unavailable, "the ledger cannot be reached"), 503, "unavailable"},
		{errors.New("disk on fire"), 500, "internal"},
	} {
		setErr(fail.err)
		for _, v := range valid {
			c.do(req{base: f.srv.URL, route: v.route, path: v.path, token: v.token, body: v.body}, fail.status, fail.code)
		}
	}
	// A ledger that stopped after a storage failure is not healthy.
	setErr(errcode.New(errcode.Unavailable, "ledger stopped after a storage failure"))
	c.do(req{base: f.srv.URL, route: "GET /healthz", path: "/healthz"}, 503, "unavailable")
	setErr(nil)

	c.checkCoverage()
}
