package iso20022_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/specie/specie/internal/crashtest"
	"github.com/specie/specie/internal/iso20022"
	"github.com/specie/specie/roles"
)

// TestCrashBeforeAnswer crashes the gateway's disk at every write and sync
// of processing a pacs.008 (after the payment, while the answer is being
// recorded). The gateway that restarts on what the crash left gets the
// same message again and credits the wallet once, answering ACSC; the
// message after that gets the first answer byte for byte.
func TestCrashBeforeAnswer(t *testing.T) {
	e := up(t)
	e.mint("bank-a", 10_000_00)
	alice := e.open("bank-a", "alice")
	banks := map[string]roles.Intermediary{}
	for n, b := range e.n.Banks {
		banks[n] = b
	}
	cfg := iso20022.Config{Currency: usd, BIC: "SPCBUS33", BICs: map[string]string{"bank-a": "BNKAUS33", "bank-b": "BNKBUS33"},
		Intermediaries: banks, Logger: slog.New(slog.DiscardHandler)}
	open := func(d *crashtest.Disk) *iso20022.Gateway {
		t.Helper()
		c := cfg
		c.FS = d.FS
		g, err := iso20022.Open("gw", c)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	msg := func(i int) []byte {
		return fill(t, "pacs008-deposits.xml", deposits{MsgID: fmt.Sprintf("CRASH-%03d", i), Agent: "BNKAUS33", Txs: []deposit{
			{E2E: fmt.Sprintf("E2E-CRASH-%d", i), Ccy: "USD", Amount: "1.00", Wallet: alice, Name: "Alice"}}})
	}
	disk := crashtest.NewDisk(t)
	g := open(disk)
	disk.Count()
	if _, err := g.Process(as("bank-a"), "bank-a", msg(0)); err != nil {
		t.Fatal(err)
	}
	n := disk.Ops()
	if n == 0 {
		t.Fatal("processing a message wrote nothing")
	}
	t.Logf("processing a message makes %d counted disk operations", n)
	credited := uint64(100)
	for i := range n {
		disk.Arm(-1, nil, i, nil)
		doc := msg(i + 1)
		if _, err := g.Process(as("bank-a"), "bank-a", doc); err == nil {
			t.Fatalf("crash at operation %d of %d: processing reported success", i, n)
		}
		g.Close()
		disk = disk.Restart()
		g = open(disk)
		a, err := g.Process(as("bank-a"), "bank-a", doc)
		if err != nil {
			t.Fatalf("after a crash at operation %d: %v", i, err)
		}
		if grp, _, _ := status(t, a); grp != "ACSC" {
			t.Fatalf("after a crash at operation %d: %s\n%s", i, grp, a.XML)
		}
		credited += 100
		if got := e.balance(alice); got != credited {
			t.Fatalf("after a crash at operation %d alice holds %d, want %d: credited twice or not at all", i, got, credited)
		}
		if again, err := g.Process(as("bank-a"), "bank-a", doc); err != nil || !bytes.Equal(again.XML, a.XML) {
			t.Fatalf("resent after recovery: %v", err)
		}
	}
	g.Close()
}
