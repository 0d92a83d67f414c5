package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/iso20022"
)

// TestISO20022Commands: `specie iso20022 watch --once` answers each file
// of a directory once (a second pass answers nothing and credits nothing
// more), `statement` prints the reserve account's camt.053, `messages`
// lists, and `fund` refuses what it cannot send with the reason.
func TestISO20022Commands(t *testing.T) {
	e := newEnv(t)
	res := func() uint64 {
		s, err := e.issuer.Supply(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.Reserves[0].Balance
	}
	before := res()
	in, out := filepath.Join(e.dir, "iso-in"), filepath.Join(e.dir, "iso-out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	cur := e.node.Config.Network.Currency
	for _, ref := range []string{"RTGS-CLI-1", "RTGS-CLI-2"} {
		doc, err := iso20022.FundingMessage(cur, ref, "BNKAUS33", "SPCBUS33", 250_00, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, ref+".xml"), doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	watch := []string{"iso20022", "watch", "--role", "issuer", "--in", in, "--out", out, "--once"}
	contains(t, e.must(watch...), "2 messages answered")
	contains(t, e.must(watch...), "0 messages answered")
	if got := res(); got != before+500_00 {
		t.Fatalf("reserve %d, want %d", got, before+500_00)
	}
	answers, err := os.ReadDir(out)
	if err != nil || len(answers) != 2 {
		t.Fatalf("answers %v %v", answers, err)
	}
	for _, a := range answers {
		b, err := os.ReadFile(filepath.Join(out, a.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if st, _, err := iso20022.GroupStatus(b); err != nil || st != "ACSC" || iso20022.MsgIDOf(b)+".xml" != a.Name() {
			t.Fatalf("%s: %s %v", a.Name(), st, err)
		}
	}
	stmt := e.must("iso20022", "statement", "--role", "issuer", "--account", "bank-a")
	contains(t, stmt, "camt.053.001.08", "<Cd>OPBD</Cd>", "<Cd>CLBD</Cd>", ">5000500.00</Amt>")
	contains(t, e.must("iso20022", "messages", "--role", "bank-a"), "no messages")

	for _, tc := range []struct {
		args []string
		code errcode.Code
	}{
		{[]string{"iso20022", "fund", "--intermediary", "bank-a", "--amount", "1.001", "--ref", "X"}, errcode.Malformed},
		{[]string{"iso20022", "statement", "--role", "issuer", "--account", "bank-z"}, errcode.NotFound},
		{[]string{"iso20022", "statement", "--role", "issuer", "--account", "bank-a", "--date", "02/12/2026"}, errcode.Malformed},
	} {
		_, err := e.run(tc.args...)
		if !errcode.Is(err, tc.code) {
			t.Errorf("specie %s: %v, want %s", strings.Join(tc.args, " "), err, tc.code)
		}
	}
	if _, err := e.run("iso20022", "request", "bank-b.rqnosuch", "--role", "bank-b"); !errcode.Is(err, errcode.NotFound) {
		t.Errorf("status of an unknown request: %v", err)
	}
	if _, err := e.run("iso20022", "fund", "--intermediary", "bank-z", "--amount", "1.00", "--ref", "X"); err == nil {
		t.Error("funding an unknown intermediary succeeded")
	}
	if got := res(); got != before+500_00 {
		t.Fatalf("reserve moved by refused commands: %d", got)
	}
}
