package api_test

import (
	"strings"
	"testing"
	"time"
)

// reservationConformance calls every reservation route on the real
// network for its success and each error status the spec documents, as
// TestResponsesConformToSpec does for the others: alice (bank-a) reserves
// for bob (bank-b). It returns a valid request of each route, which the
// caller sends to failing services for 503 and 500.
//
// committed is a committed transaction (base64) that reserves nothing.
func reservationConformance(t *testing.T, do func(route, path, token, body string, status int, code string) response, aliceW, bobW, committed string) []struct{ route, path, token, body string } {
	t.Helper()
	const (
		reserve = "POST /v1/intermediaries/{name}/reservations"
		list    = "GET /v1/intermediaries/{name}/reservations"
		show    = "GET /v1/intermediaries/{name}/reservations/{id}"
		capture = "POST /v1/intermediaries/{name}/reservations/{id}/capture"
		void    = "POST /v1/intermediaries/{name}/reservations/{id}/void"
		refund  = "POST /v1/intermediaries/{name}/reservations/{id}/refund"
		offer   = "POST /v1/intermediaries/{name}/reservations/offers"
		confirm = "POST /v1/intermediaries/{name}/reservations/{id}/confirm"
		settle  = "POST /v1/intermediaries/{name}/reservations/{id}/settle"
		expire  = "POST /v1/intermediaries/{name}/reservations/{id}/expire"
	)
	a, b := "/v1/intermediaries/bank-a", "/v1/intermediaries/bank-b"
	body := func(key, amount, expires string) string {
		return `{"from":"` + aliceW + `","to":"` + bobW + `","amount":"` + amount + `","expires_in":"` + expires + `","reference":"room 12","key":"` + key + `"}`
	}
	do(reserve, a+"/reservations", bankATok, body("c1", "500", "72h"), 201, "")
	do(reserve, a+"/reservations", bankATok, body("c1", "501", "72h"), 409, "conflict")
	do(reserve, a+"/reservations", bankATok, body("c2", "500", "soon"), 400, "malformed")
	do(reserve, a+"/reservations", "", body("c2", "500", "72h"), 401, "unauthorized")
	do(reserve, a+"/reservations", bankBTok, body("c2", "500", "72h"), 403, "unauthorized")
	do(reserve, a+"/reservations", bankATok, strings.Replace(body("c2", "500", "72h"), bobW, "bank-b.nosuch", 1), 404, "not_found")
	do(reserve, a+"/reservations", bankATok, body("c2", "100000000", "72h"), 422, "insufficient_funds")
	do(reserve, a+"/reservations", bankATok, body("v1", "300", "72h"), 201, "")
	do(reserve, a+"/reservations", bankATok, body("e1", "200", "1ms"), 201, "")

	do(list, a+"/reservations?wallet="+aliceW, bankATok, "", 200, "")
	do(list, b+"/reservations?wallet="+bobW, bankBTok, "", 200, "")
	do(list, a+"/reservations", bankATok, "", 400, "malformed")
	do(list, a+"/reservations?wallet="+aliceW, "", "", 401, "unauthorized")
	do(list, a+"/reservations?wallet="+aliceW, bankBTok, "", 403, "unauthorized")
	do(list, a+"/reservations?wallet=bank-a.nosuch", bankATok, "", 404, "not_found")

	c1 := "/reservations/bank-a.c1"
	do(show, a+c1, bankATok, "", 200, "")
	do(show, b+c1, bankBTok, "", 200, "")
	do(show, a+"/reservations/nodot", bankATok, "", 400, "malformed")
	do(show, a+c1, "", "", 401, "unauthorized")
	do(show, a+c1, bankBTok, "", 403, "unauthorized")
	do(show, a+"/reservations/bank-a.nosuch", bankATok, "", 404, "not_found")

	do(capture, b+c1+"/capture", bankBTok, `{"amount":"501"}`, 422, "insufficient_funds")
	do(capture, b+c1+"/capture", bankBTok, `{"amount":"0"}`, 400, "malformed")
	do(capture, b+c1+"/capture", bankBTok, `{"amount":"120"}`, 200, "")
	do(capture, b+c1+"/capture", bankBTok, `{"amount":"120"}`, 200, "") // the same outcome
	do(capture, b+c1+"/capture", bankBTok, `{"amount":"121"}`, 409, "conflict")
	do(capture, b+c1+"/capture", "", `{"amount":"1"}`, 401, "unauthorized")
	do(capture, b+c1+"/capture", bankATok, `{"amount":"1"}`, 403, "unauthorized")
	do(capture, b+"/reservations/bank-a.nosuch/capture", bankBTok, `{"amount":"1"}`, 404, "not_found")

	v1 := "/reservations/bank-a.v1"
	do(void, b+v1+"/void", bankBTok, "", 200, "")
	do(void, b+c1+"/void", bankBTok, "", 409, "conflict")
	do(void, b+"/reservations/nodot/void", bankBTok, "", 400, "malformed")
	do(void, b+v1+"/void", "", "", 401, "unauthorized")
	do(void, b+v1+"/void", bankATok, "", 403, "unauthorized")
	do(void, b+"/reservations/bank-a.nosuch/void", bankBTok, "", 404, "not_found")

	e1 := "/reservations/bank-a.e1"
	do(refund, a+v1+"/refund", bankATok, "", 409, "conflict") // voided
	do(refund, a+"/reservations/nodot/refund", bankATok, "", 400, "malformed")
	do(refund, a+e1+"/refund", "", "", 401, "unauthorized")
	do(refund, a+e1+"/refund", bankBTok, "", 403, "unauthorized")
	do(refund, a+"/reservations/bank-a.nosuch/refund", bankATok, "", 404, "not_found")
	for range 3 { // the ledger moves past e1's expiry batch
		do("POST /v1/intermediaries/{name}/payments", a+"/payments", bankATok, `{"from":"bank-a.treasury","to":"`+aliceW+`","amount":"1"}`, 200, "")
	}
	do(refund, a+e1+"/refund", bankATok, "", 200, "")

	offerBody := func(id, amount, payee string) string {
		return `{"id":"` + id + `","payer":"` + aliceW + `","payee":"` + payee + `","amount":"` + amount + `","expiry_batch":99,"expires_at":"2030-01-01T00:00:00Z","payer_key":"` + strings.Repeat("ab", 32) + `","payer_lock":"ed25519:` + strings.Repeat("ab", 32) + `"}`
	}
	do(offer, b+"/reservations/offers", bankATok, offerBody("bank-a.o1", "7", bobW), 200, "")
	do(offer, b+"/reservations/offers", bankATok, offerBody("bank-a.c1", "8", bobW), 409, "conflict") // c1 is confirmed: its terms are fixed
	do(offer, b+"/reservations/offers", bankATok, `{"id":"bank-a.o2"}`, 400, "malformed")
	do(offer, b+"/reservations/offers", "", offerBody("bank-a.o2", "7", bobW), 401, "unauthorized")
	do(offer, b+"/reservations/offers", bankBTok, offerBody("bank-a.o2", "7", bobW), 403, "unauthorized")
	do(offer, b+"/reservations/offers", bankATok, offerBody("bank-a.o2", "7", "bank-b.nosuch"), 404, "not_found")

	txBody := `{"tx":"` + committed + `"}`
	do(confirm, b+c1+"/confirm", bankATok, txBody, 200, "") // settled before: nothing to do
	do(confirm, b+"/reservations/bank-a.o1/confirm", bankATok, txBody, 409, "conflict")
	do(confirm, b+"/reservations/bank-a.o1/confirm", bankATok, `{"tx":"AAAA"}`, 400, "malformed")
	do(confirm, b+"/reservations/bank-a.o1/confirm", "", txBody, 401, "unauthorized")
	do(confirm, b+"/reservations/bank-a.o1/confirm", bankBTok, txBody, 403, "unauthorized")
	do(confirm, b+"/reservations/bank-a.nosuch/confirm", bankATok, txBody, 404, "not_found")

	do(reserve, a+"/reservations", bankATok, body("s1", "50", "72h"), 201, "")
	zero := strings.Repeat("00", 64)
	settleBody := func(amount, sig string) string { return `{"amount":"` + amount + `","payee_sig":"` + sig + `"}` }
	s1 := "/reservations/bank-a.s1/settle"
	do(settle, a+c1+"/settle", bankBTok, settleBody("5", zero), 200, "") // captured before: the outcome
	do(settle, a+s1, bankBTok, settleBody("5", zero), 400, "bad_signature")
	do(settle, a+s1, bankBTok, settleBody("5", "zz"), 400, "malformed")
	do(settle, a+s1, "", settleBody("5", zero), 401, "unauthorized")
	do(settle, a+s1, bankATok, settleBody("5", zero), 403, "unauthorized")
	do(settle, a+"/reservations/bank-a.nosuch/settle", bankBTok, settleBody("5", zero), 404, "not_found")
	do(settle, a+s1, bankBTok, settleBody("51", zero), 422, "insufficient_funds")
	if got := do(show, b+"/reservations/bank-a.s1", bankBTok, "", 200, "").json(t)["state"]; got != "active" {
		t.Fatalf("s1 after the refused settles: %v", got)
	}

	do(reserve, a+"/reservations", bankATok, body("x1", "40", "1ms"), 201, "")
	time.Sleep(2 * time.Millisecond)
	do(expire, b+"/reservations/bank-a.x1/expire", bankATok, "", 200, "")
	if got := do(show, a+"/reservations/bank-a.x1", bankATok, "", 200, "").json(t)["state"]; got != "voided" {
		t.Fatalf("x1 after its expiry: %v", got)
	}
	do(expire, b+"/reservations/bank-a.s1/expire", bankATok, "", 409, "conflict") // 72h to go
	do(expire, b+"/reservations/nodot/expire", bankATok, "", 400, "malformed")
	do(expire, b+"/reservations/bank-a.s1/expire", "", "", 401, "unauthorized")
	do(expire, b+"/reservations/bank-a.s1/expire", bankBTok, "", 403, "unauthorized")
	do(expire, b+"/reservations/bank-a.nosuch/expire", bankATok, "", 404, "not_found")
	return []struct{ route, path, token, body string }{
		{reserve, a + "/reservations", bankATok, body("f1", "1", "1h")},
		{list, a + "/reservations?wallet=bank-a.w1", bankATok, ""},
		{show, a + "/reservations/bank-a.r1", bankATok, ""},
		{capture, a + "/reservations/bank-a.r1/capture", bankATok, `{"amount":"1"}`},
		{void, a + "/reservations/bank-a.r1/void", bankATok, ""},
		{refund, a + "/reservations/bank-a.r1/refund", bankATok, ""},
		{offer, a + "/reservations/offers", bankATok, offerBody("bank-b.o1", "7", "bank-a.w1")},
		{confirm, a + "/reservations/bank-b.o1/confirm", bankATok, txBody},
		{settle, a + "/reservations/bank-a.r1/settle", bankATok, settleBody("0", zero)},
		{expire, a + "/reservations/bank-a.r1/expire", bankATok, ""},
	}
}
