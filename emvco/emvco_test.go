package emvco_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/specie/specie/emvco"
	"github.com/specie/specie/money"
)

var (
	usd = money.Currency{Code: "USD", Exponent: 2}
	jpy = money.Currency{Code: "JPY", Exponent: 0}
)

// emvcoExample is the example payload of EMVCo MPM v1.1 (appendix): another
// scheme's code with a language template in UTF-8, objects out of
// numerical order, and CRC A13A.
const emvcoExample = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A"

// pixExample is the static Pix code of the Banco Central do Brasil's Pix
// initiation manual: no point of initiation, MCC 0000, CRC 1D3D.
const pixExample = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"

// withCRC appends a correct tag 63 to body, so a test reaches the rule
// after the CRC check.
func withCRC(body string) string {
	body += "6304"
	return body + fmt.Sprintf("%04X", emvco.CRC16([]byte(body)))
}

func TestCRC16CheckValue(t *testing.T) {
	if got := emvco.CRC16([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("CRC16(123456789) = %04X, want 29B1", got)
	}
}

func TestParseAcceptsPublishedExamples(t *testing.T) {
	for name, c := range map[string]struct {
		payload string
		want    map[string]string
	}{
		"emvco": {emvcoExample, map[string]string{"01": "12", "52": "4111", "53": "156", "54": "23.72", "59": "BEST TRANSPORT", "64": "0002ZH0104最佳运输0202北京", "63": "A13A"}},
		"pix":   {pixExample, map[string]string{"52": "0000", "53": "986", "59": "Fulano de Tal", "63": "1D3D"}},
	} {
		fs, err := emvco.Parse(c.payload)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string]string{}
		for _, f := range fs {
			got[f.ID] = f.Value
		}
		for id, v := range c.want {
			if got[id] != v {
				t.Errorf("%s: tag %s = %q, want %q", name, id, got[id], v)
			}
		}
		// Well-formed EMVCo, but not Specie's.
		if _, err := emvco.Decode(c.payload, usd); !errors.Is(err, emvco.ErrCurrency) && !errors.Is(err, emvco.ErrNotSpecie) {
			t.Errorf("%s: Decode = %v, want not-Specie or wrong currency", name, err)
		}
	}
	cny := money.Currency{Code: "CNY", Exponent: 2}
	if _, err := emvco.Decode(emvcoExample, cny); !errors.Is(err, emvco.ErrNotSpecie) {
		t.Errorf("EMVCo example in CNY: %v, want ErrNotSpecie", err)
	}
}

func TestEncodeGolden(t *testing.T) {
	p := emvco.Payload{Dynamic: true, Payee: emvco.Payee{Wallet: "bank-a.w1"}, MCC: "5812", Amount: 1250,
		Country: "US", Name: "Corner Cafe", City: "Springfield", Reference: "INV-42"}
	got, err := emvco.Encode(p, usd)
	if err != nil {
		t.Fatal(err)
	}
	want := withCRC("000201" + "010212" + "2627" + "0010org.specie" + "0109bank-a.w1" + "52045812" + "5303840" + "540512.50" +
		"5802US" + "5911Corner Cafe" + "6011Springfield" + "6210" + "0106INV-42")
	if got != want {
		t.Fatalf("Encode:\n got %s\nwant %s", got, want)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	base := emvco.Payload{Payee: emvco.Payee{Wallet: "bank-b.0123abcd"}, MCC: "5411", Country: "US", Name: "Shop", City: "Town"}
	cases := []struct {
		name string
		cur  money.Currency
		edit func(*emvco.Payload)
	}{
		{"static", usd, func(*emvco.Payload) {}},
		{"dynamic", usd, func(p *emvco.Payload) { p.Dynamic, p.Amount = true, 1 }},
		{"dynamic large", usd, func(p *emvco.Payload) { p.Dynamic, p.Amount = true, 999999999999 }},
		{"reference", usd, func(p *emvco.Payload) { p.Dynamic, p.Amount, p.Reference = true, 4200, "order 17" }},
		{"yen", jpy, func(p *emvco.Payload) { p.Dynamic, p.Amount = true, 500 }},
		{"alias", usd, func(p *emvco.Payload) { p.Payee = emvco.Payee{Alias: "+15551234567"} }},
		{"request", usd, func(p *emvco.Payload) { p.Payee = emvco.Payee{Request: "req-9"} }},
		{"longest name and city", usd, func(p *emvco.Payload) {
			p.Name, p.City = strings.Repeat("N", emvco.MaxName), strings.Repeat("C", emvco.MaxCity)
		}},
	}
	for _, c := range cases {
		p := base
		c.edit(&p)
		s, err := emvco.Encode(p, c.cur)
		if err != nil {
			t.Fatalf("%s: Encode: %v", c.name, err)
		}
		back, err := emvco.Decode(s, c.cur)
		if err != nil {
			t.Fatalf("%s: Decode(%s): %v", c.name, s, err)
		}
		if back != p {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", c.name, back, p)
		}
	}
}

func TestDecodeAmounts(t *testing.T) {
	for _, c := range []struct {
		amount string
		want   uint64
	}{{"12.50", 1250}, {"12.5", 1250}, {"12.", 1200}, {"12", 1200}, {"0.01", 1}, {"007", 700}} {
		s := withCRC("000201010212" + "2619" + "0010org.specie0101w" + "52045411" + "5303840" + fmt.Sprintf("54%02d%s", len(c.amount), c.amount) + "5802US5904Shop6004Town")
		p, err := emvco.Decode(s, usd)
		if err != nil || p.Amount != c.want {
			t.Errorf("amount %q: %d, %v; want %d", c.amount, p.Amount, err, c.want)
		}
	}
}

// TestDecodeAcceptsGUIAnywhere: EMVCo does not fix the order of a
// template's subtags; the GUI need not come first.
func TestDecodeAcceptsGUIAnywhere(t *testing.T) {
	s := withCRC("000201010211" + "2619" + "0101w0010org.specie" + "52045411" + "5303840" + "5802US5904Shop6004Town")
	if p, err := emvco.Decode(s, usd); err != nil || p.Payee.Wallet != "w" {
		t.Fatalf("Decode = %+v, %v", p, err)
	}
}

func TestDecodeAcceptsLowerCaseCRC(t *testing.T) {
	s, err := emvco.Encode(emvco.Payload{Payee: emvco.Payee{Wallet: "w"}, MCC: "5411", Country: "US", Name: "S", City: "T"}, usd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emvco.Decode(s[:len(s)-4]+strings.ToLower(s[len(s)-4:]), usd); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeRejects pins every rejection to its sentinel and data object,
// so a case cannot pass for the wrong reason.
func TestDecodeRejects(t *testing.T) {
	const (
		head = "000201"
		acct = "2619" + "0010org.specie0101w"
		tail = "52045411" + "5303840" + "5802US5904Shop6004Town"
	)
	good := withCRC(head + "010211" + acct + tail)
	if _, err := emvco.Decode(good, usd); err != nil {
		t.Fatalf("the base payload is refused: %v", err)
	}
	flipped := []byte(good)
	flipped[len(head)+len("010211")+len("2619")+len("0010org.specie0101")] = 'x' // the wallet ID
	cases := []struct {
		name    string
		payload string
		cur     money.Currency
		kind    error
		tag     string
	}{
		{"bad CRC", string(flipped), usd, emvco.ErrCRC, "63"},
		{"CRC not hex", good[:len(good)-4] + "ZZZZ", usd, emvco.ErrCRC, "63"},
		{"no CRC", head + "010211" + acct + tail, usd, emvco.ErrCRC, "63"},
		{"CRC not last", withCRC(head+"010211"+acct+tail) + "9903abc", usd, emvco.ErrCRC, "63"},
		{"empty", "", usd, emvco.ErrCRC, "63"},
		{"wrong currency", withCRC(head + "010211" + acct + "52045411" + "5303978" + "5802US5904Shop6004Town"), usd, emvco.ErrCurrency, "53"},
		{"network currency unknown", good, money.Currency{Code: "XXX", Exponent: 2}, emvco.ErrCurrency, "53"},
		{"length past end", withCRC(head + "010211" + acct + tail + "5920ab"), usd, emvco.ErrTLV, "59"},
		{"ID not digits", withCRC(head + "0A0211" + acct + tail), usd, emvco.ErrTLV, ""},
		{"length not digits", withCRC(head + "01x211" + acct + tail), usd, emvco.ErrTLV, "01"},
		{"zero length", withCRC(head + "0100" + acct + tail), usd, emvco.ErrTLV, "01"},
		{"duplicate ID", withCRC(head + "010211" + "010211" + acct + tail), usd, emvco.ErrTLV, "01"},
		{"stray characters in a template", withCRC(head + "010211" + "2621" + "0010org.specie0101w00" + tail), usd, emvco.ErrTLV, "26"},
		{"invalid UTF-8", withCRC(head + "010211" + acct + tail + "6402\xff\xfe"), usd, emvco.ErrTLV, ""},
		{"too long", withCRC(head + "010211" + acct + tail + strings.Repeat("9904abcd", 60)), usd, emvco.ErrTLV, ""},
		{"format indicator not first", withCRC("010211" + head + acct + tail), usd, emvco.ErrField, "00"},
		{"format indicator 02", withCRC("000202" + "010211" + acct + tail), usd, emvco.ErrField, "00"},
		{"no format indicator", withCRC("010211" + acct + tail), usd, emvco.ErrField, "00"},
		{"missing MCC", withCRC(head + "010211" + acct + "5303840" + "5802US5904Shop6004Town"), usd, emvco.ErrMissing, "52"},
		{"missing currency", withCRC(head + "010211" + acct + "52045411" + "5802US5904Shop6004Town"), usd, emvco.ErrMissing, "53"},
		{"missing country", withCRC(head + "010211" + acct + "52045411" + "5303840" + "5904Shop6004Town"), usd, emvco.ErrMissing, "58"},
		{"missing name", withCRC(head + "010211" + acct + "52045411" + "5303840" + "5802US6004Town"), usd, emvco.ErrMissing, "59"},
		{"missing city", withCRC(head + "010211" + acct + "52045411" + "5303840" + "5802US5904Shop"), usd, emvco.ErrMissing, "60"},
		{"missing merchant account", withCRC(head + "010211" + tail), usd, emvco.ErrMissing, "02-51"},
		{"missing point of initiation", withCRC(head + acct + tail), usd, emvco.ErrMissing, "01"},
		{"point of initiation 13", withCRC(head + "010213" + acct + tail), usd, emvco.ErrField, "01"},
		{"amount in a static code", withCRC(head + "010211" + acct + tail + "54031.0"), usd, emvco.ErrAmount, "54"},
		{"no amount in a dynamic code", withCRC(head + "010212" + acct + tail), usd, emvco.ErrAmount, "54"},
		{"zero amount", withCRC(head + "010212" + acct + tail + "54040.00"), usd, emvco.ErrAmount, "54"},
		{"too many decimals", withCRC(head + "010212" + acct + tail + "54051.001"), usd, emvco.ErrAmount, "54"},
		{"decimals in yen", withCRC(head + "010212" + acct + "52045411" + "5303392" + "5802JP5904Shop6004Town" + "54041.50"), jpy, emvco.ErrAmount, "54"},
		{"amount with a comma", withCRC(head + "010212" + acct + tail + "54051,000"), usd, emvco.ErrAmount, "54"},
		{"amount with a sign", withCRC(head + "010212" + acct + tail + "5402-1"), usd, emvco.ErrAmount, "54"},
		{"amount starting with the point", withCRC(head + "010212" + acct + tail + "5403.50"), usd, emvco.ErrAmount, "54"},
		{"amount overflows", withCRC(head + "010212" + acct + tail + "54139999999999999"), money.Currency{Code: "USD", Exponent: 8}, emvco.ErrAmount, "54"},
		{"amount longer than 13", withCRC(head + "010212" + acct + tail + "541412345678901.12"), usd, emvco.ErrAmount, "54"},
		{"MCC of 3 digits", withCRC(head + "010211" + acct + "5203541" + "5303840" + "5802US5904Shop6004Town"), usd, emvco.ErrField, "52"},
		{"MCC with letters", withCRC(head + "010211" + acct + "520454A1" + "5303840" + "5802US5904Shop6004Town"), usd, emvco.ErrField, "52"},
		{"currency not numeric", withCRC(head + "010211" + acct + "52045411" + "5303USD" + "5802US5904Shop6004Town"), usd, emvco.ErrField, "53"},
		{"country lower case", withCRC(head + "010211" + acct + "52045411" + "5303840" + "5802us5904Shop6004Town"), usd, emvco.ErrField, "58"},
		{"name too long", withCRC(head + "010211" + acct + "52045411" + "5303840" + "5802US" + "5926" + strings.Repeat("n", 26) + "6004Town"), usd, emvco.ErrField, "59"},
		{"city too long", withCRC(head + "010211" + acct + "52045411" + "5303840" + "5802US5904Shop" + "6016" + strings.Repeat("c", 16)), usd, emvco.ErrField, "60"},
		{"control character", withCRC(head + "010211" + acct + "52045411" + "5303840" + "5802US5904Sh\nx6004Town"), usd, emvco.ErrField, "59"},
		{"UTF-8 outside the language template", withCRC(head + "010211" + acct + "52045411" + "5303840" + "5802US5902é!6004Town"), usd, emvco.ErrField, "59"},
		{"template without GUI", withCRC(head + "010211" + "2605" + "0101w" + tail), usd, emvco.ErrMissing, "26.00"},
		{"GUI too long", withCRC(head + "010211" + "2642" + "0033" + strings.Repeat("g", 33) + "0101w" + tail), usd, emvco.ErrField, "26.00"},
		{"language template without preference", withCRC(head + "010211" + acct + tail + "64080104Name"), usd, emvco.ErrField, "64.00"},
		{"another scheme only", withCRC(head + "010211" + "26160012D15600000000" + tail), usd, emvco.ErrNotSpecie, "26-51"},
		{"Specie template without payee", withCRC(head + "010211" + "2614" + "0010org.specie" + tail), usd, emvco.ErrNotSpecie, "26"},
		{"two payees", withCRC(head + "010211" + "2624" + "0010org.specie0101w0201a" + tail), usd, emvco.ErrNotSpecie, "26"},
		{"unknown Specie subtag", withCRC(head + "010211" + "2624" + "0010org.specie0101w0901x" + tail), usd, emvco.ErrField, "26.09"},
		{"two Specie templates", withCRC(head + "010211" + acct + "2719" + "0010org.specie0101v" + tail), usd, emvco.ErrField, "27"},
		{"tip", withCRC(head + "010211" + acct + tail + "550201"), usd, emvco.ErrField, "55"},
		{"reference too long", withCRC(head + "010211" + acct + tail + "6230" + "0126" + strings.Repeat("r", 26)), usd, emvco.ErrField, "62.01"},
	}
	for _, c := range cases {
		_, err := emvco.Decode(c.payload, c.cur)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.kind)
			continue
		}
		var e *emvco.Error
		if !errors.As(err, &e) || e.Tag != c.tag {
			t.Errorf("%s: error %v names tag %q, want %q", c.name, err, e.Tag, c.tag)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	ok := emvco.Payload{Payee: emvco.Payee{Wallet: "w"}, MCC: "5411", Country: "US", Name: "S", City: "T"}
	cases := []struct {
		name string
		edit func(*emvco.Payload)
		cur  money.Currency
		kind error
	}{
		{"no payee", func(p *emvco.Payload) { p.Payee = emvco.Payee{} }, usd, emvco.ErrNotSpecie},
		{"two payees", func(p *emvco.Payload) { p.Payee.Alias = "a@b.org" }, usd, emvco.ErrNotSpecie},
		{"no MCC", func(p *emvco.Payload) { p.MCC = "" }, usd, emvco.ErrMissing},
		{"bad MCC", func(p *emvco.Payload) { p.MCC = "12345" }, usd, emvco.ErrField},
		{"name too long", func(p *emvco.Payload) { p.Name = strings.Repeat("x", 26) }, usd, emvco.ErrField},
		{"amount in a static code", func(p *emvco.Payload) { p.Amount = 5 }, usd, emvco.ErrAmount},
		{"dynamic without amount", func(p *emvco.Payload) { p.Dynamic = true }, usd, emvco.ErrAmount},
		{"amount over 13 characters", func(p *emvco.Payload) { p.Dynamic, p.Amount = true, 1<<62 }, usd, emvco.ErrAmount},
		{"wallet ID over 99", func(p *emvco.Payload) { p.Payee.Wallet = strings.Repeat("w", 100) }, usd, emvco.ErrField},
		{"currency without a number", func(*emvco.Payload) {}, money.Currency{Code: "XXX"}, emvco.ErrCurrency},
	}
	for _, c := range cases {
		p := ok
		c.edit(&p)
		if s, err := emvco.Encode(p, c.cur); !errors.Is(err, c.kind) {
			t.Errorf("%s: Encode = %q, %v; want %v", c.name, s, err, c.kind)
		}
	}
}

func TestCurrencyTable(t *testing.T) {
	for code, num := range map[string]string{"USD": "840", "EUR": "978", "GBP": "826", "JPY": "392", "CNY": "156", "BRL": "986", "AUD": "036"} {
		if n, ok := emvco.CurrencyNumber(code); !ok || n != num {
			t.Errorf("CurrencyNumber(%s) = %q, %v", code, n, ok)
		}
		if c, ok := emvco.CurrencyCode(num); !ok || c != code {
			t.Errorf("CurrencyCode(%s) = %q, %v", num, c, ok)
		}
	}
}
