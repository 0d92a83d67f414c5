package audit_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/api"
	"github.com/specie/specie/internal/api/wire"
	"github.com/specie/specie/internal/audit"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Reservations (escrow locks) audit as the ledger committed them: the
// auditor asks the same signers the ledger does (money.Tx.SpendSigs), the
// payer's and, to capture, the payee's, and a refund only past its expiry
// batch. A capture served with the payee's signature forged is found at
// its input.
func TestAuditorChecksReservations(t *testing.T) {
	n := ledgertest.NewFromSeed(21)
	cfg := n.TestConfig()
	cfg.Archive = true
	l, err := ledger.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	payer, payee := ledgertest.MustKey(), ledgertest.MustKey()
	commit := func(what string, tx *money.Tx) uint64 {
		t.Helper()
		r, err := l.Submit(ctx, tx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return r.Batch
	}
	mint := n.Mint([]int{0, 1}, ledgertest.To(payer, 100_00), ledgertest.To(payer, 50_00))
	at := commit("mint", mint)
	first := money.Escrow{Payer: payer.Public(), Payee: payee.Public(), Expiry: at + 100}
	reserve := n.Spend(money.Transfer, n.Notes(mint)[:1], []*crypto.PrivateKey{payer},
		money.Output{Value: 60_00, Lock: first.Lock()}, ledgertest.To(payer, 40_00))
	commit("reserve", reserve)
	capture := n.EscrowSpend(n.Notes(reserve)[0], first, money.PathJoint, payer, payee, ledgertest.To(payee, 45_00), ledgertest.To(payer, 15_00))
	captured := commit("capture", capture)
	second := money.Escrow{Payer: payer.Public(), Payee: payee.Public(), Expiry: captured + 1}
	reserve2 := n.Spend(money.Transfer, n.Notes(mint)[1:], []*crypto.PrivateKey{payer},
		money.Output{Value: 50_00, Lock: second.Lock()})
	commit("second reserve", reserve2)
	refund := n.EscrowSpend(n.Notes(reserve2)[0], second, money.PathRefund, payer, nil, ledgertest.To(payer, 50_00))
	commit("refund past the expiry", refund)

	real := api.New(api.Config{Ledger: l}).Handler()
	var forge atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !forge.Load() || r.URL.Path != "/v1/log/batches/"+strconv.FormatUint(captured, 10) {
			real.ServeHTTP(rw, r)
			return
		}
		rec := httptest.NewRecorder()
		real.ServeHTTP(rec, r)
		var wb wire.Batch
		if err := json.Unmarshal(rec.Body.Bytes(), &wb); err != nil {
			t.Error(err)
			return
		}
		b, err := wb.ToBatch()
		if err != nil {
			t.Error(err)
			return
		}
		tx(t, &b, 0, func(x *money.Tx) { x.Witnesses[0].PayeeSig[0] ^= 1 })
		body, _ := json.Marshal(wire.FromBatch(b, nil))
		rw.Header().Set("Content-Type", "application/json")
		rw.Write(body)
	}))
	t.Cleanup(srv.Close)
	run := func() *audit.Report {
		t.Helper()
		c := client.New(srv.URL, "")
		rep, err := audit.Run(ctx, audit.Options{Ledger: c.Ledger(), Batches: c.Ledger().(roles.BatchSource), API: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := run(); !rep.Clean {
		t.Fatalf("an honest log with reservations: %s", findings(rep))
	}
	forge.Store(true)
	rep := run()
	want := audit.Finding{Batch: captured, Tx: 0, Input: 0, Check: audit.CheckSignature}
	if len(rep.Findings) == 0 {
		t.Fatal("a forged payee signature went unnoticed")
	}
	f := rep.Findings[0]
	if f.Batch != want.Batch || f.Tx != want.Tx || f.Input != want.Input || f.Check != want.Check {
		t.Fatalf("first finding %+v; want %+v (all: %s)", f, want, findings(rep))
	}
}
