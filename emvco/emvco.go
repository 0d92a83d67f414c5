package emvco

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/specie/specie/money"
)

// GUI is the globally unique identifier of Specie's merchant account
// template (subtag 00). EMVCo allows an AID or a reverse domain name; a
// reverse domain name needs no registration with a card scheme.
const GUI = "org.specie"

// Point of initiation method (tag 01).
const (
	Static  = "11" // the same code for every payment; the payer enters the amount
	Dynamic = "12" // one payment: the code carries its amount
)

// Subtags of Specie's merchant account template. Exactly one payee subtag
// is present.
const (
	SubGUI     = "00"
	SubWallet  = "01" // a wallet ID, "<intermediary>.<id>"
	SubAlias   = "02" // an alias: an E.164 phone number or an email address
	SubRequest = "03" // a payment request ID
)

// Subtags of the additional data field template (tag 62) that Specie reads.
const (
	SubBill      = "01" // bill number: written by Encode, read first by Decode
	SubReference = "05" // reference label: read when there is no bill number
)

// Field limits (EMVCo MPM v1.1, table 4.x).
const (
	MaxName      = 25
	MaxCity      = 15
	MaxAmount    = 13
	MaxReference = 25
	maxValue     = 99
	maxGUI       = 32
)

// Payee says whom a code pays: exactly one field is set.
type Payee struct {
	Wallet  string
	Alias   string
	Request string
}

// Payload is a Specie merchant code, decoded. The currency is not stored:
// it is the network's, given to Encode and checked by Decode.
type Payload struct {
	Dynamic   bool   // point of initiation 12; the code carries Amount
	Payee     Payee  // from Specie's account template
	MCC       string // merchant category code, ISO 18245, 4 digits
	Amount    uint64 // minor units; 0 in a static code
	Country   string // ISO 3166-1 alpha-2, upper case
	Name      string // merchant name, at most 25 characters
	City      string // merchant city, at most 15 characters
	Reference string // bill number (tag 62, subtag 01), at most 25; optional
}

// currencies maps ISO 4217 alphabetic codes to numeric ones for the
// currencies a Specie network is likely to run in. Tag 53 carries only the
// number; a network in a currency missing here cannot use QR codes until it
// is added.
var currencies = map[string]string{
	"AUD": "036", "BRL": "986", "CAD": "124", "CHF": "756", "CNY": "156",
	"DKK": "208", "EUR": "978", "GBP": "826", "HKD": "344", "INR": "356",
	"JPY": "392", "KES": "404", "KRW": "410", "MXN": "484", "NGN": "566",
	"NOK": "578", "SEK": "752", "SGD": "702", "USD": "840", "XOF": "952",
	"ZAR": "710",
}

// CurrencyNumber returns the ISO 4217 numeric code of an alphabetic one.
func CurrencyNumber(code string) (string, bool) {
	n, ok := currencies[code]
	return n, ok
}

// CurrencyCode returns the ISO 4217 alphabetic code of a numeric one.
func CurrencyCode(number string) (string, bool) {
	for a, n := range currencies {
		if n == number {
			return a, true
		}
	}
	return "", false
}

// Encode writes p as an EMVCo MPM payload in currency cur, CRC included.
// The result is checked with Decode, so Encode never writes a code that
// Decode would refuse: one rule set, not two.
func Encode(p Payload, cur money.Currency) (string, error) {
	num, ok := CurrencyNumber(cur.Code)
	if !ok {
		return "", fail(ErrCurrency, "53", "no ISO 4217 number known for %q", cur.Code)
	}
	var acct []byte
	acct = appendTLV(acct, SubGUI, GUI)
	for _, sub := range []struct{ id, v string }{{SubWallet, p.Payee.Wallet}, {SubAlias, p.Payee.Alias}, {SubRequest, p.Payee.Request}} {
		if sub.v != "" {
			if err := fits("26."+sub.id, sub.v); err != nil {
				return "", err
			}
			acct = appendTLV(acct, sub.id, sub.v)
		}
	}
	method := Static
	if p.Dynamic {
		method = Dynamic
	}
	type obj struct{ id, v string }
	objs := []obj{{"00", "01"}, {"01", method}, {"26", string(acct)}, {"52", p.MCC}, {"53", num}}
	if p.Amount != 0 || p.Dynamic {
		objs = append(objs, obj{"54", cur.Format(p.Amount)})
	}
	objs = append(objs, obj{"58", p.Country}, obj{"59", p.Name}, obj{"60", p.City})
	if p.Reference != "" {
		if err := fits("62.01", p.Reference); err != nil {
			return "", err
		}
		objs = append(objs, obj{"62", string(appendTLV(nil, SubBill, p.Reference))})
	}
	var b []byte
	for _, o := range objs {
		if o.v == "" {
			return "", fail(ErrMissing, o.id, "empty")
		}
		if err := fits(o.id, o.v); err != nil {
			return "", err
		}
		b = appendTLV(b, o.id, o.v)
	}
	b = append(b, "6304"...)
	b = fmt.Appendf(b, "%04X", CRC16(b))
	s := string(b)
	if _, err := Decode(s, cur); err != nil {
		return "", err
	}
	return s, nil
}

// fits checks that v can be one data object's value (1 to 99 characters).
func fits(tag, v string) error {
	if n := utf8.RuneCountInString(v); n == 0 || n > maxValue {
		return fail(ErrField, tag, "%d characters; a value holds 1 to %d", n, maxValue)
	}
	return nil
}

// Parse checks a payload against EMVCo MPM rules alone and returns its
// top-level data objects in payload order. It checks the CRC, the TLV
// structure (templates included), that tag 00 is first and 63 last, that
// the mandatory objects are present, and the format of every object it
// knows. It accepts other schemes' codes.
func Parse(s string) ([]Field, error) {
	if n := utf8.RuneCountInString(s); n > MaxPayload {
		return nil, fail(ErrTLV, "", "%d characters; a payload holds at most %d", n, MaxPayload)
	}
	if !utf8.ValidString(s) {
		return nil, fail(ErrTLV, "", "invalid UTF-8")
	}
	if len(s) < 8 || s[len(s)-8:len(s)-4] != "6304" {
		return nil, fail(ErrCRC, "63", "the payload does not end with the CRC (6304 and 4 hex digits)")
	}
	want := CRC16([]byte(s[:len(s)-4]))
	got, err := strconv.ParseUint(s[len(s)-4:], 16, 16)
	if err != nil {
		return nil, fail(ErrCRC, "63", "%q is not 4 hex digits", s[len(s)-4:])
	}
	if uint16(got) != want {
		return nil, fail(ErrCRC, "63", "payload says %s, content gives %04X", s[len(s)-4:], want)
	}
	fs, err := parseTLV(s, "")
	if err != nil {
		return nil, err
	}
	if last := fs[len(fs)-1]; last.ID != "63" {
		// The "6304" we found was inside another object's value.
		return nil, fail(ErrCRC, "63", "the CRC is not the last data object")
	}
	if fs[0].ID != "00" {
		return nil, fail(ErrField, "00", "the payload format indicator must come first (found %s)", fs[0].ID)
	}
	accounts := 0
	have := map[string]bool{}
	for _, f := range fs {
		have[f.ID] = true
		if err := checkField(f); err != nil {
			return nil, err
		}
		if id, _ := strconv.Atoi(f.ID); id >= 2 && id <= 51 {
			accounts++
		}
	}
	for _, id := range []string{"52", "53", "58", "59", "60"} {
		if !have[id] {
			return nil, fail(ErrMissing, id, "mandatory and absent")
		}
	}
	if accounts == 0 {
		return nil, fail(ErrMissing, "02-51", "no merchant account information")
	}
	return fs, nil
}

// checkField applies the format rule of one top-level data object.
func checkField(f Field) error {
	id, _ := strconv.Atoi(f.ID)
	if id != 64 && !ans(f.Value) {
		return fail(ErrField, f.ID, "characters outside printable ASCII")
	}
	switch {
	case id == 0:
		if f.Value != "01" {
			return fail(ErrField, f.ID, "payload format indicator %q, want 01", f.Value)
		}
	case id == 1:
		if f.Value != Static && f.Value != Dynamic {
			return fail(ErrField, f.ID, "point of initiation %q, want 11 (static) or 12 (dynamic)", f.Value)
		}
	case id >= 26 && id <= 51, id >= 80 && id <= 99:
		sub, err := parseTLV(f.Value, f.ID)
		if err != nil {
			return err
		}
		gui, ok := lookup(sub, "00")
		if !ok {
			return fail(ErrMissing, f.ID+".00", "a template carries its globally unique identifier")
		}
		if len(gui) > maxGUI {
			return fail(ErrField, f.ID+".00", "globally unique identifier longer than %d", maxGUI)
		}
	case id == 52:
		if len(f.Value) != 4 || !digits(f.Value) {
			return fail(ErrField, f.ID, "merchant category code %q, want 4 digits (ISO 18245)", f.Value)
		}
	case id == 53:
		if len(f.Value) != 3 || !digits(f.Value) {
			return fail(ErrField, f.ID, "currency %q, want 3 digits (ISO 4217 numeric)", f.Value)
		}
	case id == 54:
		if _, _, err := splitAmount(f.Value); err != nil {
			return err
		}
	case id == 55:
		if f.Value != "01" && f.Value != "02" && f.Value != "03" {
			return fail(ErrField, f.ID, "tip or convenience indicator %q, want 01, 02 or 03", f.Value)
		}
	case id == 58:
		if len(f.Value) != 2 || f.Value[0] < 'A' || f.Value[0] > 'Z' || f.Value[1] < 'A' || f.Value[1] > 'Z' {
			return fail(ErrField, f.ID, "country %q, want 2 capital letters (ISO 3166-1 alpha-2)", f.Value)
		}
	case id == 59:
		if len(f.Value) > MaxName {
			return fail(ErrField, f.ID, "merchant name longer than %d", MaxName)
		}
	case id == 60:
		if len(f.Value) > MaxCity {
			return fail(ErrField, f.ID, "merchant city longer than %d", MaxCity)
		}
	case id == 61:
		if len(f.Value) > 10 {
			return fail(ErrField, f.ID, "postal code longer than 10")
		}
	case id == 62:
		sub, err := parseTLV(f.Value, f.ID)
		if err != nil {
			return err
		}
		for _, s := range sub {
			if len(s.Value) > MaxReference {
				return fail(ErrField, f.ID+"."+s.ID, "longer than %d", MaxReference)
			}
		}
	case id == 64:
		sub, err := parseTLV(f.Value, f.ID)
		if err != nil {
			return err
		}
		if lang, ok := lookup(sub, "00"); !ok || len(lang) != 2 {
			return fail(ErrField, f.ID+".00", "a language template carries a 2-letter language preference")
		}
	}
	return nil
}

// splitAmount checks the syntax of tag 54: digits with at most one "."
// as the decimal mark (which may end the string), at most 13 characters.
func splitAmount(v string) (whole, frac string, err error) {
	if len(v) > MaxAmount {
		return "", "", fail(ErrAmount, "54", "%q is longer than %d characters", v, MaxAmount)
	}
	whole, frac, _ = strings.Cut(v, ".")
	if !digits(whole) || (frac != "" && !digits(frac)) {
		return "", "", fail(ErrAmount, "54", "%q: want digits with at most one \".\" after at least one digit", v)
	}
	return whole, frac, nil
}

// parseAmount reads tag 54 as minor units of cur. "12", "12." and "12.5"
// are 1200, 1200 and 1250 cents: the number is in major units, unlike the
// bare digits of money.Currency.Parse, which are minor units.
func parseAmount(v string, cur money.Currency) (uint64, error) {
	whole, frac, err := splitAmount(v)
	if err != nil {
		return 0, err
	}
	if len(frac) > int(cur.Exponent) {
		return 0, fail(ErrAmount, "54", "%q has more than %d decimal places for %s", v, cur.Exponent, cur.Code)
	}
	s := whole
	if cur.Exponent > 0 {
		if frac == "" {
			frac = "0"
		}
		s = whole + "." + frac
	}
	a, err := cur.Parse(s)
	if err != nil {
		return 0, fail(ErrAmount, "54", "%v", err)
	}
	if a == 0 {
		return 0, fail(ErrAmount, "54", "zero: a dynamic code carries a positive amount")
	}
	return a, nil
}

// Decode parses a payload (see Parse) and applies Specie's rules for a
// network in currency cur: the currency must be cur; the point of
// initiation must be present; a static code carries no amount and a
// dynamic one a positive amount in cur's minor units; there is exactly one
// Specie account template naming exactly one payee; tip and convenience
// fees (55-57), which Specie does not charge, are refused rather than
// ignored.
func Decode(s string, cur money.Currency) (Payload, error) {
	var p Payload
	fs, err := Parse(s)
	if err != nil {
		return p, err
	}
	num, ok := CurrencyNumber(cur.Code)
	if !ok {
		return p, fail(ErrCurrency, "53", "no ISO 4217 number known for the network's currency %q", cur.Code)
	}
	var method, amount, currency, fee string
	var haveAmount, found bool
	for _, f := range fs {
		id, _ := strconv.Atoi(f.ID)
		switch {
		case id == 1:
			method = f.Value
		case id >= 26 && id <= 51:
			sub, _ := parseTLV(f.Value, f.ID) // checked by Parse
			if gui, _ := lookup(sub, SubGUI); !strings.EqualFold(gui, GUI) {
				continue
			}
			if found {
				return p, fail(ErrField, f.ID, "a second Specie account template")
			}
			found = true
			if p.Payee, err = payee(f.ID, sub); err != nil {
				return p, err
			}
		case id == 52:
			p.MCC = f.Value
		case id == 53:
			currency = f.Value
		case id == 54:
			amount, haveAmount = f.Value, true
		case id >= 55 && id <= 57:
			if fee == "" {
				fee = f.ID
			}
		case id == 58:
			p.Country = f.Value
		case id == 59:
			p.Name = f.Value
		case id == 60:
			p.City = f.Value
		case id == 62:
			sub, _ := parseTLV(f.Value, f.ID)
			for _, s := range sub {
				if s.ID == SubBill || (s.ID == SubReference && p.Reference == "") {
					p.Reference = s.Value
				}
			}
		}
	}
	// The checks in order of what helps the payer most: another scheme's
	// code first, then a code for another currency, then the amount.
	if !found {
		return p, fail(ErrNotSpecie, "26-51", "no merchant account template with identifier %q", GUI)
	}
	if currency != num {
		name, _ := CurrencyCode(currency)
		if name == "" {
			name = "unknown"
		}
		return p, fail(ErrCurrency, "53", "the code is in %s (%s); this network pays in %s (%s)", currency, name, num, cur.Code)
	}
	if fee != "" {
		return p, fail(ErrField, fee, "tips and convenience fees are not supported")
	}
	switch method {
	case "":
		return p, fail(ErrMissing, "01", "a Specie code says whether it is static (11) or dynamic (12)")
	case Static:
		if haveAmount {
			return p, fail(ErrAmount, "54", "a static code carries no amount (the payer enters it)")
		}
	case Dynamic:
		p.Dynamic = true
		if !haveAmount {
			return p, fail(ErrAmount, "54", "a dynamic code carries its amount")
		}
		if p.Amount, err = parseAmount(amount, cur); err != nil {
			return p, err
		}
	}
	return p, nil
}

// payee reads the subtags of Specie's account template other than the GUI.
func payee(tag string, sub []Field) (Payee, error) {
	var p Payee
	n := 0
	for _, s := range sub {
		switch s.ID {
		case SubGUI:
			continue
		case SubWallet:
			p.Wallet = s.Value
		case SubAlias:
			p.Alias = s.Value
		case SubRequest:
			p.Request = s.Value
		default:
			return p, fail(ErrField, tag+"."+s.ID, "unknown subtag of the Specie template")
		}
		n++
	}
	if n != 1 {
		return p, fail(ErrNotSpecie, tag, "names %d payees; want exactly one of wallet (01), alias (02), request (03)", n)
	}
	return p, nil
}

// lookup finds the value of subtag id among fs.
func lookup(fs []Field, id string) (string, bool) {
	for _, f := range fs {
		if f.ID == id {
			return f.Value, true
		}
	}
	return "", false
}
