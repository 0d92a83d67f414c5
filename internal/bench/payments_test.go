package bench_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/internal/bench"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/roles"
)

// checkPayReport asserts what a clean payments run must report, and that
// the money came from the issuer: the supply grew by exactly what the
// wallets were funded with, and the treasuries passed all of it on.
func checkPayReport(t *testing.T, tg bench.PayTarget, r bench.PayReport, walletsPer int) {
	t.Helper()
	t.Logf("%+v", r)
	if r.Wallets != walletsPer*len(tg.Banks) || r.WalletsPer != walletsPer || len(r.Intermediaries) != len(tg.Banks) {
		t.Errorf("wallets %d (%d per intermediary, %v), want %d per intermediary of %d", r.Wallets, r.WalletsPer, r.Intermediaries, walletsPer, len(tg.Banks))
	}
	if r.PaymentsS <= 0 || r.Committed == 0 || r.Committed != r.Offered || len(r.Rejected) != 0 {
		t.Errorf("committed %d of %d offered (%.1f/s), rejected %v", r.Committed, r.Offered, r.PaymentsS, r.Rejected)
	}
	if r.LatencyMs.P50 <= 0 || r.LatencyMs.P50 > r.LatencyMs.P99 || r.LatencyMs.P99 > r.LatencyMs.P999 {
		t.Errorf("latency %+v", r.LatencyMs)
	}
	if r.CPUSPerPayment <= 0 || r.RSSBytes == 0 || r.DurationS <= 0 || r.FundEach == 0 || r.LoadAvg == "" {
		t.Errorf("missing figures: %+v", r)
	}
	if !strings.HasPrefix(r.Balances, "ok") {
		t.Errorf("balances check: %s", r.Balances)
	}
	ctx := context.Background()
	s, err := tg.Issuer.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(r.Wallets) * r.FundEach; s.Outstanding != want {
		t.Errorf("outstanding %d, want the %d funded", s.Outstanding, want)
	}
	for _, b := range tg.Banks {
		c := ctx
		if tg.As != nil {
			c = tg.As(ctx, b.Name())
		}
		w, err := b.Wallet(c, b.Name()+roles.TreasurySuffix)
		if err != nil {
			t.Fatal(err)
		}
		if w.Balance != 0 {
			t.Errorf("%s holds %d after funding; every mint should have gone to the wallets", w.ID, w.Balance)
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestPaymentsInProcSmoke runs `bench --payments --inproc` small and short,
// through the loopback HTTP API, and once more calling the intermediaries
// in process. It asserts no timing.
func TestPaymentsInProcSmoke(t *testing.T) {
	for _, direct := range []bool{false, true} {
		tg, stop, err := bench.InProcPayments(t.TempDir(), direct, quiet())
		if err != nil {
			t.Fatal(err)
		}
		o := bench.PayOptions{WalletsPer: 20, Clients: 8, Duration: time.Second, FundMints: 3, Verify: true, Seed: 7}
		r, err := bench.RunPayments(context.Background(), tg, o)
		if err != nil {
			stop()
			t.Fatal(err)
		}
		checkPayReport(t, tg, r, 20)
		if want := map[bool]string{false: "inproc-http", true: "inproc-direct"}[direct]; r.Mode != want {
			t.Errorf("mode %q, want %q", r.Mode, want)
		}
		if r.Seed != 7 || r.Clients != 8 || r.Cross != 0 || r.Amount != 100 || !r.IdemKeys {
			t.Errorf("options not reported: %+v", r)
		}
		if r.LedgerTxPerPay != 1 {
			t.Errorf("ledger transactions per payment %.2f, want 1", r.LedgerTxPerPay)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPaymentsRemoteSmoke runs the payments bench over HTTP against a
// `specie up` started here, open loop, half the payments across banks;
// CPU and memory come from the server's /metrics.
func TestPaymentsRemoteSmoke(t *testing.T) {
	n, _, err := devnet.Up(t.TempDir(), "127.0.0.1:0", quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tg, err := bench.RemotePayments(n.URL, n.Config)
	if err != nil {
		t.Fatal(err)
	}
	o := bench.PayOptions{WalletsPer: 15, Rate: 100, Cross: 0.5, Duration: time.Second, Fund: 50_00, Verify: true}
	r, err := bench.RunPayments(context.Background(), tg, o)
	if err != nil {
		t.Fatal(err)
	}
	checkPayReport(t, tg, r, 15)
	if r.Mode != "http" || r.Rate != 100 || r.Clients != 0 || r.FundEach != 50_00 {
		t.Errorf("options not reported: %+v", r)
	}
	if err := n.Ledger.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestPaymentsSeparateSmoke runs the payments bench against the four roles
// each served on its own URL (devnet.Serve in this process, as `specie
// serve` runs them), reached at the URLs of the config. (All four are in
// this one process here, so the summed CPU counts it four times; only
// that there is a figure is checked.)
func TestPaymentsSeparateSmoke(t *testing.T) {
	dir := t.TempDir()
	o := devnet.DefaultInit("")
	o.RoleURLs = map[string]string{}
	for _, role := range []string{"ledger", "issuer", "bank-a", "bank-b"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		o.RoleURLs[role] = "http://" + ln.Addr().String()
		ln.Close()
	}
	cfg, err := devnet.Init(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{{"ledger", ""}, {"issuer", ""}, {"intermediary", "bank-a"}, {"intermediary", "bank-b"}} {
		u := o.RoleURLs[r[0]]
		if r[1] != "" {
			u = o.RoleURLs[r[1]]
		}
		addr, err := devnet.AddrOf(u)
		if err != nil {
			t.Fatal(err)
		}
		n, err := devnet.Serve(cfg, r[0], r[1], filepath.Join(dir, "data-"+r[0]+r[1]), addr, quiet())
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
	}
	tg, err := bench.RemotePayments("", cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bench.RunPayments(context.Background(), tg, bench.PayOptions{WalletsPer: 10, Clients: 4, Cross: 0.5, Duration: time.Second, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	checkPayReport(t, tg, r, 10)
	if r.Mode != "http-separate" || !strings.Contains(r.CPUNote, o.RoleURLs["bank-b"]) {
		t.Errorf("mode %q, cpu note %q", r.Mode, r.CPUNote)
	}
}
