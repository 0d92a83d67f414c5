package xsd_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/specie/specie/internal/xsd"
)

func typesSchema(t testing.TB) *xsd.Schema {
	t.Helper()
	s, err := xsd.Compile(os.DirFS("testdata"), "types.xsd")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// valueDoc wraps one value in the test schema's root.
func valueDoc(elem, value string) []byte {
	return []byte(`<V xmlns="urn:specie:test:types"><` + elem + `>` + value + `</` + elem + `></V>`)
}

// datatypeCases pins the lexical space and facets of every built-in type
// the ISO 20022 schemas use, including the corners where libxml2 (the
// reference) departs from the letter of XSD 1.0: no whitespace around
// dates and times, at most 24 decimal digits. Each verdict was checked
// with xmllint, and TestDatatypesAgainstXmllint re-checks it when xmllint
// is installed.
var datatypeCases = []struct {
	elem, value string
	valid       bool
}{
	{"Str", "héllo", true}, {"Str", "héllo!", false}, {"Str", "", false}, {"Str", "   a   ", false}, {"Str", " a ", true},
	{"Code", "ACSC", true}, {"Code", " ACSC", false}, {"Code", "acsc", false},
	{"Phone", "+49-(711)-55", true}, {"Phone", "+49 711", false}, {"Phone", "49-711", false},
	{"Fixed", "1Ab", true}, {"Fixed", "1A\n", false}, {"Fixed", "1ab", false}, {"Fixed", "1Abc", false},
	{"Dec", " 1.5 ", true}, {"Dec", "1.500", true}, {"Dec", "001.50", true}, {"Dec", "123.45", true},
	{"Dec", "1234.5", true}, {"Dec", "0001234.5000", true}, {"Dec", "12345.6", false}, {"Dec", "1.234", false},
	{"Dec", "-0", true}, {"Dec", "-0.00", true}, {"Dec", "+1", true}, {"Dec", ".", false}, {"Dec", "1.", true},
	{"Dec", ".5", true}, {"Dec", "+.5", true}, {"Dec", "-0.01", false}, {"Dec", "-1", false}, {"Dec", "1e3", false},
	{"Dec", "", false}, {"Dec", "-", false}, {"Dec", "00", true}, {"Dec", "1 2", false}, {"Dec", "0x10", false},
	{"Rate", "111111111111111111111111", true}, {"Rate", "1111111111111111111111111", false},
	{"Rate", "0.000000000000000000000001", true}, {"Rate", "0.0000000000000000000000001", false},
	{"Rate", "1.500000000000000000000000", false}, {"Rate", "000000000000000000000000000001", true},
	{"Rate", "-1.", true}, {"Rate", "-.0", true}, {"Rate", "-12.", true},
	{"Bounded", "-1.5", false}, {"Bounded", "-1.4", true}, {"Bounded", "100", true}, {"Bounded", "100.1", false},
	{"Bool", "true", true}, {"Bool", "0", true}, {"Bool", " true ", true}, {"Bool", "\ntrue\n", true}, {"Bool", "TRUE", false}, {"Bool", "yes", false},
	{"Date", "2026-12-02", true}, {"Date", " 2026-12-02", false}, {"Date", "2026-12-02 ", false},
	{"Date", "2024-02-29", true}, {"Date", "2026-02-29", false}, {"Date", "2100-02-29", false}, {"Date", "2000-02-29", true},
	{"Date", "0000-01-01", false}, {"Date", "-0001-01-01", true}, {"Date", "10000-01-01", true}, {"Date", "02026-01-01", false},
	{"Date", "-0004-02-29", true}, {"Date", "-0001-02-29", false}, {"Date", "-0005-02-29", false},
	{"Date", "999999999999999999-01-01", true}, {"Date", "9999999999999999999-01-01", false},
	{"Date", "2026-12-02Z", true}, {"Date", "2026-12-02+14:00", true}, {"Date", "2026-12-02+14:01", false},
	{"Date", "2026-12-02-13:59", true}, {"Date", "2026-12-02+00:60", false}, {"Date", "2026-1-02", false}, {"Date", "2026-04-31", false},
	{"DtTm", "2026-12-02T24:00:00", true}, {"DtTm", "2026-12-02T24:00:00.0", true}, {"DtTm", "2026-12-02T24:00:01", false},
	{"DtTm", "2026-12-02T23:59:60", false}, {"DtTm", "2026-12-02T23:60:00", false}, {"DtTm", "2026-12-02T10:00:00.", false},
	{"DtTm", "2026-12-02T10:00:00.123456789123", true}, {"DtTm", "2026-12-02T10:00", false}, {"DtTm", "2026-12-02T10:00:00-14:00", true},
	{"DtTm", "2026-12-02T10:00:00.5Z", true}, {"DtTm", "2026-12-02T00:00:00+01", false}, {"DtTm", " 2026-12-02T00:00:00", false},
	{"Time", "24:00:00", true}, {"Time", "10:00:00Z", true}, {"Time", " 10:00:00", true}, {"Time", "\n10:00:00Z", true}, {"Time", "10:00:00 ", false}, {"Time", " 1:00:00", false}, {"Time", "25:00:00", false},
	{"YrMo", "2026-12", true}, {"YrMo", "2026-13", false}, {"YrMo", "-2026-12", true}, {"YrMo", "2026-12Z", true}, {"YrMo", " 2026-12", false},
	{"Yr", "2026", true}, {"Yr", "0000", false}, {"Yr", "-0001", true}, {"Yr", "2026Z", true}, {"Yr", "2026 ", false},
	{"Bin", " AAA= ", true}, {"Bin", "AAA", false}, {"Bin", "A A A A", true}, {"Bin", "AAAAAA==", true}, {"Bin", "AAAAAAA=", false},
	{"Bin", "", false}, {"Bin", "AA==", true}, {"Bin", "AB==", false}, {"Bin", "====", false}, {"Bin", "AAAAAAAA", false},
	{"Bin", "AAA\nA", true}, {"Bin", "AA ==", true}, {"Bin", "A", false}, {"Bin", "AA*=", false},
}

// TestDatatypes: each value of each built-in type is accepted or refused
// as pinned, with the Path of the element.
func TestDatatypes(t *testing.T) {
	s := typesSchema(t)
	for _, c := range datatypeCases {
		err := s.Validate(valueDoc(c.elem, c.value))
		if (err == nil) != c.valid {
			t.Errorf("%s %q: valid=%v, got %v", c.elem, c.value, c.valid, err)
			continue
		}
		if err != nil {
			var xe *xsd.Error
			if !errors.As(err, &xe) || xe.Path != "/V/"+c.elem || !errors.Is(err, xsd.ErrInvalid) {
				t.Errorf("%s %q: got %v, want an invalid-value error at /V/%s", c.elem, c.value, err, c.elem)
			}
		}
	}
}

// TestDatatypesAgainstXmllint re-checks every pinned verdict with xmllint,
// so the table cannot drift from the reference validator.
func TestDatatypesAgainstXmllint(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not on PATH (apt-get install libxml2-utils): cross-check skipped")
	}
	dir := t.TempDir()
	for i, c := range datatypeCases {
		f := filepath.Join(dir, "v.xml")
		if err := os.WriteFile(f, valueDoc(c.elem, c.value), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("xmllint", "--noout", "--nonet", "--schema", filepath.Join("testdata", "types.xsd"), f).CombinedOutput()
		if (err == nil) != c.valid {
			t.Errorf("case %d %s %q: pinned valid=%v, xmllint says: %s", i, c.elem, c.value, c.valid, out)
		}
	}
}

// TestCompileRefusesUnsupported: a construct outside the subset fails
// Compile with a *CompileError naming it, rather than being ignored.
func TestCompileRefusesUnsupported(t *testing.T) {
	const head = `<xs:schema xmlns="urn:t" xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" targetNamespace="urn:t">`
	const root = `<xs:element name="R" type="R"/>`
	cases := []struct{ name, body, reason string }{
		{"include", root + `<xs:include schemaLocation="x.xsd"/>`, "top-level include"},
		{"import", `<xs:import namespace="urn:x"/>` + root, "top-level import"},
		{"default value", `<xs:element name="R" type="xs:string" default="x"/>`, `attribute "default"`},
		{"nillable", `<xs:complexType name="R"><xs:sequence><xs:element name="A" type="xs:string" nillable="true"/></xs:sequence></xs:complexType>` + root, `attribute "nillable"`},
		{"mixed", `<xs:complexType name="R" mixed="true"><xs:sequence/></xs:complexType>` + root, `attribute "mixed"`},
		{"element ref", `<xs:complexType name="R"><xs:sequence><xs:element ref="R"/></xs:sequence></xs:complexType>` + root, `attribute "ref"`},
		{"xs:all", `<xs:complexType name="R"><xs:all><xs:element name="A" type="xs:string"/></xs:all></xs:complexType>` + root, "xs:all"},
		{"list", `<xs:simpleType name="L"><xs:list itemType="xs:string"/></xs:simpleType>` + root, "only xs:restriction"},
		{"unsupported built-in", `<xs:element name="R" type="xs:integer"/>`, "xs:integer not supported"},
		{"whiteSpace facet", `<xs:simpleType name="S"><xs:restriction base="xs:string"><xs:whiteSpace value="collapse"/></xs:restriction></xs:simpleType>` + root, "facet xs:whiteSpace"},
		{"class subtraction", `<xs:simpleType name="S"><xs:restriction base="xs:string"><xs:pattern value="[a-z-[aeiou]]"/></xs:restriction></xs:simpleType>` + root, "subtraction"},
		{"name escape", `<xs:simpleType name="S"><xs:restriction base="xs:string"><xs:pattern value="\i\c*"/></xs:restriction></xs:simpleType>` + root, `escape \i`},
		{"any ##other", `<xs:complexType name="R"><xs:sequence><xs:any namespace="##other"/></xs:sequence></xs:complexType>` + root, "##other"},
		{"attribute on a complex type", `<xs:complexType name="R"><xs:sequence/><xs:attribute name="a" type="xs:string"/></xs:complexType>` + root, "want exactly one"},
		{"undefined type", `<xs:element name="R" type="Nope"/>`, `type "Nope" not defined`},
		{"non-deterministic choice", `<xs:complexType name="R"><xs:choice><xs:element name="A" type="xs:string"/><xs:sequence><xs:element name="A" type="xs:string"/></xs:sequence></xs:choice></xs:complexType>` + root, "not deterministic"},
		{"non-deterministic sequence", `<xs:complexType name="R"><xs:sequence><xs:element name="A" type="xs:string" minOccurs="0"/><xs:element name="A" type="xs:string"/></xs:sequence></xs:complexType>` + root, "not deterministic"},
		{"unqualified elements", "", "elementFormDefault"},
		{"enumeration on a decimal", `<xs:simpleType name="S"><xs:restriction base="xs:decimal"><xs:enumeration value="1"/></xs:restriction></xs:simpleType>` + root, "enumeration on xs:decimal"},
		{"simple type cycle", `<xs:simpleType name="S"><xs:restriction base="T"/></xs:simpleType><xs:simpleType name="T"><xs:restriction base="S"/></xs:simpleType>` + root, "derives from itself"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := head + c.body + `</xs:schema>`
			if c.body == "" {
				doc = `<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">` + root + `</xs:schema>`
			}
			fsys := fstest.MapFS{"s.xsd": {Data: []byte(doc)}}
			_, err := xsd.Compile(fsys, "s.xsd")
			var ce *xsd.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile = %v, want a *CompileError", err)
			}
			if !strings.Contains(ce.Reason, c.reason) || ce.File != "s.xsd" {
				t.Fatalf("CompileError = %v, want a reason containing %q in s.xsd", err, c.reason)
			}
		})
	}
	if _, err := xsd.Compile(fstest.MapFS{}, "missing.xsd"); err == nil {
		t.Fatal("Compile of a missing file succeeded")
	}
}
