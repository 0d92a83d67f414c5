package main

import (
	"context"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// TestPayIdempotencyKey: `wallet pay --idempotency-key` run twice pays
// once and prints the same result; the key with another amount is a
// conflict that changes nothing; a broken key is malformed.
func TestPayIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 1000_00)
	alice := e.openWallet("bank-a", "alice")
	wallets := []string{"bank-a.treasury", alice}
	args := []string{"wallet", "pay", "--from", "bank-a.treasury", "--to", alice, "--amount", "12.50", "--idempotency-key", "invoice 2026/0042"}

	var first, again wire.PaymentResult
	e.mustJSON(&first, args...)
	e.mustJSON(&again, args...)
	if first.TxID != again.TxID || first.Receipt != again.Receipt || first.Amount != "1250" {
		t.Fatalf("retry printed %+v, first %+v", again, first)
	}
	out := e.must(args...) // and in text
	if !strings.Contains(out, first.TxID.String()) {
		t.Fatalf("text output of the retry lacks txid %s:\n%s", first.TxID, out)
	}
	if got := e.balance(alice); got != 1250 {
		t.Fatalf("alice holds %d after three runs with one key, want 1250", got)
	}
	h, err := e.banks["bank-a"].History(context.Background(), alice)
	if err != nil || len(h) != 1 || h[0].TxID != first.TxID {
		t.Fatalf("alice's history %+v %v", h, err)
	}

	tests := []struct {
		name string
		args []string
		code errcode.Code
		msg  string
	}{
		{"same key, another amount", []string{"wallet", "pay", "--from", "bank-a.treasury", "--to", alice, "--amount", "12.51", "--idempotency-key", "invoice 2026/0042"},
			errcode.Conflict, "idempotency key reused for a different payment"},
		{"key too long", []string{"wallet", "pay", "--from", "bank-a.treasury", "--to", alice, "--amount", "1.00", "--idempotency-key", strings.Repeat("k", 129)},
			errcode.Malformed, "idempotency key longer than 128"},
		{"key not ASCII", []string{"wallet", "pay", "--from", "bank-a.treasury", "--to", alice, "--amount", "1.00", "--idempotency-key", "clé"},
			errcode.Malformed, "printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(wallets, nil)
			out, err := e.run(tt.args...)
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if errcode.Of(err) != tt.code || !strings.Contains(oneLine(err), tt.msg) {
				t.Fatalf("error %v: want %s with %q", err, tt.code, tt.msg)
			}
			if after := e.snapshot(wallets, nil); !after.equal(before) {
				t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}

	help := e.must("wallet", "pay", "--help")
	if !strings.Contains(help, "--idempotency-key") {
		t.Fatalf("help lacks the flag:\n%s", help)
	}
}

// TestRedeemIdempotencyKey: `issuer redeem --idempotency-key` run twice
// redeems once and prints the same redemption; the key with another
// amount is a conflict that leaves the treasury as it was.
func TestRedeemIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 1000_00)
	args := []string{"issuer", "redeem", "--intermediary", "bank-a", "--amount", "250.00", "--idempotency-key", "eod 2026-12-02"}
	var first, again wire.Redemption
	e.mustJSON(&first, args...)
	e.mustJSON(&again, args...)
	if first.Receipt != again.Receipt || first.Amount != "25000" {
		t.Fatalf("retry printed %+v, first %+v", again, first)
	}
	if got := e.balance("bank-a.treasury"); got != 750_00 {
		t.Fatalf("treasury holds %d after two runs with one key, want 750.00", got)
	}
	out, err := e.run("issuer", "redeem", "--intermediary", "bank-a", "--amount", "250.01", "--idempotency-key", "eod 2026-12-02")
	if errcode.Of(err) != errcode.Conflict || !strings.Contains(oneLine(err), "idempotency key reused for a different redemption") {
		t.Fatalf("same key, another amount: %v\n%s", err, out)
	}
	if got := e.balance("bank-a.treasury"); got != 750_00 {
		t.Fatalf("treasury holds %d after a refused redeem, want 750.00", got)
	}
}
