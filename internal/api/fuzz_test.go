package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/roles"
)

// fuzzRoutes are the POST (or, so marked, PUT) routes whose bodies the
// fuzzer writes.
var fuzzRoutes = []string{
	"/v1/transactions",
	"/v1/transactions/batch",
	"/v1/issuer/mints",
	"/v1/issuer/mints/" + strings.Repeat("ab", 32) + "/approvals",
	"/v1/issuer/redeems",
	"/v1/intermediaries/bank-a/wallets",
	"/v1/intermediaries/bank-a/payments",
	"/v1/intermediaries/bank-a/deliveries",
	"/v1/intermediaries/bank-a/redeems",
	"/v1/issuer/policies",
	"/v1/issuer/policies/" + strings.Repeat("ab", 32) + "/approvals",
	"PUT /v1/registry/reservations/" + strings.Repeat("cd", 32) + "/bank-a.w1",
	"/v1/intermediaries/bank-a/requests",
	"PUT /v1/intermediaries/bank-a/requests/bank-a.rq1",
	"/v1/intermediaries/bank-a/requests/bank-a.rq1/accept",
	"/v1/intermediaries/bank-a/requests/bank-a.rq1/decline",
	"/v1/intermediaries/bank-a/requests/bank-a.rq1/cancel",
	"/v1/intermediaries/bank-a/requests/bank-a.rq1/answer",
	"/v1/intermediaries/bank-a/disputes",
	"/v1/intermediaries/bank-a/disputes/bank-b.d1/reject",
	"/v1/intermediaries/bank-a/disputes/bank-b.d1/refund",
	"PUT /v1/intermediaries/bank-a/disputes/bank-b.d1",
	"/v1/intermediaries/bank-a/reservations",
	"/v1/intermediaries/bank-a/reservations/bank-a.r1/capture",
	"/v1/intermediaries/bank-a/reservations/offers",
	"/v1/intermediaries/bank-a/reservations/bank-a.r1/confirm",
	"/v1/intermediaries/bank-a/reservations/bank-a.r1/settle",
	"/v1/intermediaries/bank-a/reservations/bank-a.r1/expire",
}

// policySeed is a valid policy document for the seeds.
var policySeed = testPolicy()

// FuzzDecodeRequest throws arbitrary bodies at every POST route through
// the real handler and decoders. Whatever comes in, the server answers
// with JSON, never 500, and a 400 means no service was called.
func FuzzDecodeRequest(f *testing.F) {
	raw, err := transferTx(10, 1).MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	tx := base64.StdEncoding.EncodeToString(raw)
	seeds := []string{
		`{"tx":"` + tx + `"}`,
		`{"txs":["` + tx + `","@@"]}`,
		`{"to":"bank-a","amount":"1000000.00"}`,
		`{"to":"bank-a","amount":"1e5"}`,
		`{"key":"` + key(4).Public().String() + `","signature":"` + strings.Repeat("ab", 64) + `"}`,
		`{"owner":"alice"}`,
		`{"from":"bank-a.w1","to":"bank-b.w2","amount":"3.07","reference":"r"}`,
		`{"amount":"-3"}`,
		`{"amount":"1.234"}`,
		`{"tx":"AAAA"}`,
		`{"tx":"` + tx + `"} trailing`,
		`{"tx":"` + tx + `","x":1}`,
		`null`, `[]`, ``, `{`, `"\u0000"`, `{"amount":18446744073709551616}`,
		"{\"owner\":\"\xff\xfe\"}", `{"owner":"\ud800"}`, `{"owner":"\ud83d\ude00"}`,
		"{\"from\":\"bank-a.w1\",\"to\":\"bank-b.w2\",\"amount\":\"1\",\"reference\":\"\xc3\"}",
		`{"share":"300.00","limit":"0"}`,
		`{"share":"1","limit":"-1"}`,
		`{"policy":` + string(policySeed.Canonical()) + `}`,
		`{"policy":{"network":"testnet","version":1,"tiers":[{"level":0,"name":"x","evidence":["phone"],"holding":-1}]}}`,
		`{"policy":{"network":"testnet","version":1.5}}`,
		`{"payee":"bank-a.w1","payer":"bank-b.w2","amount":"12.50","reference":"invoice 42","expires":"2030-01-02T03:04:05Z"}`,
		`{"payee":"bank-a.w1","payer":"bank-b.w2","expires":"yesterday"}`,
		`{"id":"bank-a.rq1","payee":"bank-a.w1","payer":"bank-b.w2","amount":"1250","expires":"2030-01-02T03:04:05Z","state":"pending","created":"2030-01-01T00:00:00Z","updated":"2030-01-01T00:00:00Z","version":1}`,
		`{"id":"bank-a.rq1","amount":"-1","version":-1}`,
		`{"payer":"bank-b.w2","amount":"3.07"}`,
		`{"payer":"bank-b.w2","action":"claim","amount":"1"}`,
		`{"payee":"bank-a.w1"}`,
		`{"from":"bank-a.w1","amount":"1.00","refund_of":"` + strings.Repeat("ab", 32) + `"}`,
		`{"wallet":"bank-a.w1","txid":"` + strings.Repeat("ab", 32) + `","reason":"broken","evidence":"photo"}`,
		`{"reason":"delivered"}`, `{"amount":"2.00","reference":"sorry"}`, `{}`,
		`{"id":"bank-b.d1","txid":"` + strings.Repeat("ab", 32) + `","payer":"bank-b.w2","merchant":"bank-a.w1","amount":"100","reason":"x","state":"open","opened":"2026-01-01T00:00:00Z","updated":"2026-01-01T00:00:00Z"}`,
		`{"from":"bank-a.w1","to":"bank-b.w2","amount":"3.00","expires_in":"72h","key":"room-12"}`,
		`{"from":"bank-a.w1","to":"bank-b.w2","amount":"3.00","expires_in":"-1h"}`,
		`{"id":"bank-b.o1","payer":"bank-b.x","payee":"bank-a.w1","amount":"7","expiry_batch":9,"expires_at":"2030-01-01T00:00:00Z","payer_key":"` + strings.Repeat("ab", 32) + `","payer_lock":"ed25519:` + strings.Repeat("ab", 32) + `"}`,
		`{"withdrawn":true}`,
		`{"tx":"` + tx + `","withdrawn":true}`,
		`{"amount":"0","payee_sig":"` + strings.Repeat("00", 64) + `"}`,
	}
	for i, s := range seeds {
		for r := range fuzzRoutes {
			if r%3 == i%3 || i < 2 {
				f.Add(uint8(r), []byte(s))
			}
		}
	}
	led, iss := &fakeLedger{}, &fakeIssuer{}
	bank := &fakeInter{name: "bank-a"}
	h := api.New(api.Config{
		Ledger: led, Issuer: iss, Policies: iss, Registry: iss,
		Intermediaries: map[string]roles.Intermediary{"bank-a": bank},
		Credentials:    []api.Credential{{Token: bankATok, Principal: bankAP}},
	}).Handler()
	calls := func() int {
		n := len(iss.Calls()) + len(bank.Calls())
		for _, c := range led.Calls() {
			if c.method != "Info" {
				n++
			}
		}
		return n
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		method := http.MethodPost
		if p, ok := strings.CutPrefix(path, "PUT "); ok {
			method, path = http.MethodPut, p
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bankATok)
		led.reset()
		iss.reset()
		bank.reset()
		w := httptest.NewRecorder()
		before := calls()
		h.ServeHTTP(w, req)
		res := w.Result()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode == http.StatusInternalServerError {
			t.Fatalf("%s %q: 500 %s", path, body, out)
		}
		if !json.Valid(out) {
			t.Fatalf("%s %q: response is not JSON: %s", path, body, out)
		}
		if !utf8.Valid(body) && res.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s %q: a body that is not UTF-8 answered %d %s", path, body, res.StatusCode, out)
		}
		if res.StatusCode == http.StatusBadRequest {
			var eb struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(out, &eb); err != nil || eb.Error.Code != "malformed" {
				t.Fatalf("%s %q: 400 without code malformed: %s", path, body, out)
			}
			if calls() != before {
				t.Fatalf("%s %q: rejected as malformed after calling a service", path, body)
			}
		}
	})
}
