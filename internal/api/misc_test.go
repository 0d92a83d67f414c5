package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// TestAmounts: input amounts are minor units or exact decimals in the
// network currency (USD, 2 places); nothing else gets through.
func TestAmounts(t *testing.T) {
	e := newEnv(t, envOpts{})
	cases := []struct {
		in   string
		want uint64 // 0: rejected as malformed
	}{
		{"100000000", 100000000},
		{"1000000.00", 100000000},
		{"12.5", 1250},
		{"0.01", 1},
		{"1", 1},
		{"007", 7},
		{"18446744073709551615", 18446744073709551615},
		{"184467440737095516.15", 18446744073709551615},
		{"1e5", 0},
		{"-3", 0},
		{"+3", 0},
		{"1.234", 0},
		{"0", 0},
		{"0.00", 0},
		{"", 0},
		{" 5", 0},
		{"5 ", 0},
		{"1,000", 0},
		{"1.", 0},
		{".5", 0},
		{"1..2", 0},
		{"0x10", 0},
		{"NaN", 0},
		{"18446744073709551616", 0},
		{"184467440737095516.16", 0},
		{"１２", 0}, // full-width digits
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			before := e.totalCalls()
			r := e.rawS(t, "POST", "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"`+c.in+`"}`)
			if c.want == 0 {
				wantError(t, r, 400, "malformed")
				if e.totalCalls() != before {
					t.Fatal("a bad amount reached the issuer")
				}
				return
			}
			if r.status != 201 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			wantCall(t, &e.issuer.recorder, "ProposeMint", &issuerP, "bank-a", c.want)
		})
	}
	// Payments and intermediary redeems parse the same way.
	r := e.rawS(t, "POST", "/v1/intermediaries/bank-a/payments", bankATok, `{"from":"bank-a.w1","to":"bank-b.w2","amount":"3.07","reference":"x"}`)
	if r.status != 200 {
		t.Fatalf("payment: %d %s", r.status, r.body)
	}
	wantCall(t, &e.banks["bank-a"].recorder, "Pay", &bankAP, roles.Payment{From: "bank-a.w1", To: "bank-b.w2", Amount: 307, Reference: "x"})
	if m := r.json(t); m["amount"] != "307" || m["amount_decimal"] != "3.07" {
		t.Fatalf("payment JSON %s", r.body)
	}
	r = e.rawS(t, "POST", "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"0.5"}`)
	if r.status != 200 {
		t.Fatalf("redeem: %d %s", r.status, r.body)
	}
	wantCall(t, &e.banks["bank-a"].recorder, "Redeem", &bankAP, roles.RedeemRequest{Amount: 50})
	wantError(t, e.rawS(t, "POST", "/v1/intermediaries/bank-a/redeems", bankATok, `{"amount":"0.555"}`), 400, "malformed")
}

// TestIntermediaryOnly: a process serving only intermediaries has no
// ledger or issuer routes, and reads decimals only if told the currency.
func TestIntermediaryOnly(t *testing.T) {
	e := newEnv(t, envOpts{noLedger: true, noIssuer: true, banks: []string{"bank-a"}})
	for _, p := range []string{"/v1/info", "/v1/supply", "/v1/notes/" + hashOf(1).String()} {
		wantError(t, e.rawS(t, "GET", p, "", ""), 404, "not_found")
	}
	wantError(t, e.rawS(t, "POST", "/v1/issuer/mints", issuerTok, `{"to":"bank-a","amount":"1"}`), 404, "not_found")
	body := `{"from":"bank-a.w1","to":"bank-b.w2","amount":"3.07"}`
	r := e.rawS(t, "POST", "/v1/intermediaries/bank-a/payments", bankATok, body)
	wantError(t, r, 400, "malformed")
	if !strings.Contains(string(r.body), "minor units") {
		t.Fatalf("message should say to send minor units: %s", r.body)
	}
	if len(e.banks["bank-a"].Calls()) != 0 {
		t.Fatal("payment reached the intermediary")
	}
	r = e.rawS(t, "POST", "/v1/intermediaries/bank-a/payments", bankATok, `{"from":"bank-a.w1","to":"bank-b.w2","amount":"307"}`)
	if r.status != 200 {
		t.Fatalf("minor units: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "_decimal") {
		t.Fatalf("decimal fields without a known currency: %s", r.body)
	}

	e = newEnv(t, envOpts{noLedger: true, noIssuer: true, banks: []string{"bank-a"}, currency: money.Currency{Code: "KES", Exponent: 2}})
	r = e.rawS(t, "POST", "/v1/intermediaries/bank-a/payments", bankATok, body)
	if r.status != 200 {
		t.Fatalf("with configured currency: %d %s", r.status, r.body)
	}
	wantCall(t, &e.banks["bank-a"].recorder, "Pay", &bankAP, roles.Payment{From: "bank-a.w1", To: "bank-b.w2", Amount: 307})
}

func TestRouting(t *testing.T) {
	e := newEnv(t, envOpts{})
	t.Run("unknown intermediary", func(t *testing.T) {
		before := e.totalCalls()
		r := e.rawS(t, "GET", "/v1/intermediaries/bank-z/wallets/bank-z.w1", bankATok, "")
		wantError(t, r, 404, "not_found")
		_, err := e.bankC.Intermediary("bank-z").OpenWallet(context.Background(), unlimited("x"))
		if !errcode.Is(err, errcode.NotFound) || errcode.HTTPStatus(err) != 404 {
			t.Fatalf("client: %v", err)
		}
		if e.totalCalls() != before {
			t.Fatal("a service was called")
		}
	})
	t.Run("unknown route", func(t *testing.T) {
		wantError(t, e.rawS(t, "GET", "/v2/info", "", ""), 404, "not_found")
		wantError(t, e.rawS(t, "GET", "/", "", ""), 404, "not_found")
	})
	t.Run("wrong method", func(t *testing.T) {
		r := e.rawS(t, "DELETE", "/v1/transactions", bankATok, "")
		wantError(t, r, 405, "malformed")
		if got := strings.TrimSpace(string(r.body)); got != `{"error":{"code":"malformed","message":"method DELETE not allowed on /v1/transactions"}}` {
			t.Fatalf("405 answered %s", got)
		}
		if r.header.Get("Allow") == "" {
			t.Fatal("405 without Allow")
		}
	})
	t.Run("headers query", func(t *testing.T) {
		for _, c := range []struct {
			q     string
			from  uint64
			limit int
		}{
			{"", 1, 100},
			{"?from=3", 3, 100},
			{"?limit=1000", 1, 1000},
			{"?from=2&limit=5000", 2, 1000},
		} {
			r := e.rawS(t, "GET", "/v1/log/headers"+c.q, "", "")
			if r.status != 200 {
				t.Fatalf("%q: %d %s", c.q, r.status, r.body)
			}
			wantCall(t, &e.ledger.recorder, "Headers", nil, c.from, c.limit)
		}
		for _, q := range []string{"?from=0", "?from=x", "?from=-1", "?limit=0", "?limit=-5", "?limit=1e3"} {
			before := e.totalCalls()
			wantError(t, e.rawS(t, "GET", "/v1/log/headers"+q, "", ""), 400, "malformed")
			if e.totalCalls() != before {
				t.Fatalf("%s reached the ledger", q)
			}
		}
	})
}

func TestHealthMetricsLogs(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.rawS(t, "GET", "/healthz", "", "")
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", r.status, r.body)
	}
	if err := e.anonC.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.rawS(t, "GET", "/v1/info", "", "")
	e.rawS(t, "GET", "/v1/info", "", "")
	e.rawS(t, "GET", "/v1/notes/zz", "", "")
	e.rawS(t, "GET", "/nope", "", "")

	r = e.rawS(t, "GET", "/metrics", "", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %q", r.status, r.header.Get("Content-Type"))
	}
	text := string(r.body)
	for _, want := range []string{
		`specie_http_requests_total{code="200",route="GET /v1/info"} 2`,
		`specie_http_requests_total{code="400",route="GET /v1/notes/{noteid}"} 1`,
		`specie_http_requests_total{code="404",route="unmatched"} 1`,
		`specie_http_request_duration_seconds_bucket{route="GET /v1/info",le="+Inf"} 2`,
		`specie_http_request_duration_seconds_count{route="GET /healthz"}`,
		"# TYPE specie_http_request_duration_seconds histogram",
		"go_goroutines",
		"process_cpu_seconds_total ", // specie bench reads the ledger's CPU from it
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	logs := e.logs.String()
	for _, want := range []string{`"method":"GET"`, `"path":"/v1/info"`, `"status":200`, `"duration":`, `"status":400`, `"code":"malformed"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestPanicRecovered(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.ledger.mu.Lock()
	e.ledger.panicOn = "Note"
	e.ledger.mu.Unlock()
	r := e.rawS(t, "GET", "/v1/notes/"+hashOf(1).String(), "", "")
	wantError(t, r, 500, "internal")
	if got := strings.TrimSpace(string(r.body)); got != `{"error":{"code":"internal","message":"internal error"}}` {
		t.Fatalf("panic answered %s", got)
	}
	if !strings.Contains(e.logs.String(), "fake panics in Note") {
		t.Fatal("panic not logged")
	}
	if r := e.rawS(t, "GET", "/healthz", "", ""); r.status != 200 {
		t.Fatal("server did not survive a panic")
	}
}

// TestClientTransport: failures to reach the server are unavailable and
// keep their cause; parallel use shares kept-alive connections.
func TestClientTransport(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()

	t.Run("deadline", func(t *testing.T) {
		e.ledger.mu.Lock()
		e.ledger.block = make(chan struct{})
		e.ledger.mu.Unlock()
		defer func() {
			e.ledger.mu.Lock()
			close(e.ledger.block)
			e.ledger.block = nil
			e.ledger.mu.Unlock()
		}()
		c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := e.bankC.Ledger().Submit(c, transferTx(1, 1))
		if !errcode.Is(err, errcode.Unavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want unavailable wrapping DeadlineExceeded", err)
		}
	})

	t.Run("parallel", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 400)
		for g := 0; g < 20; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					tx := transferTx(uint64(g*100+i+1), uint64(i))
					rc, err := e.bankC.Ledger().Submit(ctx, tx)
					if err == nil && rc.TxID != testNet.TxID(tx) {
						err = errors.New("receipt for another transaction")
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	t.Run("server gone", func(t *testing.T) {
		dead := newEnv(t, envOpts{})
		url := dead.srv.URL
		dead.srv.Close()
		_, err := client.New(url, "").Ledger().Info(ctx)
		var ce *errcode.Error
		if !errors.As(err, &ce) || ce.Code != errcode.Unavailable || errcode.HTTPStatus(err) != http.StatusServiceUnavailable {
			t.Fatalf("got %v, want unavailable", err)
		}
	})
}
