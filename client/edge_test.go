package client_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

const payAnswer = `{"txid":"0505050505050505050505050505050505050505050505050505050505050505","receipt":{"txid":"0505050505050505050505050505050505050505050505050505050505050505","batch":11,"index":3},"from":"bank-a.p","to":"bank-b.q","amount":"100"}` + "\n"

// TestPaymentsReuseOneConnection: one caller's payments, one after the
// other, all travel on one kept-alive connection (a new connection a
// payment costs a TCP handshake on both sides), and each carries the
// headers the API reads exactly once.
func TestPaymentsReuseOneConnection(t *testing.T) {
	var conns, reqs atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		for h, want := range map[string]string{
			"Authorization":   "Bearer tok",
			"Content-Type":    "application/json",
			"Accept":          "application/json",
			"User-Agent":      "specie-client/1",
			"Idempotency-Key": "k-" + r.Header.Get("Idempotency-Key")[2:],
		} {
			if got := r.Header.Values(h); len(got) != 1 || got[0] != want {
				t.Errorf("%s: %q, want once %q", h, got, want)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(payAnswer))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	bank := client.New(srv.URL, "tok").Intermediary("bank-a")
	for i := range 50 {
		res, err := bank.Pay(context.Background(), roles.Payment{From: "bank-a.p", To: "bank-b.q", Amount: 100, IdempotencyKey: "k-" + strings.Repeat("x", i+1)})
		if err != nil {
			t.Fatalf("payment %d: %v", i, err)
		}
		if res.Receipt.Batch != 11 || res.Receipt.Index != 3 || res.Amount != 100 || res.From != "bank-a.p" || res.To != "bank-b.q" {
			t.Fatalf("payment %d: result %+v", i, res)
		}
	}
	if n := reqs.Load(); n != 50 {
		t.Fatalf("server saw %d requests, want 50", n)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("50 payments opened %d connections, want 1 kept alive", n)
	}
}

// TestShortResponseBodyIsUnavailable: a response cut off before the length
// it declared (a proxy or server that died mid-answer) is unavailable, so
// the caller retries with its key; it is never read as a result.
func TestShortResponseBodyIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n" + payAnswer[:40])
		_ = buf.Flush()
	}))
	defer srv.Close()
	bank := client.New(srv.URL, "tok").Intermediary("bank-a")
	_, err := bank.Pay(context.Background(), roles.Payment{From: "bank-a.p", To: "bank-b.q", Amount: 100, IdempotencyKey: "k-1"})
	if !errcode.Is(err, errcode.Unavailable) {
		t.Fatalf("cut-off answer: %v, want unavailable", err)
	}
}
