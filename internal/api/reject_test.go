package api_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
)

func b64(t *testing.T, tx *money.Tx) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(txBytes(t, tx))
}

// TestErrorCodes: every code a service returns reaches the HTTP caller
// with its status and the exact JSON shape, and the Go client rebuilds the
// same *errcode.Error.
func TestErrorCodes(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	note := hashOf(0x43)
	path := "/v1/notes/" + note.String()
	cases := []struct {
		name    string
		err     error
		status  int
		code    errcode.Code
		message string
	}{
		{"double_spend", errcode.New(errcode.DoubleSpend, "input 0 spent"), 409, errcode.DoubleSpend, "input 0 spent"},
		{"insufficient_funds", errcode.New(errcode.InsufficientFunds, "balance 5 < 7"), 422, errcode.InsufficientFunds, "balance 5 < 7"},
		{"limit_exceeded", errcode.New(errcode.LimitExceeded, "tier 1 cap"), 422, errcode.LimitExceeded, "tier 1 cap"},
		{"bad_signature", errcode.New(errcode.BadSignature, "input 0"), 400, errcode.BadSignature, "input 0"},
		{"unauthorized", errcode.New(errcode.Unauthorized, "no"), 401, errcode.Unauthorized, "no"},
		{"forbidden", errcode.Forbidden("not your wallet"), 403, errcode.Unauthorized, "not your wallet"},
		{"malformed", errcode.New(errcode.Malformed, "bad"), 400, errcode.Malformed, "bad"},
		{"not_found", errcode.New(errcode.NotFound, "no such note"), 404, errcode.NotFound, "no such note"},
		{"unknown_note", errcode.New(errcode.UnknownNote, "never created"), 422, errcode.UnknownNote, "never created"},
		{"conflict", errcode.New(errcode.Conflict, "approved twice"), 409, errcode.Conflict, "approved twice"},
		{"unavailable", errcode.New(errcode.Unavailable, "shard down"), 503, errcode.Unavailable, "shard down"},
		{"internal", errcode.New(errcode.Internal, "disk"), 500, errcode.Internal, "disk"},
		{"wrapped code", fmt.Errorf("ledger: note: %w", errcode.New(errcode.NotFound, "gone")), 404, errcode.NotFound, "gone"},
		{"money malformed", fmt.Errorf("decode: %w", money.ErrMalformed), 400, errcode.Malformed, "decode: malformed transaction"},
		// A plain error is a bug: 500, with its detail logged, not sent.
		{"plain error", errors.New("pebble: secret path /var/x"), 500, errcode.Internal, "internal error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.ledger.setErr(c.err)
			defer e.ledger.setErr(nil)
			r := e.rawS(t, "GET", path, "", "")
			wantError(t, r, c.status, string(c.code))
			if m := r.json(t)["error"].(map[string]any)["message"]; m != c.message {
				t.Fatalf("message %q, want %q", m, c.message)
			}
			_, err := e.anonC.Ledger().Note(ctx, note)
			var ce *errcode.Error
			if !errors.As(err, &ce) {
				t.Fatalf("client error %T %v, want *errcode.Error", err, err)
			}
			want := errcode.Error{Code: c.code, Message: c.message, Status: c.status}
			if c.status == 503 {
				want.RetryAfter = time.Second // the answer's Retry-After, read back
			}
			same(t, "client error", *ce, want)
			if errcode.HTTPStatus(err) != c.status {
				t.Fatalf("client error status %d, want %d", errcode.HTTPStatus(err), c.status)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "pebble: secret path") {
		t.Fatal("internal error detail was not logged")
	}
}

type route struct {
	method, path, body string
}

func authedRoutes(t *testing.T) []route {
	tx := `{"tx":"` + b64(t, transferTx(10, 1)) + `"}`
	id := hashOf(0x11).String()
	return []route{
		{"POST", "/v1/transactions", tx},
		{"POST", "/v1/transactions/batch", `{"txs":[` + strings.TrimPrefix(strings.TrimSuffix(tx, "}"), `{"tx":`) + `]}`},
		{"POST", "/v1/issuer/mints", `{"to":"bank-a","amount":"100"}`},
		{"GET", "/v1/issuer/mints/" + id, ""},
		{"POST", "/v1/issuer/mints/" + id + "/approvals", `{"key":"` + key(4).Public().String() + `","signature":"` + strings.Repeat("ab", 64) + `"}`},
		{"POST", "/v1/issuer/redeems", tx},
		{"POST", "/v1/intermediaries/bank-a/wallets", `{"owner":"alice"}`},
		{"GET", "/v1/intermediaries/bank-a/wallets/bank-a.w1", ""},
		{"GET", "/v1/intermediaries/bank-a/wallets/bank-a.w1/history", ""},
		{"GET", "/v1/intermediaries/bank-a/wallets/bank-a.w1/lock", ""},
		{"POST", "/v1/intermediaries/bank-a/payments", `{"from":"bank-a.w1","to":"bank-b.w2","amount":"5"}`},
		{"POST", "/v1/intermediaries/bank-a/deliveries", tx},
		{"POST", "/v1/intermediaries/bank-a/redeems", `{"amount":"5"}`},
	}
}

// TestAuthentication: routes that act need a valid bearer token, checked
// before any service is touched; the principal reaches the service.
func TestAuthentication(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, rt := range authedRoutes(t) {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			for _, tc := range []struct{ name, header string }{
				{"missing", ""},
				{"unknown token", "Bearer not-a-token"},
				{"empty bearer", "Bearer "},
				{"basic scheme", "Basic " + bankATok},
				{"token without scheme", bankATok},
			} {
				before := e.totalCalls()
				req, _ := http.NewRequest(rt.method, e.srv.URL+rt.path, strings.NewReader(rt.body))
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				resp, err := http.DefaultClient.Do(req)
				noErr(t, err)
				r := readResp(t, resp)
				wantError(t, r, 401, "unauthorized")
				if r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no WWW-Authenticate header", tc.name)
				}
				if e.totalCalls() != before {
					t.Fatalf("%s: a service was called without a valid token", tc.name)
				}
			}
			// With a valid token the request reaches a service as bank-a.
			before := e.totalCalls()
			r := e.rawS(t, rt.method, rt.path, bankATok, rt.body)
			if r.status >= 300 {
				t.Fatalf("with token: status %d: %s", r.status, r.body)
			}
			if e.totalCalls() != before+1 {
				t.Fatalf("with token: %d service calls, want 1", e.totalCalls()-before)
			}
		})
	}

	t.Run("submit needs issuer or intermediary role", func(t *testing.T) {
		before := e.totalCalls()
		r := e.rawS(t, "POST", "/v1/transactions", auditorTok, `{"tx":"`+b64(t, transferTx(1, 1))+`"}`)
		wantError(t, r, 403, "unauthorized")
		if e.totalCalls() != before {
			t.Fatal("a submit by a non-submitting role reached the ledger")
		}
	})

	t.Run("public reads", func(t *testing.T) {
		r := e.rawS(t, "GET", "/v1/supply", "", "")
		if r.status != 200 {
			t.Fatalf("anonymous supply: %d", r.status)
		}
		wantCall(t, &e.issuer.recorder, "Supply", nil)
		r = e.rawS(t, "GET", "/v1/supply", bankATok, "")
		if r.status != 200 {
			t.Fatalf("supply with token: %d", r.status)
		}
		wantCall(t, &e.issuer.recorder, "Supply", &bankAP)
		before := e.totalCalls()
		wantError(t, e.rawS(t, "GET", "/v1/supply", "stale-token", ""), 401, "unauthorized")
		if e.totalCalls() != before {
			t.Fatal("a bad token reached a service")
		}
	})

	t.Run("services authorize", func(t *testing.T) {
		e.banks["bank-a"].setErr(errcode.Forbidden("wallet bank-a.w1 is not yours"))
		defer e.banks["bank-a"].setErr(nil)
		_, err := e.issuerC.Intermediary("bank-a").Wallet(context.Background(), "bank-a.w1")
		if errcode.HTTPStatus(err) != 403 || !errcode.Is(err, errcode.Unauthorized) {
			t.Fatalf("forbidden: %v", err)
		}
		wantCall(t, &e.banks["bank-a"].recorder, "Wallet", &issuerP, "bank-a.w1")
	})
}

func readResp(t *testing.T, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: []byte(b.String())}
}

// TestMalformedBodies: bodies that cannot be read are 400 malformed and
// never reach a service.
func TestMalformedBodies(t *testing.T) {
	e := newEnv(t, envOpts{})
	good := b64(t, transferTx(10, 1))
	valid := `{"tx":"` + good + `"}`
	big := `{"tx":"` + strings.Repeat("A", 1<<20) + `"}`
	cases := []struct{ name, path, body string }{
		{"bad JSON", "/v1/transactions", `{"tx":`},
		{"not JSON", "/v1/transactions", `tx=abc`},
		{"empty body", "/v1/transactions", ``},
		{"null", "/v1/intermediaries/bank-a/wallets", `null`},
		{"array", "/v1/intermediaries/bank-a/wallets", `[{"owner":"x"}]`},
		{"unknown field", "/v1/transactions", `{"tx":"` + good + `","fee":"1"}`},
		{"unknown field (wallets)", "/v1/intermediaries/bank-a/wallets", `{"owner":"x","kyc":3}`},
		{"wrong type", "/v1/intermediaries/bank-a/wallets", `{"owner":7}`},
		{"missing tx", "/v1/transactions", `{}`},
		{"bad base64", "/v1/transactions", `{"tx":"!!!not base64!!!"}`},
		{"url base64", "/v1/transactions", `{"tx":"` + strings.NewReplacer("+", "-", "/", "_").Replace(good) + `_-"}`},
		{"base64 of garbage", "/v1/transactions", `{"tx":"AAAA"}`},
		{"trailing bytes in tx", "/v1/transactions", `{"tx":"` + base64.StdEncoding.EncodeToString(append(txBytes(t, transferTx(10, 1)), 0)) + `"}`},
		{"unbalanced tx", "/v1/transactions", `{"tx":"` + b64(t, func() *money.Tx { x := transferTx(10, 1); x.Outputs[0].Value = 11; return x }()) + `"}`},
		{"trailing garbage", "/v1/transactions", valid + `garbage`},
		{"two objects", "/v1/transactions", valid + valid},
		{"oversize", "/v1/transactions", big},
		{"oversize redeem", "/v1/issuer/redeems", big},
		{"oversize delivery", "/v1/intermediaries/bank-a/deliveries", big},
		{"bad tx (issuer redeem)", "/v1/issuer/redeems", `{"tx":"%%%"}`},
		{"bad tx (delivery)", "/v1/intermediaries/bank-a/deliveries", `{"tx":""}`},
		{"batch not array", "/v1/transactions/batch", `{"txs":"` + good + `"}`},
		{"batch of numbers", "/v1/transactions/batch", `{"txs":[1,2]}`},
		{"batch trailing", "/v1/transactions/batch", `{"txs":[]} x`},
		{"batch oversize", "/v1/transactions/batch", `{"txs":["` + strings.Repeat("A", 16<<20) + `"]}`},
		{"approval bad key hex", "/v1/issuer/mints/" + hashOf(1).String() + "/approvals", `{"key":"zz","signature":"` + strings.Repeat("ab", 64) + `"}`},
		{"approval short sig", "/v1/issuer/mints/" + hashOf(1).String() + "/approvals", `{"key":"` + key(4).Public().String() + `","signature":"abcd"}`},
		{"approval bad sig hex", "/v1/issuer/mints/" + hashOf(1).String() + "/approvals", `{"key":"` + key(4).Public().String() + `","signature":"` + strings.Repeat("zz", 64) + `"}`},
		{"approval bad id", "/v1/issuer/mints/xyz/approvals", `{"key":"` + key(4).Public().String() + `","signature":"` + strings.Repeat("ab", 64) + `"}`},
		{"amount as number", "/v1/issuer/mints", `{"to":"bank-a","amount":100}`},
		{"payment amount float", "/v1/intermediaries/bank-a/payments", `{"from":"a","to":"b","amount":1.5}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.totalCalls()
			tok := bankATok
			r := e.rawS(t, "POST", c.path, tok, c.body)
			wantError(t, r, 400, "malformed")
			if e.totalCalls() != before {
				t.Fatalf("a malformed request reached a service: %+v", e.ledger.last())
			}
		})
	}

	t.Run("bad path ids", func(t *testing.T) {
		for _, p := range []string{"/v1/transactions/abc", "/v1/notes/" + strings.Repeat("g", 64), "/v1/issuer/mints/12"} {
			before := e.totalCalls()
			wantError(t, e.rawS(t, "GET", p, issuerTok, ""), 400, "malformed")
			if e.totalCalls() != before {
				t.Fatalf("%s reached a service", p)
			}
		}
	})

	t.Run("batch entries", func(t *testing.T) {
		// Undecodable entries get their own malformed result; the rest are
		// submitted, in order, as if alone.
		tx0, tx2 := transferTx(1, 1), transferTx(2, 2)
		body := `{"txs":["` + b64(t, tx0) + `","@@","` + b64(t, tx2) + `"]}`
		r := e.rawS(t, "POST", "/v1/transactions/batch", bankATok, body)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		res := r.json(t)["results"].([]any)
		if len(res) != 3 {
			t.Fatalf("%d results", len(res))
		}
		if res[1].(map[string]any)["error"].(map[string]any)["code"] != "malformed" {
			t.Fatalf("entry 1: %v", res[1])
		}
		for _, i := range []int{0, 2} {
			rc := res[i].(map[string]any)["receipt"].(map[string]any)
			want := []*money.Tx{tx0, nil, tx2}[i]
			if rc["txid"] != testNet.TxID(want).String() {
				t.Fatalf("entry %d receipt %v", i, rc)
			}
		}
		sent := e.ledger.last().args[0].([]*money.Tx)
		if len(sent) != 2 {
			t.Fatalf("ledger got %d transactions, want the 2 decodable ones", len(sent))
		}

		before := e.totalCalls()
		r = e.rawS(t, "POST", "/v1/transactions/batch", bankATok, `{"txs":["@@","AAAA"]}`)
		if r.status != 200 || e.totalCalls() != before {
			t.Fatalf("all-bad batch: status %d, service calls %d", r.status, e.totalCalls()-before)
		}
		r = e.rawS(t, "POST", "/v1/transactions/batch", bankATok, `{"txs":[]}`)
		same(t, "empty batch", r.json(t), map[string]any{"results": []any{}})
		if e.totalCalls() != before {
			t.Fatal("an empty batch reached the ledger")
		}
	})

	t.Run("a batch just under 16 MiB is read", func(t *testing.T) {
		one := `"` + b64(t, transferTx(1, 1)) + `"`
		n := (15 << 20) / (len(one) + 1)
		if n > 10000 {
			// The count limit binds before the size limit at this tx size.
			n = 10000
		}
		body := `{"txs":[` + strings.TrimSuffix(strings.Repeat(one+",", n), ",") + `]}`
		if len(body) <= 1<<20 {
			t.Fatalf("test body of %d bytes does not exceed the 1 MiB single limit", len(body))
		}
		r := e.rawS(t, "POST", "/v1/transactions/batch", bankATok, body)
		if r.status != 200 {
			t.Fatalf("status %d: %.200s", r.status, r.body)
		}
		r = e.rawS(t, "POST", "/v1/transactions/batch", bankATok, `{"txs":[`+strings.TrimSuffix(strings.Repeat(one+",", 10001), ",")+`]}`)
		wantError(t, r, 400, "malformed")
	})
}
