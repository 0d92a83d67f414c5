package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/intermediary"
)

// TestBenchPayments runs `specie bench --payments` from the command line,
// against a `specie up` started here (credentials from --data) and in
// process with --core, and checks the JSON it prints. It asserts no timing.
func TestBenchPayments(t *testing.T) {
	e := newEnv(t)
	var r map[string]any
	out := e.must("bench", "--payments", "--target", e.api, "--wallets", "10", "--fund", "50.00", "--duration", "1s", "--clients", "4", "--seed", "42", "--verify")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"payments_s", "latency_ms", "rejected", "cpu_s_per_payment", "rss_bytes", "wallets", "clients", "cross", "duration_s", "seed"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
	if r["wallets"] != 20.0 || r["seed"] != 42.0 || r["cross"] != 0.5 || r["fund_each"] != 5000.0 || r["mode"] != "http" {
		t.Errorf("report %s", out)
	}
	if rej, _ := r["rejected"].(map[string]any); len(rej) != 0 || r["payments_s"].(float64) <= 0 {
		t.Errorf("a clean run rejected %v, %v payments/s", rej, r["payments_s"])
	}
	if r["balances_check"] != "ok: wallets hold 1000.00 USD, as funded" {
		t.Errorf("balances check: %v", r["balances_check"])
	}
	s, err := e.issuer.Supply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Outstanding != 20*50_00 {
		t.Errorf("outstanding %d after funding 20 wallets with 50.00", s.Outstanding)
	}

	out, err = runCLI("bench", "--payments", "--inproc", "--wallets", "5", "--duration", "500ms", "--clients", "2",
		"--core", "--core-notes", "4000", "--core-max-tx", "1000", "--core-duration", "500ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r = nil
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	core, _ := r["core_tx_s"].(float64)
	ratio, _ := r["ratio_to_core"].(float64)
	if r["mode"] != "inproc-http" || core <= 0 || ratio <= 0 || r["fund_each"] != 1000_00.0 {
		t.Errorf("report %s", out)
	}
}

// TestBenchPaymentsVia runs a short `specie bench --payments --inproc` of
// each --via: payments commit, none is refused, the wallets still hold
// what they were funded with in all, and some payees were paid more than
// they paid, so money moved by that route. With --via alias every wallet
// was first sent a one-time code for its alias.
func TestBenchPaymentsVia(t *testing.T) {
	t.Setenv("SPECIE_API", "")
	t.Setenv("SPECIE_TOKEN", "")
	for _, tc := range []struct {
		via      string
		otpLines int // lines in each bank's otp.log
	}{
		{"wallet", 0},
		{"alias", 3},
		{"request", 0},
	} {
		t.Run(tc.via, func(t *testing.T) {
			dir := t.TempDir()
			out, err := runCLI("bench", "--payments", "--inproc", "--dir", dir, "--wallets", "3", "--duration", "500ms",
				"--clients", "2", "--seed", "7", "--via", tc.via, "--verify")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var r struct {
				Via       string         `json:"via"`
				Committed int            `json:"committed"`
				Rejected  map[string]int `json:"rejected"`
				Balances  string         `json:"balances_check"`
				Gained    int            `json:"wallets_gained"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if r.Via != tc.via || r.Committed == 0 || len(r.Rejected) != 0 {
				t.Errorf("via %q: %d committed, rejected %v\n%s", r.Via, r.Committed, r.Rejected, out)
			}
			if r.Balances != "ok: wallets hold 6000.00 USD, as funded" || r.Gained == 0 {
				t.Errorf("balances: %q, %d wallets gained\n%s", r.Balances, r.Gained, out)
			}
			for _, bank := range []string{"bank-a", "bank-b"} {
				b, err := os.ReadFile(filepath.Join(dir, bank, devnet.OTPFileName))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
				if n := strings.Count(string(b), "\n"); n != tc.otpLines {
					t.Errorf("%s sent %d one-time codes, want %d:\n%s", bank, n, tc.otpLines, b)
				}
			}
		})
	}
}

// TestBenchPaymentsViaTarget runs --via against a served network, which
// keeps its configured alias lookup limit: lookups past the caller's
// budget are refused (rate_limited), so at most the burst of payments
// commits at each payer's intermediary (each bank looks up as itself at
// its own limiter), as `specie bench --help` says. A --via that is none of the three
// is refused before anything is opened or minted. The run lasts 5 s, under
// the 6 s a lookup token takes to come back (so at most one does), and long
// enough that even a loaded machine spends the burst (CI saw 28 payments in
// 1 s: fewer than two bursts, so nothing was refused).
func TestBenchPaymentsViaTarget(t *testing.T) {
	e := newEnv(t)
	supply := func() uint64 {
		s, err := e.issuer.Supply(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.Outstanding
	}
	for _, via := range []string{"bogus", "Alias", "phone"} {
		out, err := e.run("bench", "--payments", "--target", e.api, "--wallets", "3", "--duration", "200ms", "--via", via)
		if err == nil || !strings.Contains(err.Error(), "want wallet, alias or request") {
			t.Errorf("--via %q: %v\n%s", via, err, out)
		}
	}
	if s := supply(); s != 0 {
		t.Fatalf("a refused --via minted %d", s)
	}

	var r struct {
		Via       string         `json:"via"`
		Committed int            `json:"committed"`
		Rejected  map[string]int `json:"rejected"`
	}
	out := e.must("bench", "--payments", "--target", e.api, "--wallets", "3", "--fund", "50.00", "--duration", "5s", "--clients", "2", "--via", "alias")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Via != "alias" || r.Rejected["rate_limited"] == 0 || r.Committed == 0 || r.Committed > 2*(intermediary.DefaultAliasLookupBurst+1) {
		t.Errorf("--via alias against the default lookup limit: %+v", r)
	}
}
