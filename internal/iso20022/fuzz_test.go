package iso20022

import (
	"bytes"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/specie/specie/money"
)

// docTypes is an empty document of each message the gateway reads.
var docTypes = map[string]func() any{
	Pacs008: func() any { return new(Pacs008Doc) },
	Pacs009: func() any { return new(Pacs009Doc) },
	Pacs002: func() any { return new(Pacs002Doc) },
	Pacs004: func() any { return new(Pacs004Doc) },
	Camt053: func() any { return new(Camt053Doc) },
	Camt054: func() any { return new(Camt054Doc) },
	Camt056: func() any { return new(Camt056Doc) },
	Camt029: func() any { return new(Camt029Doc) },
	Pain001: func() any { return new(Pain001Doc) },
	Pain002: func() any { return new(Pain002Doc) },
	Pain013: func() any { return new(Pain013Doc) },
	Pain014: func() any { return new(Pain014Doc) },
}

// FuzzDecode feeds outside bytes to the reader: it must never panic,
// must refuse any DTD or entity declaration and anything over
// MaxDocument, and whatever it accepts must write back and read again to
// the same value.
func FuzzDecode(f *testing.F) {
	// The gateway's templates and the schemas package's conforming
	// samples of every message.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	samples, _ := filepath.Glob(filepath.Join("schemas", "testdata", "*.xml"))
	files = append(files, samples...)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;">]><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09">&b;</Document>`))
	f.Add([]byte(`<!DOCTYPE Document SYSTEM "http://example.com/x.dtd"><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.009.001.09"/>`))
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.11"><FIToFIPmtStsRpt><GrpHdr><MsgId>&lt;x&gt;</MsgId></GrpHdr></FIToFIPmtStsRpt></Document>trailing`))
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.056.001.09"><FIToFIPmtCxlReq><Assgnmt><Id>A</Id></Assgnmt></FIToFIPmtCxlReq></Document><Document/>`))
	f.Add([]byte(`<x:Document xmlns:x="urn:iso:std:iso:20022:tech:xsd:pain.001.001.10"/>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		msg, err := Detect(doc)
		if bytes.Contains(doc, []byte("<!DOCTYPE")) || bytes.Contains(doc, []byte("<!ENTITY")) {
			if err == nil {
				v := docTypes[msg]()
				if Decode(doc, msg, v) == nil {
					t.Fatalf("a document with a DTD was read")
				}
			}
			return
		}
		if err != nil {
			return
		}
		v := docTypes[msg]()
		if err := Decode(doc, msg, v); err != nil {
			if validate(msg, doc) == nil {
				t.Fatalf("the schema accepts what the reader refuses: %v", err)
			}
			return
		}
		out, err := Encode(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		w := docTypes[msg]()
		if err := Decode(out, msg, w); err != nil {
			t.Fatalf("what the writer wrote does not read back: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", v, w)
		}
	})
}

// FuzzParseAmount checks the ISO amount reader against exact rational
// arithmetic: what it accepts is exactly the decimal given, in minor units,
// positive, in the network currency; what it refuses has a reason code.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1.00", "0.01", "12.5", "12.500", "0", "-1", "1e3", "99999999999999999999", ".5", "5.", "184467440737095516.15", " 1.00", "1.001"} {
		f.Add("USD", s)
	}
	f.Add("EUR", "1.00")
	cur := money.Currency{Code: "USD", Exponent: 2}
	f.Fuzz(func(t *testing.T, ccy, s string) {
		v, rej := ParseAmount(cur, Amt{Ccy: ccy, Value: s})
		if rej != nil {
			if rej.Code == "" {
				t.Fatal("rejection without a code")
			}
			if ccy != "USD" && rej.Code != ReasonCurrency {
				t.Fatalf("other currency refused with %s", rej.Code)
			}
			return
		}
		if ccy != "USD" || v == 0 {
			t.Fatalf("accepted %q %q as %d", ccy, s, v)
		}
		r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
		if !ok || strings.ContainsAny(s, "eE/+-") {
			t.Fatalf("accepted %q, not a plain decimal", s)
		}
		want := new(big.Rat).Mul(r, big.NewRat(100, 1))
		if !want.IsInt() || want.Num().Cmp(new(big.Int).SetUint64(v)) != 0 {
			t.Fatalf("%q read as %d minor units, exactly %s", s, v, want.RatString())
		}
		back, rej := ParseAmount(cur, FormatAmount(cur, v))
		if rej != nil || back != v {
			t.Fatalf("format %d and read back: %d %v", v, back, rej)
		}
	})
}
