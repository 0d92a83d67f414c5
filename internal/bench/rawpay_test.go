package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// TestRawPayerAgainstTheAPI pays with the generator's own requests through
// a whole in-process network's HTTP API: a payment commits as through the
// client package, a retry with its idempotency key is the same payment,
// and refused payments come back with the API's exact code and change no
// balance.
func TestRawPayerAgainstTheAPI(t *testing.T) {
	tg, stop, err := InProcPayments(t.TempDir(), false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	bank := tg.Banks[0]
	if err := mint(ctx, tg, bank.Name(), 500_00); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 2 {
		w, err := bank.OpenWallet(ctx, BenchWallet(fmt.Sprintf("raw-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, w.ID)
	}
	if _, err := bank.Pay(ctx, roles.Payment{From: bank.Name() + roles.TreasurySuffix, To: ids[0], Amount: 5_00}); err != nil {
		t.Fatal(err)
	}
	raw, ok, err := tg.raw(4)
	if err != nil || !ok {
		t.Fatalf("raw payer: ok %v, err %v", ok, err)
	}
	defer raw.close()
	balances := func() [2]uint64 {
		t.Helper()
		var out [2]uint64
		for i, id := range ids {
			w, err := bank.Wallet(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = w.Balance
		}
		return out
	}

	pay := roles.Payment{From: ids[0], To: ids[1], Amount: 1_00, IdempotencyKey: "raw-1"}
	if err := raw.pay(ctx, 0, pay); err != nil {
		t.Fatalf("pay: %v", err)
	}
	if got := balances(); got != [2]uint64{4_00, 1_00} {
		t.Fatalf("balances after paying 1.00: %v", got)
	}
	if err := raw.pay(ctx, 0, pay); err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	if got := balances(); got != [2]uint64{4_00, 1_00} {
		t.Fatalf("balances after the retry: %v, want the payment once", got)
	}

	refused := []struct {
		name string
		p    *rawPayer
		pay  roles.Payment
		code errcode.Code
	}{
		{"more than the wallet holds", raw, roles.Payment{From: ids[0], To: ids[1], Amount: 50_00, IdempotencyKey: "raw-2"}, errcode.InsufficientFunds},
		{"same key, other payment", raw, roles.Payment{From: ids[0], To: ids[1], Amount: 2_00, IdempotencyKey: "raw-1"}, errcode.Conflict},
		{"unknown payee", raw, roles.Payment{From: ids[0], To: bank.Name() + ".nobody", Amount: 1_00}, errcode.NotFound},
		{"wrong token", rawWithToken(t, raw, "not-the-token"), roles.Payment{From: ids[0], To: ids[1], Amount: 1_00}, errcode.Unauthorized},
	}
	for _, c := range refused {
		err := c.p.pay(ctx, 0, c.pay)
		if got := errcode.Of(err); got != c.code {
			t.Errorf("%s: code %q (%v), want %q", c.name, got, err, c.code)
		}
		if got := balances(); got != [2]uint64{4_00, 1_00} {
			t.Errorf("%s: balances %v, want unchanged", c.name, got)
		}
	}
	// Refused answers leave the connection usable.
	if err := raw.pay(ctx, 0, roles.Payment{From: ids[1], To: ids[0], Amount: 1_00, IdempotencyKey: "raw-3"}); err != nil {
		t.Fatalf("pay after refusals: %v", err)
	}
	if got := balances(); got != [2]uint64{5_00, 0} {
		t.Fatalf("balances after paying back: %v", got)
	}
}

// rawWithToken is a copy of p sending another bearer token.
func rawWithToken(t *testing.T, p *rawPayer, token string) *rawPayer {
	t.Helper()
	re := regexp.MustCompile(`Authorization: Bearer [^\r]*\r\n`)
	q := &rawPayer{pools: map[string]chan *rawConn{}, timeout: p.timeout}
	for _, b := range p.banks {
		if !re.Match(b.head) {
			t.Fatalf("no token in %q", b.head)
		}
		q.banks = append(q.banks, rawBank{addr: b.addr, head: re.ReplaceAll(b.head, []byte("Authorization: Bearer "+token+"\r\n"))})
		q.pools[b.addr] = make(chan *rawConn, 1)
	}
	t.Cleanup(q.close)
	return q
}

// TestRawPayerConnections checks the generator's connection handling
// against a real HTTP server on loopback that stands in for the API's
// answers: an idle connection the server closed is replaced, and the
// payment sent again only when it has an idempotency key; a server that
// closes after each answer gets a new connection each time; a dead server
// is unavailable.
func TestRawPayerConnections(t *testing.T) {
	var served, conns atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		IdleTimeout: 50 * time.Millisecond,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/v1/intermediaries/bank-a/payments" ||
				r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, `{"error":{"code":"malformed","message":"unexpected request"}}`, http.StatusBadRequest)
				return
			}
			served.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"txid":"00"}`))
		}),
	}
	go srv.Serve(ln)
	url := "http://" + ln.Addr().String() + "/" // a base URL may end in a slash
	p, ok, err := newRawPayer([]string{url}, []string{"tok"}, []string{"bank-a"}, 1)
	if err != nil || !ok {
		t.Fatalf("raw payer: ok %v, err %v", ok, err)
	}
	defer p.close()
	ctx := context.Background()
	keyed := roles.Payment{From: "bank-a.x", To: "bank-a.y", Amount: 1_00, IdempotencyKey: "k"}
	unkeyed := roles.Payment{From: "bank-a.x", To: "bank-a.y", Amount: 1_00}

	if err := p.pay(ctx, 0, keyed); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // past the server's idle timeout: it closes the kept connection
	if err := p.pay(ctx, 0, keyed); err != nil {
		t.Fatalf("keyed payment on a connection the server closed: %v, want it sent again on a new one", err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := p.pay(ctx, 0, unkeyed); errcode.Of(err) != errcode.Unavailable {
		t.Fatalf("unkeyed payment on a closed connection: %v, want unavailable (not sent twice)", err)
	}
	if err := p.pay(ctx, 0, unkeyed); err != nil {
		t.Fatalf("next payment, on a new connection: %v", err)
	}
	if err := p.pay(ctx, 0, unkeyed); err != nil {
		t.Fatalf("next payment, on the kept connection: %v", err)
	}
	if n, c := served.Load(), conns.Load(); n != 4 || c != 3 {
		t.Errorf("server answered %d payments on %d connections, want 4 on 3", n, c)
	}

	srv.SetKeepAlivesEnabled(false) // closes idle connections; every answer says Connection: close
	time.Sleep(50 * time.Millisecond)
	for i := range 3 {
		if err := p.pay(ctx, 0, keyed); err != nil {
			t.Fatalf("payment %d to a server that closes after each answer: %v", i, err)
		}
	}
	if n, c := served.Load(), conns.Load(); n != 7 || c != 6 {
		t.Errorf("server answered %d payments on %d connections, want 7 on 6 (one each)", n, c)
	}
	srv.Close()
	if err := p.pay(ctx, 0, keyed); errcode.Of(err) != errcode.Unavailable {
		t.Fatalf("server down: %v, want unavailable", err)
	}
}
