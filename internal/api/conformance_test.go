package api_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
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

	const locate = "POST /v1/transactions/locate"
	lr := do(locate, "/v1/transactions/locate", "", `{"txids":["`+net.TxID(tx).String()+`","`+hashOf(0x99).String()+`"]}`, 200, "")
	var located wire.BatchResponse
	noErr(t, json.Unmarshal(lr.body, &located))
	if len(located.Results) != 2 || located.Results[0].Receipt == nil || located.Results[0].Receipt.TxID != net.TxID(tx) || located.Results[0].Receipt.Batch == 0 ||
		located.Results[1].Error == nil || located.Results[1].Error.Code != errcode.NotFound {
		t.Fatalf("locate answered %s; want a receipt for the committed transaction, not_found for the other", lr.body)
	}
	tooMany := strings.Repeat(`"`+hashOf(0x99).String()+`",`, api.MaxLocate)
	do(locate, "/v1/transactions/locate", "", `{"txids":[`+tooMany+`"`+hashOf(0x99).String()+`"]}`, 400, "malformed")
	do(locate, "/v1/transactions/locate", "", `{"txids":["zz"]}`, 400, "malformed")
	do(locate, "/v1/transactions/locate", "not-a-token", `{"txids":[]}`, 401, "unauthorized")

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

	const getBatch = "GET /v1/log/batches/{seq}"
	do(getBatch, "/v1/log/batches/1", "", "", 200, "")
	do(getBatch, "/v1/log/batches/0", "", "", 400, "malformed")
	do(getBatch, "/v1/log/batches/x", "", "", 400, "malformed")
	do(getBatch, "/v1/log/batches/999999", "", "", 404, "not_found")
	do(getBatch, "/v1/log/batches/1", "not-a-token", "", 401, "unauthorized")

	const getCheckpoint = "GET /v1/log/checkpoint"
	do(getCheckpoint, "/v1/log/checkpoint", "", "", 200, "")
	do(getCheckpoint, "/v1/log/checkpoint", "not-a-token", "", 401, "unauthorized")
	unsigned := newEnv(t, envOpts{noCheckpoints: true})
	c.do(req{base: unsigned.srv.URL, route: getCheckpoint, path: "/v1/log/checkpoint"}, 404, "not_found")
	const getConsistency = "GET /v1/log/consistency"
	do(getConsistency, "/v1/log/consistency?from=1&to=2", "", "", 200, "")
	do(getConsistency, "/v1/log/consistency?from=2&to=1", "", "", 400, "malformed")
	do(getConsistency, "/v1/log/consistency?from=1&to=999999", "", "", 404, "not_found")
	do(getConsistency, "/v1/log/consistency?from=1&to=2", "not-a-token", "", 401, "unauthorized")

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
	// A known principal that is not an intermediary is forbidden (403), as
	// everywhere else a valid token is used where its holder may not act.
	do(issRedeem, "/v1/issuer/redeems", issuerTok, `{"tx":"`+b64(t, red)+`"}`, 403, "unauthorized")
	redGhost := e.net.Spend(money.Redeem, []money.Note{ghost}, []*crypto.PrivateKey{owner}, ledgertest.To(owner, 1))
	redGhost.Auth = nil
	do(issRedeem, "/v1/issuer/redeems", bankATok, `{"tx":"`+b64(t, redGhost)+`"}`, 422, "unknown_note")

	// --- intermediaries ---
	const open = "POST /v1/intermediaries/{name}/wallets"
	r = do(open, "/v1/intermediaries/bank-a/wallets", bankATok, `{"owner":"Alice","tier":3,"evidence":[{"kind":"identity","ref":"I1"},{"kind":"address","ref":"A1"},{"kind":"business","ref":"B1"}]}`, 201, "")
	aliceW := r.json(t)["id"].(string)
	r = do(open, "/v1/intermediaries/bank-b/wallets", bankBTok, `{"owner":"Bob","tier":0,"evidence":[{"kind":"phone","ref":"+15550100002"}]}`, 201, "")
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
	do(pay, pp, bankATok, `{"from":"`+aliceW+`","to":"bank-a.treasury","amount":"100000000"}`, 422, "insufficient_funds")
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
	r = do(open, "/v1/intermediaries/bank-b/wallets", bankBTok, `{"owner":"Mallory","tier":0,"evidence":[{"kind":"phone","ref":"+15550100666"}]}`, 201, "") // on the sanctions list
	mallory := r.json(t)["id"].(string)
	do(lock, "/v1/intermediaries/bank-b/wallets/"+mallory+"/lock", bankATok, "", 422, "blocked")
	do(pay, pp, bankATok, `{"from":"`+aliceW+`","to":"`+mallory+`","amount":"1"}`, 422, "blocked")

	do(lock, "/v1/intermediaries/bank-b/wallets/"+bobW+"/lock?amount=250", bankATok, "", 200, "")
	do(lock, "/v1/intermediaries/bank-b/wallets/"+bobW+"/lock?amount=1000.00", bankATok, "", 422, "limit_exceeded")
	const relHold = "DELETE /v1/intermediaries/{name}/wallets/{id}/holds/{hold}"
	held := do(lock, "/v1/intermediaries/bank-b/wallets/"+bobW+"/lock?amount=1", bankATok, "", 200, "").json(t)["hold"].(string)
	do(relHold, "/v1/intermediaries/bank-b/wallets/"+bobW+"/holds/"+held, bankATok, "", 200, "")
	do(relHold, "/v1/intermediaries/bank-b/wallets/"+bobW+"/holds/"+held, bankATok, "", 200, "") // gone: not an error
	do(relHold, "/v1/intermediaries/bank-b/wallets/"+bobW+"/holds/h%20x", bankATok, "", 400, "malformed")
	do(relHold, "/v1/intermediaries/bank-b/wallets/"+bobW+"/holds/"+held, "", "", 401, "unauthorized")
	do(relHold, "/v1/intermediaries/bank-b/wallets/"+bobW+"/holds/"+held, auditorTok, "", 403, "unauthorized")
	do(relHold, "/v1/intermediaries/bank-b/wallets/"+aliceW+"/holds/"+held, bankATok, "", 404, "not_found")

	// Wallet administration under the policy: bob at bank-b (tier 0).
	bw := "/v1/intermediaries/bank-b/wallets/" + bobW
	aw := "/v1/intermediaries/bank-a/wallets/" + aliceW
	const setTier = "POST /v1/intermediaries/{name}/wallets/{id}/tier"
	do(setTier, bw+"/tier", bankBTok, `{"tier":1,"reason":"kyc"}`, 400, "malformed")
	do(setTier, bw+"/tier", bankBTok, `{"tier":1,"evidence":[{"kind":"identity","ref":"P1"}],"reason":"kyc"}`, 200, "")
	do(setTier, bw+"/tier", bankBTok, `{"tier":1,"reason":"again"}`, 409, "conflict")
	do(setTier, bw+"/tier", "", `{"tier":0,"reason":"x"}`, 401, "unauthorized")
	do(setTier, bw+"/tier", bankATok, `{"tier":0,"reason":"x"}`, 403, "unauthorized")
	do(setTier, "/v1/intermediaries/bank-b/wallets/bank-b.nosuch/tier", bankBTok, `{"tier":0,"reason":"x"}`, 404, "not_found")
	do(setTier, aw+"/tier", bankATok, `{"tier":0,"evidence":[{"kind":"phone","ref":"+1555"}],"reason":"down"}`, 422, "limit_exceeded")
	for _, st := range []struct{ route, path, again string }{
		{"POST /v1/intermediaries/{name}/wallets/{id}/freeze", "/freeze", "frozen"},
		{"POST /v1/intermediaries/{name}/wallets/{id}/unfreeze", "/unfreeze", "active"},
	} {
		do(st.route, bw+st.path, bankBTok, `{"reason":""}`, 400, "malformed")
		do(st.route, bw+st.path, bankBTok, `{"reason":"compliance review"}`, 200, "")
		do(st.route, bw+st.path, bankBTok, `{"reason":"compliance review"}`, 409, "conflict")
		do(st.route, bw+st.path, "", `{"reason":"x"}`, 401, "unauthorized")
		do(st.route, bw+st.path, bankATok, `{"reason":"x"}`, 403, "unauthorized")
		do(st.route, "/v1/intermediaries/bank-b/wallets/bank-b.nosuch"+st.path, bankBTok, `{"reason":"x"}`, 404, "not_found")
	}
	const link = "POST /v1/intermediaries/{name}/wallets/{id}/link"
	do(link, bw+"/link", bankBTok, `{"account":"","reason":"waterfall"}`, 400, "malformed")
	do(link, bw+"/link", bankBTok, `{"account":"DE-0001","reason":"waterfall"}`, 200, "")
	do(link, bw+"/link", bankBTok, `{"account":"DE-0001","reason":"waterfall"}`, 409, "conflict")
	do(link, bw+"/link", "", `{"account":"x","reason":"x"}`, 401, "unauthorized")
	do(link, bw+"/link", bankATok, `{"account":"x","reason":"x"}`, 403, "unauthorized")
	do(link, "/v1/intermediaries/bank-b/wallets/bank-b.nosuch/link", bankBTok, `{"account":"x","reason":"x"}`, 404, "not_found")
	const closeW = "POST /v1/intermediaries/{name}/wallets/{id}/close"
	do(closeW, bw+"/close", bankBTok, `{"reason":""}`, 400, "malformed")
	do(closeW, bw+"/close", bankBTok, `{"reason":"customer left"}`, 409, "conflict")
	do(closeW, bw+"/close", "", `{"reason":"x"}`, 401, "unauthorized")
	do(closeW, bw+"/close", bankATok, `{"reason":"x"}`, 403, "unauthorized")
	do(closeW, "/v1/intermediaries/bank-b/wallets/bank-b.nosuch/close", bankBTok, `{"reason":"x"}`, 404, "not_found")
	empty := do(open, "/v1/intermediaries/bank-b/wallets", bankBTok, `{"owner":"Eve","tier":0,"evidence":[{"kind":"phone","ref":"+15550100003"}]}`, 201, "").json(t)["id"].(string)
	do(closeW, "/v1/intermediaries/bank-b/wallets/"+empty+"/close", bankBTok, `{"reason":"customer left"}`, 200, "")
	const audit = "GET /v1/intermediaries/{name}/wallets/{id}/audit"
	do(audit, bw+"/audit", bankBTok, "", 200, "")
	do(audit, bw+"/audit", "", "", 401, "unauthorized")
	do(audit, bw+"/audit", bankATok, "", 403, "unauthorized")
	do(audit, "/v1/intermediaries/bank-b/wallets/bank-b.nosuch/audit", bankBTok, "", 404, "not_found")
	const account = "GET /v1/intermediaries/{name}/wallets/{id}/account"
	do(account, bw+"/account", bankBTok, "", 200, "")
	do(account, bw+"/account", "", "", 401, "unauthorized")
	do(account, bw+"/account", bankATok, "", 403, "unauthorized")
	do(account, aw+"/account", bankATok, "", 404, "not_found")

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
	// With an idempotency key: the retry answers the first redemption, the
	// key with another amount is a conflict.
	first := do(interRedeem, "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"1.00","idempotency_key":"eod-1"}`, 200, "")
	if again := do(interRedeem, "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"1.00","idempotency_key":"eod-1"}`, 200, ""); string(again.body) != string(first.body) {
		t.Fatalf("redeem retried with its key answered %s, first %s", again.body, first.body)
	}
	do(interRedeem, "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"2.00","idempotency_key":"eod-1"}`, 409, "conflict")

	// --- policy: proposed, approved by the quorum, then public ---
	const getPol = "GET /v1/policy"
	do(getPol, "/v1/policy", "", "", 404, "not_found")
	do(getPol, "/v1/policy", "not-a-token", "", 401, "unauthorized")
	polBody := func(p policy.Policy) string {
		b, err := json.Marshal(map[string]any{"policy": p})
		noErr(t, err)
		return string(b)
	}
	pol := policy.Default(net.ID, net.Currency)
	const propPol = "POST /v1/issuer/policies"
	r = do(propPol, "/v1/issuer/policies", issuerTok, polBody(pol), 201, "")
	pid := r.json(t)["id"].(string)
	do(propPol, "/v1/issuer/policies", issuerTok, polBody(pol), 409, "conflict")
	do(propPol, "/v1/issuer/policies", issuerTok, `{"policy":{"network":"x"}}`, 400, "malformed")
	do(propPol, "/v1/issuer/policies", "", polBody(pol), 401, "unauthorized")
	do(propPol, "/v1/issuer/policies", bankATok, polBody(pol), 403, "unauthorized")

	const listPol = "GET /v1/issuer/policies"
	do(listPol, "/v1/issuer/policies", issuerTok, "", 200, "")
	do(listPol, "/v1/issuer/policies", "", "", 401, "unauthorized")
	do(listPol, "/v1/issuer/policies", bankATok, "", 403, "unauthorized")

	const getPolP = "GET /v1/issuer/policies/{id}"
	do(getPolP, "/v1/issuer/policies/"+pid, issuerTok, "", 200, "")
	do(getPolP, "/v1/issuer/policies/xyz", issuerTok, "", 400, "malformed")
	do(getPolP, "/v1/issuer/policies/"+pid, "", "", 401, "unauthorized")
	do(getPolP, "/v1/issuer/policies/"+pid, bankATok, "", 403, "unauthorized")
	do(getPolP, "/v1/issuer/policies/"+hashOf(0x77).String(), issuerTok, "", 404, "not_found")

	const apPol = "POST /v1/issuer/policies/{id}/approvals"
	pidH, err := money.ParseHash(pid)
	noErr(t, err)
	polApproval := func(k *crypto.PrivateKey, over money.Hash) string {
		return `{"key":"` + k.Public().String() + `","signature":"` + hex.EncodeToString(sig(k.Sign(crypto.Policy, net.ID, over))) + `"}`
	}
	pap := "/v1/issuer/policies/" + pid + "/approvals"
	do(apPol, pap, issuerTok, polApproval(o0, pidH), 200, "")
	do(getPol, "/v1/policy", "", "", 404, "not_found") // one approval is not the quorum
	do(apPol, pap, issuerTok, polApproval(o0, pidH), 409, "conflict")
	do(apPol, pap, issuerTok, polApproval(o1, hashOf(1)), 400, "bad_signature")
	do(apPol, pap, issuerTok, approval(o1, pidH), 400, "bad_signature") // a mint signature
	do(apPol, pap, issuerTok, `{"key":"zz","signature":""}`, 400, "malformed")
	do(apPol, pap, issuerTok, polApproval(key(9), pidH), 401, "unauthorized")
	do(apPol, pap, bankATok, polApproval(o1, pidH), 403, "unauthorized")
	do(apPol, "/v1/issuer/policies/"+hashOf(0x77).String()+"/approvals", issuerTok, polApproval(o1, hashOf(0x77)), 404, "not_found")
	do(apPol, pap, issuerTok, polApproval(o1, pidH), 200, "")
	var signed policy.Signed
	noErr(t, json.Unmarshal(do(getPol, "/v1/policy", "", "", 200, "").body, &signed))
	info, err := e.anon.Ledger().Info(ctx)
	noErr(t, err)
	noErr(t, signed.Verify(info.Network.ID, info.MintKeys, info.MintQuorum))

	// --- holding-limit registry ---
	const resv = "PUT /v1/registry/reservations/{person}/{wallet}"
	alicePerson := roles.Pseudonym([]byte("salt"), "alice")
	rp := "/v1/registry/reservations/" + alicePerson + "/bank-a.w1"
	do(resv, rp, bankATok, `{"share":"300.00","limit":"500.00"}`, 200, "")
	do(resv, "/v1/registry/reservations/"+alicePerson+"/bank-b.w1", bankBTok, `{"share":"20001","limit":"50000"}`, 422, "limit_exceeded")
	do(resv, "/v1/registry/reservations/Alice/bank-a.w1", bankATok, `{"share":"1","limit":"1"}`, 400, "malformed")
	do(resv, rp, bankATok, `{"share":"-1","limit":"1"}`, 400, "malformed")
	do(resv, rp, "", `{"share":"1","limit":"1"}`, 401, "unauthorized")
	do(resv, rp, bankBTok, `{"share":"1","limit":"1"}`, 403, "unauthorized")
	do(resv, rp, issuerTok, `{"share":"1","limit":"1"}`, 403, "unauthorized")

	const lsResv = "GET /v1/registry/reservations"
	do(lsResv, "/v1/registry/reservations", bankATok, "", 200, "")
	do(lsResv, "/v1/registry/reservations", "", "", 401, "unauthorized")
	do(lsResv, "/v1/registry/reservations", issuerTok, "", 403, "unauthorized")

	const rel = "DELETE /v1/registry/reservations/{person}/{wallet}"
	do(rel, rp, bankATok, "", 200, "")
	do(rel, rp, bankATok, "", 200, "") // nothing left to release
	do(rel, "/v1/registry/reservations/"+alicePerson+"/w1", bankATok, "", 400, "malformed")
	do(rel, rp, "", "", 401, "unauthorized")
	do(rel, rp, bankBTok, "", 403, "unauthorized")

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

	// --- request-to-pay: alice (bank-a) asks bob (bank-b) ---
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	const createReq = "POST /v1/intermediaries/{name}/requests"
	crp := "/v1/intermediaries/bank-a/requests"
	newReq := func(amount string) map[string]any {
		t.Helper()
		return do(createReq, crp, bankATok, `{"payee":"`+aliceW+`","payer":"`+bobW+`","amount":"`+amount+`","reference":"invoice 42","expires":"`+exp+`"}`, 201, "").json(t)
	}
	rq := newReq("100")
	rid := rq["id"].(string)
	do(createReq, crp, bankATok, `{"payee":"`+aliceW+`","payer":"`+bobW+`","amount":"x","expires":"`+exp+`"}`, 400, "malformed")
	do(createReq, crp, "", `{"payee":"`+aliceW+`","payer":"`+bobW+`","expires":"`+exp+`"}`, 401, "unauthorized")
	do(createReq, crp, bankBTok, `{"payee":"`+aliceW+`","payer":"`+bobW+`","expires":"`+exp+`"}`, 403, "unauthorized")
	do(createReq, crp, bankATok, `{"payee":"`+aliceW+`","payer":"bank-b.nosuch","expires":"`+exp+`"}`, 404, "not_found")
	const listReq = "GET /v1/intermediaries/{name}/wallets/{id}/requests"
	r = do(listReq, bw+"/requests?role=payer", bankBTok, "", 200, "")
	if l := r.json(t)["requests"].([]any); len(l) != 1 || l[0].(map[string]any)["state"] != "pending" {
		t.Fatalf("bob's requests %v", l)
	}
	do(listReq, bw+"/requests?role=owner", bankBTok, "", 400, "malformed")
	do(listReq, bw+"/requests", "", "", 401, "unauthorized")
	do(listReq, bw+"/requests", bankATok, "", 403, "unauthorized")
	do(listReq, "/v1/intermediaries/bank-b/wallets/bank-b.nosuch/requests", bankBTok, "", 404, "not_found")
	const getReq = "GET /v1/intermediaries/{name}/requests/{rid}"
	arp, brp := crp+"/"+rid, "/v1/intermediaries/bank-b/requests/"+rid
	do(getReq, arp, bankATok, "", 200, "")
	do(getReq, arp, "", "", 401, "unauthorized")
	do(getReq, arp, bankBTok, "", 403, "unauthorized")
	do(getReq, crp+"/bank-a.rqnosuch", bankATok, "", 404, "not_found")
	const offerReq = "PUT /v1/intermediaries/{name}/requests/{rid}"
	offer, err := json.Marshal(rq)
	noErr(t, err)
	do(offerReq, brp, bankATok, string(offer), 200, "")
	do(offerReq, brp+"x", bankATok, string(offer), 400, "malformed")
	do(offerReq, brp, "", string(offer), 401, "unauthorized")
	do(offerReq, brp, bankBTok, string(offer), 403, "unauthorized")
	do(offerReq, brp, bankATok, strings.Replace(string(offer), bobW, "bank-b.nosuch", 1), 404, "not_found")
	do(offerReq, brp, bankATok, strings.Replace(string(offer), bobW, mallory, 1), 409, "conflict")
	const acceptReq = "POST /v1/intermediaries/{name}/requests/{rid}/accept"
	do(acceptReq, brp+"/accept", bankBTok, `{"payer":"`+bobW+`","amount":"x"}`, 400, "malformed")
	do(acceptReq, brp+"/accept", "", `{"payer":"`+bobW+`"}`, 401, "unauthorized")
	do(acceptReq, brp+"/accept", bankBTok, `{"payer":"`+mallory+`"}`, 403, "unauthorized")
	do(acceptReq, "/v1/intermediaries/bank-b/requests/bank-a.rqnosuch/accept", bankBTok, `{"payer":"`+bobW+`"}`, 404, "not_found")
	do(acceptReq, brp+"/accept", bankBTok, `{"payer":"`+bobW+`","amount":"99"}`, 409, "conflict")
	big := newReq("5000")["id"].(string)
	do(acceptReq, "/v1/intermediaries/bank-b/requests/"+big+"/accept", bankBTok, `{"payer":"`+bobW+`"}`, 422, "insufficient_funds")
	paid := do(acceptReq, brp+"/accept", bankBTok, `{"payer":"`+bobW+`"}`, 200, "").json(t)
	if paid["state"] != "paid" || paid["txid"] == nil {
		t.Fatalf("accepted request %v", paid)
	}
	const declineReq = "POST /v1/intermediaries/{name}/requests/{rid}/decline"
	r3 := newReq("5")["id"].(string)
	do(declineReq, "/v1/intermediaries/bank-b/requests/"+r3+"/decline", bankBTok, `{"payer":""}`, 400, "malformed")
	do(declineReq, "/v1/intermediaries/bank-b/requests/"+r3+"/decline", "", `{"payer":"`+bobW+`"}`, 401, "unauthorized")
	do(declineReq, "/v1/intermediaries/bank-b/requests/"+r3+"/decline", bankBTok, `{"payer":"`+mallory+`"}`, 403, "unauthorized")
	do(declineReq, "/v1/intermediaries/bank-b/requests/bank-a.rqnosuch/decline", bankBTok, `{"payer":"`+bobW+`"}`, 404, "not_found")
	do(declineReq, brp+"/decline", bankBTok, `{"payer":"`+bobW+`"}`, 409, "conflict")
	do(declineReq, "/v1/intermediaries/bank-b/requests/"+r3+"/decline", bankBTok, `{"payer":"`+bobW+`"}`, 200, "")
	const cancelReq = "POST /v1/intermediaries/{name}/requests/{rid}/cancel"
	r4 := newReq("0")["id"].(string)
	do(cancelReq, crp+"/"+r4+"/cancel", bankATok, `{`, 400, "malformed")
	do(cancelReq, crp+"/"+r4+"/cancel", "", `{"payee":"`+aliceW+`"}`, 401, "unauthorized")
	do(cancelReq, crp+"/"+r4+"/cancel", bankATok, `{"payee":"bank-a.treasury"}`, 403, "unauthorized")
	do(cancelReq, crp+"/bank-a.rqnosuch/cancel", bankATok, `{"payee":"`+aliceW+`"}`, 404, "not_found")
	do(cancelReq, arp+"/cancel", bankATok, `{"payee":"`+aliceW+`"}`, 409, "conflict")
	do(cancelReq, crp+"/"+r4+"/cancel", bankATok, `{"payee":"`+aliceW+`"}`, 200, "")
	const answerReq = "POST /v1/intermediaries/{name}/requests/{rid}/answer"
	do(answerReq, crp+"/"+r4+"/answer", bankBTok, `{"payer":"`+bobW+`","action":"release"}`, 200, "")
	do(answerReq, crp+"/"+r4+"/answer", bankBTok, `{"payer":"`+bobW+`","action":"bogus"}`, 400, "malformed")
	do(answerReq, crp+"/"+r4+"/answer", "", `{"payer":"`+bobW+`","action":"release"}`, 401, "unauthorized")
	do(answerReq, crp+"/"+r4+"/answer", bankATok, `{"payer":"`+bobW+`","action":"release"}`, 403, "unauthorized")
	do(answerReq, crp+"/bank-a.rqnosuch/answer", bankBTok, `{"payer":"`+bobW+`","action":"release"}`, 404, "not_found")
	do(answerReq, crp+"/"+r4+"/answer", bankBTok, `{"payer":"`+bobW+`","action":"claim","amount":"3"}`, 409, "conflict")
	// --- refunds and disputes (disputes_conformance_test.go) ---
	disputeRoutes := conformDisputes(t, e, do)
	// --- officer key rotation: officer 0's key replaced by a new one ---
	const getKS = "GET /v1/keyset"
	var founding policy.SignedKeySet
	noErr(t, json.Unmarshal(do(getKS, "/v1/keyset", "", "", 200, "").body, &founding))
	do(getKS, "/v1/keyset", "not-a-token", "", 401, "unauthorized")
	fresh := key(11)
	next := policy.KeySet{Network: net.ID, Version: 2, Quorum: 2, Keys: []crypto.PublicKey{fresh.Public(), o1.Public(), e.net.Officers[2].Public()}}
	ksBody := func(k policy.KeySet) string {
		b, err := json.Marshal(map[string]any{"key_set": k})
		noErr(t, err)
		return string(b)
	}
	const propKS = "POST /v1/issuer/keysets"
	r = do(propKS, "/v1/issuer/keysets", issuerTok, ksBody(next), 201, "")
	kid := r.json(t)["id"].(string)
	do(propKS, "/v1/issuer/keysets", issuerTok, ksBody(next), 409, "conflict")
	do(propKS, "/v1/issuer/keysets", issuerTok, `{"key_set":{"network":"x"}}`, 400, "malformed")
	do(propKS, "/v1/issuer/keysets", "", ksBody(next), 401, "unauthorized")
	do(propKS, "/v1/issuer/keysets", bankATok, ksBody(next), 403, "unauthorized")
	const getKSP = "GET /v1/issuer/keysets/{id}"
	do(getKSP, "/v1/issuer/keysets/"+kid, issuerTok, "", 200, "")
	do(getKSP, "/v1/issuer/keysets/xyz", issuerTok, "", 400, "malformed")
	do(getKSP, "/v1/issuer/keysets/"+kid, "", "", 401, "unauthorized")
	do(getKSP, "/v1/issuer/keysets/"+kid, bankATok, "", 403, "unauthorized")
	do(getKSP, "/v1/issuer/keysets/"+hashOf(0x77).String(), issuerTok, "", 404, "not_found")
	const apKS = "POST /v1/issuer/keysets/{id}/approvals"
	kidH, err := money.ParseHash(kid)
	noErr(t, err)
	ksApproval := func(k *crypto.PrivateKey, over money.Hash) string {
		return `{"key":"` + k.Public().String() + `","signature":"` + hex.EncodeToString(sig(k.Sign(crypto.KeySet, net.ID, over))) + `"}`
	}
	kap := "/v1/issuer/keysets/" + kid + "/approvals"
	do(apKS, kap, issuerTok, ksApproval(o0, kidH), 200, "")
	do(apKS, kap, issuerTok, ksApproval(o0, kidH), 409, "conflict")
	do(apKS, kap, issuerTok, polApproval(o1, kidH), 400, "bad_signature") // a policy signature
	do(apKS, kap, issuerTok, `{"key":"zz","signature":""}`, 400, "malformed")
	do(apKS, kap, issuerTok, ksApproval(fresh, kidH), 401, "unauthorized") // the new key is not in force yet
	do(apKS, kap, bankATok, ksApproval(o1, kidH), 403, "unauthorized")
	do(apKS, "/v1/issuer/keysets/"+hashOf(0x77).String()+"/approvals", issuerTok, ksApproval(o1, hashOf(0x77)), 404, "not_found")
	do(apKS, kap, issuerTok, ksApproval(o1, kidH), 200, "")
	var rotated policy.SignedKeySet
	noErr(t, json.Unmarshal(do(getKS, "/v1/keyset", "", "", 200, "").body, &rotated))
	noErr(t, rotated.Verify(&founding.KeySet))
	// The replaced key approves no mint any more.
	r = do(propose, "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"1.00"}`, 201, "")
	mid2, err := money.ParseHash(r.json(t)["id"].(string))
	noErr(t, err)
	do(approve, "/v1/issuer/mints/"+mid2.String()+"/approvals", issuerTok, approval(o0, mid2), 401, "unauthorized")
	// The issuer handed the set to the ledger, which applies it: the new
	// set's quorum mints, and /v1/info lists the epoch.
	do(approve, "/v1/issuer/mints/"+mid2.String()+"/approvals", issuerTok, approval(fresh, mid2), 200, "")
	if st := do(approve, "/v1/issuer/mints/"+mid2.String()+"/approvals", issuerTok, approval(o1, mid2), 200, "").json(t)["status"]; st != "committed" {
		t.Fatalf("mint by the rotated set: %v", st)
	}
	if ks := do("GET /v1/info", "/v1/info", "", "", 200, "").json(t)["key_sets"]; ks == nil {
		t.Fatal("GET /v1/info lists no key set after the rotation")
	}
	const rot = "POST /v1/keysets"
	rotBody, err := json.Marshal(rotated)
	noErr(t, err)
	do(rot, "/v1/keysets", issuerTok, string(rotBody), 200, "") // applied already: the same epoch
	do(rot, "/v1/keysets", issuerTok, `{"key_set":7}`, 400, "malformed")
	do(rot, "/v1/keysets", "", string(rotBody), 401, "unauthorized")
	do(rot, "/v1/keysets", bankATok, string(rotBody), 403, "unauthorized")
	skipped := rotated
	skipped.KeySet.Version = 5
	skipBody, err := json.Marshal(skipped)
	noErr(t, err)
	do(rot, "/v1/keysets", issuerTok, string(skipBody), 409, "conflict")
	conformAliases(t, c, e) // aliases_test.go
	// --- reservations of funds (reservations_conformance_test.go) ---
	resValid := reservationConformance(t, do, aliceW, bobW, b64(t, m.Tx))

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
		{"POST /v1/transactions/locate", "/v1/transactions/locate", "", `{"txids":["` + h + `"]}`},
		{getNote, "/v1/notes/" + h, "", ""},
		{headers, "/v1/log/headers", "", ""},
		{getBatch, "/v1/log/batches/7", "", ""},
		{getCheckpoint, "/v1/log/checkpoint", "", ""},
		{getConsistency, "/v1/log/consistency?from=1&to=2", "", ""},
		{"GET /v1/supply", "/v1/supply", "", ""},
		{propose, "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"1"}`},
		{getMint, "/v1/issuer/mints/" + h, issuerTok, ""},
		{approve, "/v1/issuer/mints/" + h + "/approvals", issuerTok, approvalBody},
		{issRedeem, "/v1/issuer/redeems", bankATok, `{"tx":"` + tx1 + `"}`},
		{open, "/v1/intermediaries/bank-a/wallets", bankATok, `{"owner":"x"}`},
		{wallet, "/v1/intermediaries/bank-a/wallets/bank-a.w1", bankATok, ""},
		{history, "/v1/intermediaries/bank-a/wallets/bank-a.w1/history", bankATok, ""},
		{lock, "/v1/intermediaries/bank-a/wallets/bank-a.w1/lock", bankATok, ""},
		{relHold, "/v1/intermediaries/bank-a/wallets/bank-a.w1/holds/h1", bankATok, ""},
		{pay, pp, bankATok, `{"from":"bank-a.w1","to":"bank-b.w2","amount":"1"}`},
		{deliver, dp, bankATok, `{"tx":"` + tx1 + `"}`},
		{deliverMany, dbp, bankATok, `{"deliveries":[{"tx":"` + tx1 + `"}]}`},
		{interRedeem, "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"1"}`},
		{getPol, "/v1/policy", "", ""},
		{propPol, "/v1/issuer/policies", issuerTok, polBody(pol)},
		{listPol, "/v1/issuer/policies", issuerTok, ""},
		{getPolP, "/v1/issuer/policies/" + h, issuerTok, ""},
		{apPol, "/v1/issuer/policies/" + h + "/approvals", issuerTok, approvalBody},
		{resv, rp, bankATok, `{"share":"1","limit":"0"}`},
		{lsResv, "/v1/registry/reservations", bankATok, ""},
		{rel, rp, bankATok, ""},
		{setTier, "/v1/intermediaries/bank-a/wallets/bank-a.w1/tier", bankATok, `{"tier":1,"reason":"x"}`},
		{"POST /v1/intermediaries/{name}/wallets/{id}/freeze", "/v1/intermediaries/bank-a/wallets/bank-a.w1/freeze", bankATok, `{"reason":"x"}`},
		{"POST /v1/intermediaries/{name}/wallets/{id}/unfreeze", "/v1/intermediaries/bank-a/wallets/bank-a.w1/unfreeze", bankATok, `{"reason":"x"}`},
		{closeW, "/v1/intermediaries/bank-a/wallets/bank-a.w1/close", bankATok, `{"reason":"x"}`},
		{link, "/v1/intermediaries/bank-a/wallets/bank-a.w1/link", bankATok, `{"account":"x","reason":"x"}`},
		{audit, "/v1/intermediaries/bank-a/wallets/bank-a.w1/audit", bankATok, ""},
		{account, "/v1/intermediaries/bank-a/wallets/bank-a.w1/account", bankATok, ""},
		{alerts, "/v1/intermediaries/bank-a/alerts", bankATok, ""},
		{alert, "/v1/intermediaries/bank-a/alerts/a1", bankATok, ""},
		{closeAlert, "/v1/intermediaries/bank-a/alerts/a1/close", bankATok, `{"state":"dismissed","reason":"x"}`},
		{createReq, crp, bankATok, `{"payee":"bank-a.w1","payer":"bank-b.w2","expires":"` + exp + `"}`},
		{listReq, "/v1/intermediaries/bank-a/wallets/bank-a.w1/requests", bankATok, ""},
		{getReq, crp + "/bank-a.rq1", bankATok, ""},
		{offerReq, crp + "/" + rid, bankATok, string(offer)},
		{acceptReq, crp + "/bank-a.rq1/accept", bankATok, `{"payer":"bank-a.w1"}`},
		{declineReq, crp + "/bank-a.rq1/decline", bankATok, `{"payer":"bank-a.w1"}`},
		{cancelReq, crp + "/bank-a.rq1/cancel", bankATok, `{"payee":"bank-a.w1"}`},
		{answerReq, crp + "/bank-a.rq1/answer", bankATok, `{"payer":"bank-b.w2","action":"claim","amount":"1"}`},
	}
	valid = append(valid, disputeRoutes...)
	valid = append(valid, resValid...)
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

	isoConformance(t, c, e)
	c.checkCoverage()
}
