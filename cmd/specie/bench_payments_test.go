package main

import (
	"context"
	"encoding/json"
	"testing"
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
