package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skip2/go-qrcode"

	"github.com/specie/specie/emvco"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
)

// TestQRShowAndPay: a shop at bank-b shows a static and a dynamic code; a
// customer at bank-a pays both with `wallet pay --qr`, and the money, the
// amount and the reference arrive as the codes said.
func TestQRShowAndPay(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 1_000_00)
	shop := e.openWallet("bank-b", "Corner Cafe")
	cust := e.openWallet("bank-a", "carol")
	e.pay("bank-a.treasury", cust, 100_00)
	usd := e.node.Config.Network.Currency

	// Static: the defaults come from the wallet and the network.
	var static qrShown
	e.mustJSON(&static, "qr", "show", "--wallet", shop)
	p, err := emvco.Decode(static.Payload, usd)
	if err != nil {
		t.Fatalf("qr show wrote a payload Decode refuses: %v\n%s", err, static.Payload)
	}
	want := emvco.Payload{Payee: emvco.Payee{Wallet: shop}, MCC: "5999", Country: "US", Name: "Corner Cafe", City: "bank-b"}
	if p != want || static.Dynamic || static.Amount != "" {
		t.Fatalf("static code says %+v (%+v), want %+v", p, static, want)
	}
	e.must("wallet", "pay", "--from", cust, "--qr", static.Payload, "--amount", "3.00")
	if got := e.balance(shop); got != 3_00 {
		t.Fatalf("shop balance %d after paying the static code 3.00", got)
	}

	// Dynamic, with a PNG and the terminal drawing.
	file := filepath.Join(t.TempDir(), "code.png")
	out := e.must("qr", "show", "--wallet", shop, "--amount", "12.50", "--reference", "INV-1", "--png", file, "--name", "Cafe", "--city", "Lisbon", "--mcc", "5812", "--country", "PT")
	payload, _, _ := strings.Cut(out, "\n")
	p, err = emvco.Decode(payload, usd)
	if err != nil {
		t.Fatalf("dynamic payload refused: %v\n%s", err, out)
	}
	want = emvco.Payload{Dynamic: true, Payee: emvco.Payee{Wallet: shop}, MCC: "5812", Amount: 12_50, Country: "PT", Name: "Cafe", City: "Lisbon", Reference: "INV-1"}
	if p != want {
		t.Fatalf("dynamic code says %+v, want %+v", p, want)
	}
	if !strings.Contains(out, "█") || !strings.Contains(out, "pay 12.50 USD to "+shop) || !strings.Contains(out, "PNG written to "+file) {
		t.Errorf("qr show text lacks the drawing, the summary or the PNG line:\n%s", out)
	}
	checkPNG(t, file, payload)
	checkDrawing(t, out, payload)

	var r struct {
		TxID      string `json:"txid"`
		Amount    string `json:"amount"`
		To        string `json:"to"`
		Reference string `json:"reference"`
	}
	res := e.must("wallet", "pay", "--from", cust, "--qr", payload, "--json")
	if err := json.Unmarshal([]byte(res), &r); err != nil {
		t.Fatalf("pay --json: %v\n%s", err, res)
	}
	if r.Amount != "1250" || r.To != shop {
		t.Errorf("pay --qr --json = %s", res)
	}
	if got := e.balance(shop); got != 3_00+12_50 {
		t.Fatalf("shop balance %d, want 15.50", got)
	}
	hist, err := e.banks["bank-b"].History(context.Background(), shop)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || (hist[0].Reference != "INV-1" && hist[1].Reference != "INV-1") {
		t.Errorf("shop history lacks the code's reference: %+v", hist)
	}
}

// checkPNG: the image is the QR symbol of payload, module for module.
func checkPNG(t *testing.T, file, payload string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	code, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bits := code.Bitmap()
	if w := img.Bounds().Dx(); w != len(bits)*pngModule {
		t.Fatalf("PNG is %d px wide, want %d modules of %d px", w, len(bits), pngModule)
	}
	for y := range bits {
		for x := range bits[y] {
			r, _, _, _ := img.At(x*pngModule+pngModule/2, y*pngModule+pngModule/2).RGBA()
			if dark := r < 0x8000; dark != bits[y][x] {
				t.Fatalf("module (%d,%d): dark=%v in the PNG, %v in the symbol", x, y, dark, bits[y][x])
			}
		}
	}
}

// checkDrawing: the terminal drawing is the symbol in half blocks, two
// module rows a line: light modules drawn (for a dark background), dark
// ones blank.
func checkDrawing(t *testing.T, out, payload string) {
	t.Helper()
	code, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bits := code.Bitmap()
	lines := strings.Split(out, "\n")[1:] // after the payload
	for y := 0; y < len(bits); y += 2 {
		row := []rune(lines[y/2])
		if len(row) != len(bits[y]) {
			t.Fatalf("drawing line %d has %d characters, the symbol %d modules", y/2, len(row), len(bits[y]))
		}
		for x, r := range row {
			top, bottom := !bits[y][x], y+1 < len(bits) && !bits[y+1][x]
			want := map[[2]bool]rune{{false, false}: ' ', {true, false}: '▀', {false, true}: '▄', {true, true}: '█'}[[2]bool{top, bottom}]
			if r != want {
				t.Fatalf("drawing line %d column %d is %q, want %q", y/2, x, r, want)
			}
		}
	}
}

// TestQRRejections: every refused code or flag combination fails with
// malformed (or the code the network gives) and a one-line reason naming
// the fault, prints nothing, and moves no money.
func TestQRRejections(t *testing.T) {
	e := newEnv(t)
	e.mint("bank-a", 1_000_00)
	shop := e.openWallet("bank-b", "shop")
	cust := e.openWallet("bank-a", "carol")
	e.pay("bank-a.treasury", cust, 100_00)
	usd := e.node.Config.Network.Currency
	eur := money.Currency{Code: "EUR", Exponent: 2}
	base := emvco.Payload{Payee: emvco.Payee{Wallet: shop}, MCC: "5411", Country: "US", Name: "Shop", City: "Town"}
	enc := func(p emvco.Payload, cur money.Currency) string {
		s, err := emvco.Encode(p, cur)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	static := enc(base, usd)
	dyn := base
	dyn.Dynamic, dyn.Amount = true, 5_00
	dynamic := enc(dyn, usd)
	badCRC := []byte(dynamic)
	badCRC[strings.Index(dynamic, "5.00")] = '9' // the amount, 9.00
	alias := base
	alias.Payee = emvco.Payee{Alias: "+15551234567"}
	unknown := base
	unknown.Payee = emvco.Payee{Wallet: "bank-b.nosuch"}
	wallets := []string{shop, cust, "bank-a.treasury"}

	tests := []struct {
		name string
		args []string
		code errcode.Code
		msg  string
	}{
		{"bad CRC", []string{"--qr", string(badCRC)}, errcode.Malformed, "bad CRC"},
		{"wrong currency", []string{"--qr", enc(dyn, eur)}, errcode.Malformed, "978 (EUR)"},
		{"malformed TLV", []string{"--qr", withCRC("000201010211" + "2699")}, errcode.Malformed, "malformed TLV"},
		{"not a payload", []string{"--qr", "hello"}, errcode.Malformed, "bad CRC"},
		{"static without amount", []string{"--qr", static}, errcode.Malformed, "required to pay a static code"},
		{"dynamic with amount", []string{"--qr", dynamic, "--amount", "5.00"}, errcode.Malformed, "fixes the amount at 5.00 USD"},
		{"qr and to", []string{"--qr", dynamic, "--to", shop}, errcode.Malformed, "not both"},
		{"amount in a static code", []string{"--qr", withCRC("000201010211" + fmt.Sprintf("26%02d0010org.specie01%02d%s", 18+len(shop), len(shop), shop) + "52045411" + "5303840" + "54031.0" + "5802US5904Shop6004Town"), "--amount", "1.00"}, errcode.Malformed, "static code carries no amount"},
		{"alias code", []string{"--qr", enc(alias, usd), "--amount", "1.00"}, errcode.Malformed, "an alias"},
		{"reference clash", []string{"--qr", enc(emvco.Payload{Dynamic: true, Amount: 1, Reference: "A", Payee: base.Payee, MCC: "5411", Country: "US", Name: "S", City: "T"}, usd), "--reference", "B"}, errcode.Malformed, `carries reference "A"`},
		{"unknown payee", []string{"--qr", enc(unknown, usd), "--amount", "1.00"}, errcode.NotFound, "bank-b.nosuch"},
		{"more than the wallet holds", []string{"--qr", static, "--amount", "100.01"}, errcode.InsufficientFunds, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(wallets, nil)
			args := append([]string{"wallet", "pay", "--from", cust}, tt.args...)
			out, err := e.run(args...)
			if err == nil {
				t.Fatalf("specie %s succeeded:\n%s", strings.Join(args, " "), out)
			}
			if got := errcode.Of(err); got != tt.code {
				t.Errorf("code %s, want %s (%v)", got, tt.code, err)
			}
			if line := oneLine(err); strings.Contains(line, "\n") || !strings.Contains(line, tt.msg) {
				t.Errorf("reason %q lacks %q", line, tt.msg)
			}
			if out != "" {
				t.Errorf("a failed command printed:\n%s", out)
			}
			if after := e.snapshot(wallets, nil); !after.equal(before) {
				t.Errorf("rejected payment changed state:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}

	for _, tt := range []struct {
		name string
		args []string
		code errcode.Code
		msg  string
	}{
		{"bad MCC", []string{"--wallet", shop, "--mcc", "54A1"}, errcode.Malformed, "merchant category code"},
		{"name too long", []string{"--wallet", shop, "--name", strings.Repeat("n", 26)}, errcode.Malformed, "longer than 25"},
		{"zero amount", []string{"--wallet", shop, "--amount", "0"}, errcode.Malformed, "must be positive"},
		{"empty amount", []string{"--wallet", shop, "--amount="}, errcode.Malformed, "empty"},
		{"unknown wallet", []string{"--wallet", "bank-b.nosuch"}, errcode.NotFound, "bank-b.nosuch"},
		{"bad wallet id", []string{"--wallet", "nosuch"}, errcode.Malformed, "<intermediary>.<id>"},
	} {
		out, err := e.run(append([]string{"qr", "show"}, tt.args...)...)
		if err == nil || errcode.Of(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("qr show %s: %v (code %s), want %s with %q\n%s", tt.name, err, errcode.Of(err), tt.code, tt.msg, out)
		}
	}
}

// withCRC appends a correct tag 63 to a payload body.
func withCRC(body string) string {
	body += "6304"
	return body + fmt.Sprintf("%04X", emvco.CRC16([]byte(body)))
}
