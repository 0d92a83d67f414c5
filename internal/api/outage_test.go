package api_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/intermediary"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/roles"
)

// ledgerServer serves a ledger's API on a fixed loopback address that can
// be taken down (every connection closed, nothing listening: connection
// refused) and brought back on the same address.
type ledgerServer struct {
	t    *testing.T
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func (s *ledgerServer) up() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the port may linger for a moment after down
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := &http.Server{Handler: s.h}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(ln)
}

func (s *ledgerServer) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv.Close()
}

// With the ledger's process down (its address refuses connections), an
// intermediary that reaches it over HTTP answers a payment unavailable,
// shows the held note as pending (not as an empty wallet), refuses the
// next payment with unavailable, not insufficient_funds, and once the
// ledger is back settles the payment within a couple of seconds: the
// wallet shows the change, a retry of the key answers the original
// payment, and new payments go through.
func TestLedgerProcessDown(t *testing.T) {
	net0 := ledgertest.New()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	lcfg := net0.TestConfig()
	lcfg.Logger = log
	l, err := ledger.Open(filepath.Join(dir, "ledger"), lcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ls := &ledgerServer{t: t, addr: "127.0.0.1:0", h: api.New(api.Config{Ledger: l, Logger: log,
		Credentials: []api.Credential{{Token: bankATok, Principal: bankAP}}}).Handler()}
	ls.up()
	t.Cleanup(ls.down)

	var mu sync.Mutex
	banks := map[string]roles.Intermediary{}
	directory := func(name string) (roles.Intermediary, bool) {
		mu.Lock()
		defer mu.Unlock()
		b, ok := banks[name]
		return b, ok
	}
	is, err := issuer.Open(filepath.Join(dir, "issuer"), issuer.Config{
		Network: net0.Network, MintKeys: lcfg.MintKeys, MintQuorum: lcfg.MintQuorum, RedeemKey: net0.RedeemKey,
		Reserves: map[string]uint64{"bank-a": openingReserve}, Logger: log,
	}, l, directory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	overHTTP := client.New("http://"+ls.addr, bankATok, client.WithTimeout(2*time.Second)).Ledger()
	a, err := intermediary.Open(filepath.Join(dir, "bank-a"), intermediary.Config{Name: "bank-a", Network: net0.Network,
		Logger: log, SettleAfter: time.Hour}, overHTTP, is, directory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	mu.Lock()
	banks["bank-a"] = a
	mu.Unlock()

	ctx := roles.WithCaller(context.Background(), bankAP)
	asIssuer := roles.WithCaller(context.Background(), issuerP)
	m, err := is.ProposeMint(asIssuer, "bank-a", 100_00)
	noErr(t, err)
	for _, i := range []int{0, 1} {
		k := net0.Officers[i]
		m, err = is.ApproveMint(asIssuer, m.ID, k.Public(), k.Sign(crypto.Mint, net0.Network.ID, m.ID))
		noErr(t, err)
	}
	alice, err := a.OpenWallet(ctx, unlimited("alice"))
	noErr(t, err)
	_, err = a.Pay(ctx, roles.Payment{From: a.Treasury(), To: alice.ID, Amount: 100_00})
	noErr(t, err)
	wallet := func() roles.Wallet {
		t.Helper()
		w, err := a.Wallet(ctx, alice.ID)
		noErr(t, err)
		return w
	}

	ls.down()
	p := roles.Payment{From: alice.ID, To: a.Treasury(), Amount: 1_00, IdempotencyKey: "while-down"}
	first, err := a.Pay(ctx, p)
	wantCode(t, "paying with the ledger down", err, errcode.Unavailable, http.StatusServiceUnavailable)
	if w := wallet(); w.Balance != 0 || w.Pending != 100_00 {
		t.Fatalf("alice during the outage: balance %d, pending %d; want 0 and 10000", w.Balance, w.Pending)
	}
	_, err = a.Pay(ctx, roles.Payment{From: alice.ID, To: a.Treasury(), Amount: 1_00})
	wantCode(t, "a second payment with the ledger down", err, errcode.Unavailable, http.StatusServiceUnavailable)
	if !strings.Contains(err.Error(), "held by 1 payment") {
		t.Fatalf("second payment: %v; want it to say the funds are held", err)
	}

	ls.up()
	start := time.Now()
	for w := wallet(); w.Balance != 99_00 || w.Pending != 0; w = wallet() {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("alice %d s after the ledger came back: balance %d, pending %d; want 9900 and 0", 3, w.Balance, w.Pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("settled %s after the ledger came back", time.Since(start).Round(time.Millisecond))
	again, err := a.Pay(ctx, p)
	if err != nil || again.TxID != first.TxID || again.Receipt.Batch == 0 {
		t.Fatalf("retry after the outage: %+v %v; want committed %s", again, err, first.TxID)
	}
	if _, err := a.Pay(ctx, roles.Payment{From: alice.ID, To: a.Treasury(), Amount: 2_00}); err != nil {
		t.Fatalf("a new payment after the outage: %v", err)
	}
	if w := wallet(); w.Balance != 97_00 || w.Pending != 0 {
		t.Fatalf("alice at the end: %+v", w)
	}
}
