package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/specie/specie/internal/audit"
)

// TestAuditCommandRunsIncrementallyAndChecksItsCheckpoint runs `specie
// audit` against a real `specie up` network: a first run verifies the log
// from genesis and writes its reports and checkpoint; after more activity a
// second run with the same state replays only the new batches; a fresh
// auditor given the keys on its command line and the first checkpoint
// verifies everything again and finds the log passes through it.
func TestAuditCommandRunsIncrementallyAndChecksItsCheckpoint(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 500000)
	state := filepath.Join(t.TempDir(), "audit")
	var first audit.Report
	e.mustJSON(&first, "audit", "--state", state)
	if !first.Clean || first.ToBatch == 0 || first.Batches != first.ToBatch || first.Transactions == 0 {
		t.Fatalf("first run: %+v", first)
	}
	for _, name := range []string{"report.json", "report.html", "checkpoint.json"} {
		if _, err := os.Stat(filepath.Join(state, name)); err != nil {
			t.Fatalf("first run wrote no %s: %v", name, err)
		}
	}
	html, err := os.ReadFile(filepath.Join(state, "report.html"))
	if err != nil || !strings.Contains(string(html), "Clean: nothing wrong found") {
		t.Fatalf("report.html: %v\n%s", err, html)
	}
	cp := filepath.Join(t.TempDir(), "checkpoint.json")
	b, err := os.ReadFile(filepath.Join(state, "checkpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}

	a := e.openWallet("bank-a", "alice")
	e.mint("bank-a", 1000)
	e.pay("bank-a.treasury", a, 700)
	var second audit.Report
	e.mustJSON(&second, "audit", "--state", state)
	if !second.Clean || second.FromBatch != first.ToBatch+1 || second.ToBatch <= first.ToBatch || second.Batches != second.ToBatch-first.ToBatch {
		t.Fatalf("second run replayed batches %d to %d (%d), after a first run to %d", second.FromBatch, second.ToBatch, second.Batches, first.ToBatch)
	}

	cfg := e.node.Config
	var keys []string
	for _, k := range cfg.MintKeys {
		keys = append(keys, k.String())
	}
	var fresh audit.Report
	e.mustJSON(&fresh, "audit", "--out", t.TempDir(), "--from-checkpoint", cp,
		"--mint-keys", strings.Join(keys, ","), "--mint-quorum", strconv.Itoa(cfg.MintQuorum), "--redeem-keys", cfg.RedeemKeys[0].String())
	if !fresh.Clean || fresh.ToBatch < second.ToBatch || !strings.Contains(fresh.TrustSource, "command line") {
		t.Fatalf("fresh run with keys and checkpoint: %+v", fresh)
	}

	// The signed checkpoint as the last run saved it, as a witness keeps it:
	// the log now extends it.
	if first.SignedCheckpoint == "" {
		t.Fatal("the first run verified no signed checkpoint")
	}
	signed, err := os.ReadFile(filepath.Join(state, "signed-checkpoint.txt"))
	if err != nil {
		t.Fatal(err)
	}
	signedFile := filepath.Join(t.TempDir(), "signed.txt")
	if err := os.WriteFile(signedFile, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	var witnessed audit.Report
	e.mustJSON(&witnessed, "audit", "--out", t.TempDir(), "--from-checkpoint", signedFile)
	if !witnessed.Clean || witnessed.SignedCheckpoint == "" {
		t.Fatalf("audit from the signed checkpoint: %+v", witnessed)
	}

	// As a witness: the auditor cosigns, and `log verify` accepts the
	// checkpoint with the cosignature it asks for, not without. Its key
	// is created on first use, in a directory made for it.
	wdir := t.TempDir()
	var cosigned audit.Report
	e.mustJSON(&cosigned, "audit", "--state", filepath.Join(wdir, "state"), "--out", wdir, "--witness-key", filepath.Join(wdir, "keys", "auditor.key"))
	if cosigned.CosignedCheckpoint == "" || cosigned.WitnessKey == "" {
		t.Fatalf("witness run: %+v", cosigned)
	}
	held := filepath.Join(wdir, "cosigned-checkpoint.txt")
	out := e.must("log", "verify", "--checkpoint", held, "--witness-keys", cosigned.WitnessKey, "--witnesses", "1")
	if !strings.Contains(out, "the log now extends it") {
		t.Fatalf("log verify --checkpoint: %s", out)
	}
	if out, err := e.run("log", "verify", "--checkpoint", held, "--witness-keys", cosigned.WitnessKey, "--witnesses", "2"); err == nil {
		t.Fatalf("log verify accepted one cosignature for two: %s", out)
	}

	// A checkpoint of another history: the audit says so and fails.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), first.Head.String(), strings.Repeat("0", 64), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = e.run("audit", "--out", t.TempDir(), "--from-checkpoint", bad)
	if err == nil || !strings.Contains(out, "[checkpoint]") {
		t.Fatalf("audit against a forged checkpoint: %v\n%s", err, out)
	}
}
