package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/roles"
)

// failingRoute is a request the conformance test sends to failing fake
// services (503, 500).
type failingRoute = struct{ route, path, token, body string }

// conformDisputes provokes on the real network e every status the refund
// (payments with refund_of) and dispute routes document, through do, and
// returns the requests that succeed on the fake services, for the test to
// send while they fail.
func conformDisputes(t *testing.T, e *realEnv, do func(route, path, token, body string, status int, code string) response) []failingRoute {
	t.Helper()
	ctx := context.Background()
	shop, buyer := e.shopAndBuyer(t, "bank-b", 100_00)
	tx1 := e.payDelivered(t, buyer, shop, 10_00, "order 1")
	tx2 := e.payDelivered(t, buyer, shop, 5_00, "order 2")
	tx3 := e.payDelivered(t, buyer, shop, 3_00, "order 3")

	// Refunds through the payments route.
	const pay = "POST /v1/intermediaries/{name}/payments"
	pp := "/v1/intermediaries/bank-a/payments"
	do(pay, pp, bankATok, `{"from":"`+shop+`","amount":"100","refund_of":"`+tx3.String()+`"}`, 200, "")
	do(pay, pp, bankATok, `{"from":"`+shop+`","amount":"201","refund_of":"`+tx3.String()+`"}`, 409, "conflict")

	const open = "POST /v1/intermediaries/{name}/disputes"
	bp := "/v1/intermediaries/bank-b/disputes"
	body := func(tx, reason string) string {
		return `{"wallet":"` + buyer + `","txid":"` + tx + `","reason":"` + reason + `","evidence":"tracking 123"}`
	}
	r := do(open, bp, bankBTok, body(tx1.String(), "never arrived"), 201, "")
	d1 := r.json(t)["id"].(string)
	if r.json(t)["state"] != "with_merchant" {
		t.Fatalf("dispute handed over in process: %s", r.body)
	}
	do(open, bp, bankBTok, body(tx2.String(), ""), 400, "malformed")
	do(open, bp, "", body(tx2.String(), "x"), 401, "unauthorized")
	do(open, bp, bankATok, body(tx2.String(), "x"), 403, "unauthorized")
	do(open, bp, bankBTok, body(hashOf(7).String(), "x"), 404, "not_found")
	do(open, bp, bankBTok, body(tx1.String(), "again"), 409, "conflict")
	d2v, err := e.bankBC.Intermediary("bank-b").(roles.DisputeDesk).OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: tx2, Reason: "wrong size"})
	noErr(t, err)
	d2 := d2v.ID

	const list = "GET /v1/intermediaries/{name}/disputes"
	do(list, bp+"?wallet="+buyer, bankBTok, "", 200, "")
	do(list, bp, bankBTok, "", 400, "malformed")
	do(list, bp+"?wallet="+buyer, "", "", 401, "unauthorized")
	do(list, bp+"?wallet="+buyer, bankATok, "", 403, "unauthorized")
	do(list, bp+"?wallet=bank-b.nosuch", bankBTok, "", 404, "not_found")

	const get = "GET /v1/intermediaries/{name}/disputes/{id}"
	do(get, bp+"/"+d1, bankBTok, "", 200, "")
	do(get, bp+"/"+d1, "", "", 401, "unauthorized")
	do(get, bp+"/"+d1, bankATok, "", 403, "unauthorized")
	do(get, bp+"/bank-b.dnosuch", bankBTok, "", 404, "not_found")

	const put = "PUT /v1/intermediaries/{name}/disputes/{id}"
	ap := "/v1/intermediaries/bank-a/disputes"
	d1v, err := e.bankBC.Intermediary("bank-b").(roles.DisputeDesk).Dispute(ctx, d1)
	noErr(t, err)
	handed := func(d roles.Dispute) string {
		b, err := json.Marshal(wire.FromDispute(d, nil))
		noErr(t, err)
		return string(b)
	}
	do(put, ap+"/"+d1, bankBTok, handed(d1v), 200, "")
	do(put, ap+"/bank-b.dother", bankBTok, handed(d1v), 400, "malformed")
	do(put, ap+"/"+d1, "", handed(d1v), 401, "unauthorized")
	do(put, ap+"/"+d1, bankATok, handed(d1v), 403, "unauthorized")
	ghost := d1v
	ghost.ID, ghost.TxID = "bank-b.dghost", hashOf(9)
	do(put, ap+"/"+ghost.ID, bankBTok, handed(ghost), 404, "not_found")
	twin := d1v
	twin.ID = "bank-b.dtwin"
	do(put, ap+"/"+twin.ID, bankBTok, handed(twin), 409, "conflict")

	const refund = "POST /v1/intermediaries/{name}/disputes/{id}/refund"
	do(refund, ap+"/"+d1+"/refund", bankATok, `{"amount":"abc"}`, 400, "malformed")
	do(refund, ap+"/"+d1+"/refund", "", `{}`, 401, "unauthorized")
	do(refund, bp+"/"+d1+"/refund", bankBTok, `{}`, 403, "unauthorized")
	do(refund, ap+"/bank-b.dnosuch/refund", bankATok, `{}`, 404, "not_found")
	do(refund, ap+"/"+d1+"/refund", bankATok, `{"reference":"sorry"}`, 200, "")

	const reject = "POST /v1/intermediaries/{name}/disputes/{id}/reject"
	do(reject, ap+"/"+d2+"/reject", bankATok, `{"reason":""}`, 400, "malformed")
	do(reject, ap+"/"+d2+"/reject", "", `{"reason":"x"}`, 401, "unauthorized")
	do(reject, bp+"/"+d2+"/reject", bankBTok, `{"reason":"x"}`, 403, "unauthorized")
	do(reject, ap+"/bank-b.dnosuch/reject", bankATok, `{"reason":"x"}`, 404, "not_found")
	do(reject, ap+"/"+d2+"/reject", bankATok, `{"reason":"delivered, signed for"}`, 200, "")
	do(reject, ap+"/"+d1+"/reject", bankATok, `{"reason":"too late"}`, 409, "conflict")
	do(refund, ap+"/"+d2+"/refund", bankATok, `{}`, 409, "conflict")

	// The shop pays out all it holds; a dispute's refund then finds too little.
	w, err := e.bankC.Intermediary("bank-a").Wallet(ctx, shop)
	noErr(t, err)
	_, err = e.bankC.Intermediary("bank-a").Pay(ctx, roles.Payment{From: shop, To: "bank-a.treasury", Amount: w.Balance})
	noErr(t, err)
	d3, err := e.bankBC.Intermediary("bank-b").(roles.DisputeDesk).OpenDispute(ctx, roles.DisputeRequest{Wallet: buyer, TxID: tx3, Reason: "late"})
	noErr(t, err)
	do(refund, ap+"/"+d3.ID+"/refund", bankATok, `{}`, 422, "insufficient_funds")

	fp := "/v1/intermediaries/bank-a/disputes"
	fd := handed(roles.Dispute{ID: "bank-b.d1", TxID: hashOf(3), Payer: "bank-b.zz", Merchant: "bank-a.k3j9x2", Amount: 1, Reason: "x", State: roles.DisputeOpen})
	return []failingRoute{
		{open, fp, bankATok, `{"wallet":"bank-a.w1","txid":"` + hashOf(3).String() + `","reason":"x"}`},
		{list, fp + "?wallet=bank-a.w1", bankATok, ""},
		{get, fp + "/bank-a.d1", bankATok, ""},
		{put, fp + "/bank-b.d1", bankATok, fd},
		{reject, fp + "/bank-a.d1/reject", bankATok, `{"reason":"x"}`},
		{refund, fp + "/bank-a.d1/refund", bankATok, `{}`},
	}
}
