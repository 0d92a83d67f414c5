package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// TestReadmeRefunds runs README.md's shop section ("A shop: QR code,
// payment, refund") as printed, on a fresh devnet where alice (tier 0, at
// bank-a) holds 300.00, filling in what earlier commands printed: the shop
// shows a QR code, alice pays it from the payload, the shop refunds half
// the order, alice disputes, the shop's bank refunds the rest once, both
// banks show the dispute refunded, and a further refund is refused.
func TestReadmeRefunds(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "## A shop: QR code, payment, refund")
	if start < 0 {
		t.Fatal("README.md has no shop section")
	}
	text = text[start+1:]
	text = text[:strings.Index(text, "\n## ")+1]
	var cmds [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "./specie ") {
			continue
		}
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		cmds = append(cmds, strings.Fields(line)[1:])
	}
	if len(cmds) != 10 {
		t.Fatalf("%d commands in README's shop section, want 10", len(cmds))
	}

	e := newEnv(t)
	e.mint("bank-a", 300_00)
	w, err := e.banks["bank-a"].OpenWallet(t.Context(), roles.WalletRequest{Owner: "alice", Tier: 0, Evidence: []roles.EvidenceRef{{Kind: "phone", Ref: "+15551234567"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.pay("bank-a.treasury", w.ID, 300_00)
	ids := map[string]string{"<alice>": w.ID}
	png := filepath.Join(t.TempDir(), "lamp.png")
	for i, args := range cmds {
		for j, a := range args {
			if v, ok := ids[a]; ok {
				args[j] = v
			}
			if a == "lamp.png" {
				args[j] = png // not in the source tree
			}
		}
		if strings.Join(args[:2], " ") == "wallet history" {
			if out := e.must(args...); !strings.Contains(out, "(refund of "+ids["<order>"][:16]+")") {
				t.Fatalf("alice's history names no refund of the order:\n%s", out)
			}
		}
		out, err := e.run(append(args, "--json")...)
		if i == len(cmds)-1 {
			if !errcode.Is(err, errcode.Conflict) {
				t.Fatalf("specie %s: %v; want conflict", strings.Join(args, " "), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("specie %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("specie %s --json: %v\n%s", strings.Join(args, " "), err, out)
		}
		switch strings.Join(args[:2], " ") {
		case "wallet open":
			ids["<shop>"] = v["id"].(string)
		case "qr show":
			ids["<payload>"] = v["payload"].(string)
			if v["dynamic"] != true || v["amount"] != "4000" {
				t.Fatalf("the shop's code %v", v)
			}
			if st, err := os.Stat(png); err != nil || st.Size() == 0 {
				t.Fatalf("no PNG drawn: %v", err)
			}
		case "wallet pay":
			ids["<order>"] = v["txid"].(string)
		case "dispute open":
			ids["<dispute>"] = v["id"].(string)
			if v["state"] != "with_merchant" {
				t.Fatalf("dispute opened %v", v)
			}
		case "dispute show":
			if i > 6 && v["state"] != "refunded" {
				t.Fatalf("after the refund: %v", v)
			}
		case "dispute refund":
			if v["state"] != "refunded" || v["refund_amount"] != "2000" {
				t.Fatalf("dispute refunded %v", v)
			}
		}
	}
	if got := e.balance(w.ID); got != 300_00 {
		t.Fatalf("alice holds %d after both refunds, want 300.00", got)
	}
	if got := e.balance(ids["<shop>"]); got != 0 {
		t.Fatalf("the shop holds %d, want 0", got)
	}
}
