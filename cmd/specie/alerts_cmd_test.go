package main

import (
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/api/wire"
)

// TestAlertsCLI: a large payment opens an alert at the payee's
// intermediary (the devnet's policy: 10,000.00 and above), which
// compliance staff list, show and close with the CLI, text and --json.
func TestAlertsCLI(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 20_000_00)
	alice := e.openWallet("bank-a", "alice")
	e.pay("bank-a.treasury", alice, 10_000_00)

	var list wire.Alerts
	e.mustJSON(&list, "alerts", "list", "--intermediary", "bank-a", "--state", "open")
	if len(list.Alerts) != 1 || list.Alerts[0].Rule != "large_value" || list.Alerts[0].Wallet != alice || list.Alerts[0].Evidence[0].AmountDecimal != "10000.00" {
		t.Fatalf("alerts %+v", list)
	}
	id := list.Alerts[0].ID
	if out := e.must("alerts", "list", "--intermediary", "bank-a"); !strings.Contains(out, id) || !strings.Contains(out, "large_value") {
		t.Fatalf("alerts list:\n%s", out)
	}
	if out := e.must("alerts", "show", id, "--intermediary", "bank-a"); !strings.Contains(out, "10000.00") || !strings.Contains(out, "bank-a.treasury -> "+alice) {
		t.Fatalf("alerts show:\n%s", out)
	}
	var closed wire.Alert
	e.mustJSON(&closed, "alerts", "close", id, "--intermediary", "bank-a", "--state", "reported", "--reason", "filed with the FIU", "--by", "officer 7")
	if closed.State != "reported" || closed.ClosedBy != "officer 7" || closed.Reason != "filed with the FIU" || closed.Closed == nil {
		t.Fatalf("closed %+v", closed)
	}
	for _, c := range []struct {
		args []string
		code errcode.Code
	}{
		{[]string{"alerts", "close", id, "--intermediary", "bank-a", "--state", "dismissed", "--reason", "again"}, errcode.Conflict},
		{[]string{"alerts", "close", id, "--intermediary", "bank-a", "--state", "open", "--reason", "x"}, errcode.Malformed},
		{[]string{"alerts", "show", "nosuch", "--intermediary", "bank-a"}, errcode.NotFound},
		{[]string{"alerts", "list", "--intermediary", "bank-a", "--state", "shut"}, errcode.Malformed},
	} {
		_, err := e.run(c.args...)
		if !errcode.Is(err, c.code) {
			t.Fatalf("specie %s: %v; want %s", strings.Join(c.args, " "), err, c.code)
		}
	}
	var none wire.Alerts
	e.mustJSON(&none, "alerts", "list", "--intermediary", "bank-a", "--state", "open")
	if len(none.Alerts) != 0 {
		t.Fatalf("open alerts after closing %+v", none)
	}
}
