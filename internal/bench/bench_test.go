package bench_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/specie/specie/internal/bench"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
)

// TestInProcSmoke runs a short in-process bench: every offered transaction
// must commit (the bench never double-spends its own notes), and the ledger
// must still conserve money afterwards. It asserts no timing.
func TestInProcSmoke(t *testing.T) {
	n := ledgertest.New()
	l, err := ledger.Open(t.TempDir(), n.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := bench.Options{Duration: 2 * time.Second, Notes: 5000, MaxTx: 2000, Bound: true}
	if os.Getenv("SPECIE_BENCH_TXS") != "" {
		o = bench.Options{Duration: 10 * time.Second, Notes: 1_000_000, MaxTx: 300_000, Bound: true}
	}
	r, err := bench.Run(context.Background(), n.Network, bench.InProc(l), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Committed == 0 || r.Committed != r.Offered || len(r.Rejected) != 0 {
		t.Fatalf("committed %d of %d offered, rejected %v", r.Committed, r.Offered, r.Rejected)
	}
	if r.BoundTxS <= 0 || r.LatencyMs.P50 <= 0 {
		t.Fatalf("missing figures: %+v", r)
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
