package bench_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/bench"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/ledger/ledgertest"
)

// TestInProcSmoke runs a short in-process bench: every offered transaction
// must commit (the bench never double-spends its own notes), and the ledger
// must still conserve money afterwards. It asserts no timing.
func TestInProcSmoke(t *testing.T) {
	n := ledgertest.New()
	l, err := ledger.Open(t.TempDir(), n.TestConfig())
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

// TestRemoteSmoke runs a short bench over HTTP against `specie up` wired
// in process: funding by real mints, the batch endpoint, and CPU and RSS
// read from the server's /metrics.
func TestRemoteSmoke(t *testing.T) {
	n, _, err := devnet.Up(t.TempDir(), "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var officers []*crypto.PrivateKey
	for _, f := range n.Config.OfficerKeyFiles {
		k, err := crypto.LoadKey(f)
		if err != nil {
			t.Fatal(err)
		}
		officers = append(officers, k)
	}
	l := client.New(n.URL, n.Config.Issuer.Token).Ledger()
	o := bench.Options{Duration: 2 * time.Second, Notes: 3000, MaxTx: 1000}
	r, err := bench.Run(context.Background(), n.Config.Network, bench.Remote(n.URL, l, officers, n.Config.Network), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Committed == 0 || r.Committed != r.Offered || len(r.Rejected) != 0 || r.RSSBytes == 0 {
		t.Fatalf("report %+v", r)
	}
	s, err := n.Ledger.Supply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Unspent != 3000 {
		t.Fatalf("unspent set %d notes, want the 3000 asked for", s.Unspent)
	}
	if err := n.Ledger.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
