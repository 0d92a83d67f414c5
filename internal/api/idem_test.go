package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// postWith sends a POST with extra headers (each value its own line).
func postWith(t *testing.T, url, token, body string, header map[string][]string) response {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readResp(t, resp)
}

// The key reaches the service from the header, the body or both, for a
// payment and for a redemption alike; the Go client sends it; disagreeing
// or broken headers are malformed before the service is called.
func TestIdempotencyKeyTransport(t *testing.T) {
	e := newEnv(t, envOpts{})
	f := e.banks["bank-a"]
	routes := []struct {
		path, body, method string
		call               func(key string) any // what the service is called with
	}{
		{"payments", `{"from":"bank-a.w1","to":"bank-b.w2","amount":"307"`, "Pay", func(k string) any {
			return roles.Payment{From: "bank-a.w1", To: "bank-b.w2", Amount: 307, IdempotencyKey: k}
		}},
		{"redeems", `{"amount":"307"`, "Redeem", func(k string) any { return roles.RedeemRequest{Amount: 307, IdempotencyKey: k} }},
	}
	for _, rt := range routes {
		url := e.srv.URL + "/v1/intermediaries/bank-a/" + rt.path
		body := rt.body
		tests := []struct {
			name   string
			body   string
			header []string // Idempotency-Key values; nil: none
			want   string   // key the service sees; "!" for a 400 malformed
		}{
			{"none", body + `}`, nil, ""},
			{"header", body + `}`, []string{"k-1"}, "k-1"},
			{"body", body + `,"idempotency_key":"k-2"}`, nil, "k-2"},
			{"both agreeing", body + `,"idempotency_key":"k-3"}`, []string{"k-3"}, "k-3"},
			{"body with spaces HTTP strips from the header", body + `,"idempotency_key":" k 4 "}`, []string{" k 4 "}, " k 4 "},
			{"both differing", body + `,"idempotency_key":"k-5"}`, []string{"k-6"}, "!"},
			{"header twice", body + `}`, []string{"k-7", "k-7"}, "!"},
			{"empty header", body + `}`, []string{""}, "!"},
		}
		for _, tc := range tests {
			t.Run(rt.path+"/"+tc.name, func(t *testing.T) {
				n := len(f.Calls())
				var h map[string][]string
				if tc.header != nil {
					h = map[string][]string{"Idempotency-Key": tc.header}
				}
				r := postWith(t, url, bankATok, tc.body, h)
				if tc.want == "!" {
					wantError(t, r, 400, "malformed")
					if len(f.Calls()) != n {
						t.Fatal("a malformed request reached the intermediary")
					}
					return
				}
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				wantCall(t, &f.recorder, rt.method, &bankAP, rt.call(tc.want))
			})
		}
	}

	in := e.bankC.Intermediary("bank-a")
	for _, key := range []string{"order-42", " padded ", "bad\nkey", "clé"} {
		p := roles.Payment{From: "bank-a.w1", To: "bank-b.w2", Amount: 5, IdempotencyKey: key}
		if _, err := in.Pay(context.Background(), p); err != nil {
			t.Fatalf("client with key %q: %v", key, err)
		}
		wantCall(t, &f.recorder, "Pay", &bankAP, p)
		r := roles.RedeemRequest{Amount: 5, IdempotencyKey: key}
		if _, err := in.Redeem(context.Background(), r); err != nil {
			t.Fatalf("client redeeming with key %q: %v", key, err)
		}
		wantCall(t, &f.recorder, "Redeem", &bankAP, r)
	}
}

// lossyLedger is the real ledger behind a link whose answers to
// submissions can be lost: the transaction commits, the caller hears
// unavailable.
type lossyLedger struct {
	*ledger.Ledger
	lost atomic.Bool
}

func (l *lossyLedger) Submit(ctx context.Context, tx *money.Tx) (roles.Receipt, error) {
	r, err := l.Ledger.Submit(ctx, tx)
	if l.lost.Load() {
		return roles.Receipt{}, errcode.New(errcode.Unavailable, "connection reset")
	}
	return r, err
}

var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

// Over real HTTP with a real ledger and intermediary: retrying a payment
// with the Idempotency-Key header pays once and answers the same body; a
// different payment under the key is 409 conflict; a payment whose answer
// was lost is 503 naming its txid, and the retry answers it committed.
func TestIdempotentPayOverHTTP(t *testing.T) {
	net := ledgertest.New()
	dir := t.TempDir()
	lcfg := net.TestConfig()
	lcfg.Logger = slog.New(slog.DiscardHandler)
	l, err := ledger.Open(filepath.Join(dir, "ledger"), lcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	link := &lossyLedger{Ledger: l}
	bank, err := intermediary.Open(filepath.Join(dir, "bank-a"), intermediary.Config{
		Name: "bank-a", Network: net.Network, RetryInterval: -1, SettleAfter: -1, Logger: slog.New(slog.DiscardHandler),
	}, link, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bank.Close() })
	srv := httptest.NewServer(api.New(api.Config{
		Ledger: l, Intermediaries: map[string]roles.Intermediary{"bank-a": bank},
		Credentials: []api.Credential{{Token: bankATok, Principal: bankAP}},
	}).Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	in := client.New(srv.URL, bankATok).Intermediary("bank-a")

	// 1000.00 minted straight into the treasury.
	asIssuer := roles.WithCaller(ctx, issuerP)
	lock, err := bank.ReceiveLock(asIssuer, "bank-a.treasury")
	noErr(t, err)
	mint := net.Mint([]int{0, 1}, money.Output{Value: 100000, Lock: lock})
	_, err = l.Submit(asIssuer, mint)
	noErr(t, err)
	noErr(t, bank.Deliver(asIssuer, mint))
	alice, err := in.OpenWallet(ctx, unlimited("alice"))
	noErr(t, err)

	url := srv.URL + "/v1/intermediaries/bank-a/payments"
	pay := func(amount, key string) response {
		return postWith(t, url, bankATok, `{"from":"bank-a.treasury","to":"`+alice.ID+`","amount":"`+amount+`"}`,
			map[string][]string{"Idempotency-Key": {key}})
	}
	state := func() string {
		a, err := in.Wallet(ctx, alice.ID)
		noErr(t, err)
		tr, err := in.Wallet(ctx, "bank-a.treasury")
		noErr(t, err)
		h, err := in.History(ctx, alice.ID)
		noErr(t, err)
		sup, err := l.Supply(ctx)
		noErr(t, err)
		return fmt.Sprintf("%d %d %d %d", a.Balance, tr.Balance, len(h), sup.Batches)
	}

	first := pay("12.50", "invoice-2026-0042")
	if first.status != 200 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	after := state()
	for range 2 {
		again := pay("12.50", "invoice-2026-0042")
		if again.status != 200 || !bytes.Equal(again.body, first.body) {
			t.Fatalf("retry answered %d %s\nfirst answer was %s", again.status, again.body, first.body)
		}
	}
	// The client sends the key too (body and header); the same payment
	// in minor units is the same request.
	var res struct {
		TxID money.TxID `json:"txid"`
	}
	noErr(t, json.Unmarshal(first.body, &res))
	pr, err := in.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: alice.ID, Amount: 1250, IdempotencyKey: "invoice-2026-0042"})
	noErr(t, err)
	if pr.TxID != res.TxID {
		t.Fatalf("client retry paid %s, first %s", pr.TxID, res.TxID)
	}
	if got := state(); got != after || !strings.HasPrefix(got, "1250 98750 1 ") {
		t.Fatalf("after retries %q, after the first payment %q", got, after)
	}

	r := pay("12.51", "invoice-2026-0042")
	wantError(t, r, 409, "conflict")
	if !strings.Contains(string(r.body), "idempotency key reused for a different payment") {
		t.Fatalf("conflict message: %s", r.body)
	}
	r = postWith(t, url, bankATok, `{"from":"bank-a.treasury","to":"`+alice.ID+`","amount":"1","idempotency_key":"a"}`,
		map[string][]string{"Idempotency-Key": {"b"}})
	wantError(t, r, 400, "malformed")
	wantError(t, pay("1", strings.Repeat("k", 129)), 400, "malformed")
	if got := state(); got != after {
		t.Fatalf("rejected requests changed state: %q, want %q", got, after)
	}

	// The answer is lost: 503 naming the txid, which the ledger has; the
	// retry answers it committed, and nothing is paid twice.
	link.lost.Store(true)
	_, err = in.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: alice.ID, Amount: 500, IdempotencyKey: "invoice-2026-0043"})
	link.lost.Store(false)
	wantCode(t, "lost answer", err, errcode.Unavailable, 503)
	m := hex64.FindString(err.Error())
	if m == "" {
		t.Fatalf("unavailable without a txid: %v", err)
	}
	lost, err := money.ParseHash(m)
	noErr(t, err)
	if info, err := l.Tx(ctx, lost); err != nil || info.Status != "committed" {
		t.Fatalf("named txid %s: %+v %v", lost, info, err)
	}
	pr, err = in.Pay(ctx, roles.Payment{From: "bank-a.treasury", To: alice.ID, Amount: 500, IdempotencyKey: "invoice-2026-0043"})
	noErr(t, err)
	if pr.TxID != lost || pr.Receipt.Batch == 0 {
		t.Fatalf("retry %+v, want txid %s committed", pr, lost)
	}
	if got := state(); !strings.HasPrefix(got, "1750 98250 2 ") {
		t.Fatalf("after the lost answer and its retry: %q", got)
	}
}
