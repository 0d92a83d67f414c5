package xsd_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/specie/specie/internal/xsd"
)

func modelSchema(t testing.TB) *xsd.Schema {
	t.Helper()
	s, err := xsd.Compile(os.DirFS("testdata"), "model.xsd")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func modelDoc(body string) []byte {
	return []byte(`<R xmlns="urn:specie:test:model">` + body + `</R>`)
}

const (
	hdr  = `<Hdr>h</Hdr>`
	twoN = `<N Ccy="EUR">1</N><N Ccy="EUR">2.5</N>`
)

// modelCases run nested sequences and choices with occurrence bounds,
// simple content with attributes, and lax and skip wildcards through the
// matcher. notXmllint marks the one place this validator is stricter than
// libxml2 on purpose (xsi:type is refused).
var modelCases = []struct {
	name       string
	body       string
	valid      bool
	path       string
	reason     string
	notXmllint bool
}{
	{name: "minimal", body: hdr + `<A>a</A>` + twoN, valid: true},
	{name: "choice twice", body: hdr + `<A>a</A><B><X>x</X><Y>y</Y></B>` + twoN, valid: true},
	{name: "repeated inner sequence", body: hdr + `<B><X>x</X></B><K>k</K><V>v</V><K>k</K><K>k</K>` + twoN, valid: true},
	{name: "all optional parts", body: hdr + `<A>a</A><Opt>o</Opt><K>k</K>` + twoN + `<N Ccy="EUR" Note="n">3</N><Ext><A>x</A></Ext><Ext><q:Z xmlns:q="urn:q" q:at="1"><q:Y/>text</q:Z></Ext><Raw><R xsi:type="nope" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></Raw>`, valid: true},
	{name: "comments, PIs and whitespace between elements", body: "\n  " + hdr + `<!-- c --><?pi x?>` + "\n\t<A>a</A>\n" + twoN + "\n", valid: true},
	{name: "choice three times", body: hdr + `<A>a</A><A>b</A><A>c</A>` + twoN,
		path: "/R/A[3]", reason: "element A not expected here; expected one of K, N, Opt"},
	{name: "choice missing", body: hdr + twoN,
		path: "/R", reason: "missing one of A, B before N"},
	{name: "too few N at the end", body: hdr + `<A>a</A><N Ccy="EUR">1</N>`,
		path: "/R", reason: "missing N at the end of R"},
	{name: "too many N", body: hdr + `<A>a</A>` + twoN + `<N Ccy="EUR">3</N><N Ccy="EUR">4</N>`,
		path: "/R/N[4]", reason: "element N not expected here; expected one of Ext, Raw"},
	{name: "V without its K", body: hdr + `<A>a</A><V>v</V>` + twoN,
		path: "/R/V", reason: "element V not expected here; expected one of A, B, K, N, Opt"},
	{name: "optional element out of order", body: hdr + `<A>a</A><K>k</K><Opt>o</Opt>` + twoN,
		path: "/R/Opt", reason: "element Opt not expected here"},
	{name: "inner sequence order", body: hdr + `<B><Y>y</Y><X>x</X></B>` + twoN,
		path: "/R/B[1]", reason: "missing X before Y"},
	{name: "missing first element", body: `<A>a</A>` + twoN,
		path: "/R", reason: "missing Hdr before A"},
	{name: "empty root", body: ``,
		path: "/R", reason: "missing Hdr at the end of R"},
	{name: "missing required attribute", body: hdr + `<A>a</A><N Ccy="EUR">1</N><N>2</N>`,
		path: "/R/N[2]", reason: "missing required attribute Ccy"},
	{name: "bad optional attribute", body: hdr + `<A>a</A><N Ccy="EUR" Note="far too long">1</N><N Ccy="EUR">2</N>`,
		path: "/R/N[1]/@Note", reason: "length 12 is above the maximum 8"},
	{name: "attribute value normalized", body: hdr + `<A>a</A><N Ccy="EUR" Note="a&#9;b">1</N><N Ccy="EUR">2</N>`, valid: true},
	{name: "bad attribute value", body: hdr + `<A>a</A><N Ccy="EURO">1</N><N Ccy="EUR">2</N>`,
		path: "/R/N[1]/@Ccy", reason: "does not match the pattern [A-Z]{3}"},
	{name: "too many decimals in simple content", body: hdr + `<A>a</A><N Ccy="EUR">1.005</N><N Ccy="EUR">2</N>`,
		path: "/R/N[1]", reason: "3 fraction digits, more than the 2 allowed"},
	{name: "undeclared attribute", body: `<Hdr id="1">h</Hdr><A>a</A>` + twoN,
		path: "/R/Hdr/@id", reason: "attribute id not allowed on Hdr"},
	{name: "xml:lang attribute", body: `<Hdr xml:lang="en">h</Hdr><A>a</A>` + twoN,
		path: "/R/Hdr/@lang", reason: "not allowed on Hdr"},
	{name: "xsi:nil", body: `<Hdr xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/><A>a</A>` + twoN,
		path: "/R/Hdr/@xsi:nil", reason: "xsi:nil is not supported"},
	{name: "xsi:type", body: `<Hdr xsi:type="Text" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">h</Hdr><A>a</A>` + twoN,
		path: "/R/Hdr/@xsi:type", reason: "xsi:type is not supported", notXmllint: true},
	{name: "empty lax envelope", body: hdr + `<A>a</A>` + twoN + `<Ext/>`,
		path: "/R/Ext[1]", reason: "missing any element at the end of Ext"},
	{name: "two elements in a lax envelope", body: hdr + `<A>a</A>` + twoN + `<Ext><a/><b/></Ext>`,
		path: "/R/Ext[1]/b", reason: "element b not expected here; nothing more is allowed in Ext"},
	{name: "lax envelope validates a declared element", body: hdr + `<A>a</A>` + twoN + `<Ext><R><Hdr>h</Hdr></R></Ext>`,
		path: "/R/Ext[1]/R", reason: "missing one of A, B at the end of R"},
	{name: "strict wildcard with a declared element", body: hdr + `<A>a</A>` + twoN + `<Strict><R>` + hdr + `<B><X>x</X></B>` + twoN + `</R></Strict>`, valid: true},
	{name: "strict wildcard with an undeclared element", body: hdr + `<A>a</A>` + twoN + `<Strict><q:Z xmlns:q="urn:q"/></Strict>`,
		path: "/R/Strict/Z", reason: "no declaration for element Z matched by a strict wildcard"},
	{name: "strict wildcard checks the declared element", body: hdr + `<A>a</A>` + twoN + `<Strict><R>` + hdr + `</R></Strict>`,
		path: "/R/Strict/R", reason: "missing one of A, B at the end of R"},
	{name: "text in element-only content", body: hdr + `x<A>a</A>` + twoN,
		path: "/R", reason: "text not allowed in R"},
	{name: "element in simple content", body: `<Hdr><b>h</b></Hdr><A>a</A>` + twoN,
		path: "/R/Hdr/b", reason: "Hdr has a simple value"},
	{name: "empty simple value", body: `<Hdr/><A>a</A>` + twoN,
		path: "/R/Hdr", reason: "length 0 is below the minimum 1"},
}

// TestContentModels: every case is accepted or refused with the right Path
// and reason.
func TestContentModels(t *testing.T) {
	s := modelSchema(t)
	for _, c := range modelCases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Validate(modelDoc(c.body))
			if c.valid {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var xe *xsd.Error
			if !errors.As(err, &xe) || !errors.Is(err, xsd.ErrInvalid) {
				t.Fatalf("want an invalid *xsd.Error, got %v", err)
			}
			if xe.Path != c.path || !strings.Contains(xe.Reason, c.reason) {
				t.Fatalf("got %q: %q; want %q: ...%q...", xe.Path, xe.Reason, c.path, c.reason)
			}
		})
	}
}

// TestContentModelsAgainstXmllint: libxml2 reaches the same verdict on
// every case.
func TestContentModelsAgainstXmllint(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not on PATH (apt-get install libxml2-utils): cross-check skipped")
	}
	dir := t.TempDir()
	for _, c := range modelCases {
		if c.notXmllint {
			continue
		}
		f := filepath.Join(dir, "m.xml")
		if err := os.WriteFile(f, modelDoc(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("xmllint", "--noout", "--nonet", "--schema", filepath.Join("testdata", "model.xsd"), f).CombinedOutput()
		if (err == nil) != c.valid {
			t.Errorf("%s: want valid=%v, xmllint says: %s", c.name, c.valid, out)
		}
	}
}

// TestRefusals: what the reader refuses before any schema check (DTDs and
// so entity expansion, oversize, overdeep, non-UTF-8, malformed XML), each
// with its kind for errors.Is, quickly, and without panicking.
func TestRefusals(t *testing.T) {
	s := modelSchema(t).WithLimits(xsd.Limits{MaxBytes: 4096, MaxDepth: 8})
	laughs := `<?xml version="1.0"?><!DOCTYPE R [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><R xmlns="urn:specie:test:model"><Hdr>&d;</Hdr></R>`
	valid := string(modelDoc(hdr + `<A>a</A>` + twoN))
	deep := string(modelDoc(hdr + `<A>a</A>` + twoN + `<Ext>` + strings.Repeat("<a>", 10) + strings.Repeat("</a>", 10) + `</Ext>`))
	cases := []struct {
		name string
		doc  string
		kind error
		line int
	}{
		{"billion laughs", laughs, xsd.ErrDTD, 1},
		{"external entity", "<?xml version=\"1.0\"?>\n<!DOCTYPE R [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<R xmlns=\"urn:specie:test:model\"><Hdr>&x;</Hdr></R>", xsd.ErrDTD, 2},
		{"external DTD", `<!DOCTYPE R SYSTEM "http://127.0.0.1:1/r.dtd"><R xmlns="urn:specie:test:model"/>`, xsd.ErrDTD, 1},
		{"entity without a DTD", `<R xmlns="urn:specie:test:model"><Hdr>&x;</Hdr></R>`, xsd.ErrMalformed, 1},
		{"too large", `<R xmlns="urn:specie:test:model">` + strings.Repeat(" ", 5000) + `</R>`, xsd.ErrTooLarge, 0},
		{"too deep", deep, xsd.ErrTooDeep, 1},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><R xmlns="urn:specie:test:model"/>`, xsd.ErrMalformed, 1},
		{"invalid UTF-8", "<R xmlns=\"urn:specie:test:model\">\n<Hdr>\xff</Hdr></R>", xsd.ErrMalformed, 2},
		{"two roots", valid + `<R xmlns="urn:specie:test:model"/>`, xsd.ErrMalformed, 1},
		{"text after the root", valid + `x`, xsd.ErrMalformed, 1},
		{"malformed after a valid root", valid + `<!-- -- -->`, xsd.ErrMalformed, 1},
		{"empty", ``, xsd.ErrMalformed, 0},
		{"unclosed", "<R xmlns=\"urn:specie:test:model\">\n<Hdr>", xsd.ErrMalformed, 2},
		{"mismatched tags", `<R xmlns="urn:specie:test:model"><Hdr></A></R>`, xsd.ErrMalformed, 1},
		{"XML declaration late", `<!-- x --><?xml version="1.0"?><R xmlns="urn:specie:test:model"/>`, xsd.ErrMalformed, 1},
		{"control character", "<R xmlns=\"urn:specie:test:model\"><Hdr>\x01</Hdr></R>", xsd.ErrMalformed, 1},
		{"undeclared root", `<Q xmlns="urn:specie:test:model"/>`, xsd.ErrInvalid, 1},
		{"root in no namespace", `<R/>`, xsd.ErrInvalid, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := s.Validate([]byte(c.doc))
			if !errors.Is(err, c.kind) {
				t.Fatalf("got %v, want %v", err, c.kind)
			}
			var xe *xsd.Error
			if !errors.As(err, &xe) {
				t.Fatalf("got %T, want *xsd.Error", err)
			}
			if xe.Line != c.line {
				t.Errorf("Line = %d, want %d (%v)", xe.Line, c.line, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	// A zero limit is the default, never "no limit".
	unlimited := modelSchema(t).WithLimits(xsd.Limits{})
	deeper := modelDoc(hdr + `<A>a</A>` + twoN + `<Ext>` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</Ext>`)
	if err := unlimited.Validate(deeper); !errors.Is(err, xsd.ErrTooDeep) {
		t.Fatalf("zero MaxDepth: got %v, want ErrTooDeep at the default", err)
	}
	if err := unlimited.Validate(make([]byte, xsd.DefaultLimits.MaxBytes+1)); !errors.Is(err, xsd.ErrTooLarge) {
		t.Fatalf("zero MaxBytes: got %v, want ErrTooLarge at the default", err)
	}
	if s.Limits() != (xsd.Limits{MaxBytes: 4096, MaxDepth: 8}) || modelSchema(t).Limits() != xsd.DefaultLimits {
		t.Fatal("WithLimits changed the original's limits or did not take")
	}
}

// TestConcurrentValidate: one compiled schema serves many goroutines (run
// with -race).
func TestConcurrentValidate(t *testing.T) {
	s := modelSchema(t)
	good := modelDoc(hdr + `<A>a</A>` + twoN)
	bad := modelDoc(hdr + twoN)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if err := s.Validate(good); err != nil {
					errs <- err
					return
				}
				if err := s.Validate(bad); err == nil {
					errs <- errors.New("bad document accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestPatterns: XSD regular expressions translate to anchored Go ones with
// XSD's meaning (^ and $ literal, . excluding CR and LF, \d Unicode).
func TestPatterns(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{`[A-Z]{3,3}`, []string{"EUR"}, []string{"EU", "EURO", "eur", "EUR\n"}},
		{`[A-Z0-9]{4,4}[A-Z]{2,2}[A-Z0-9]{2,2}([A-Z0-9]{3,3}){0,1}`, []string{"BKAADEFF", "BKAADEFFXXX"}, []string{"BKAADEFFXX", "BKAA-DEFF"}},
		{`\+[0-9]{1,3}-[0-9()+\-]{1,30}`, []string{"+49-(711)-5550100"}, []string{"+49 711", "49-1"}},
		{`[\+]{0,1}[0-9]{1,15}`, []string{"+123", "123"}, []string{"++1", ""}},
		{`a$b^c`, []string{"a$b^c"}, []string{"abc"}},
		{`a.c`, []string{"abc", "a c"}, []string{"a\nc", "a\rc", "ac"}},
		{`\d+`, []string{"123", "١٢٣"}, []string{"12a"}},
		{`\p{Lu}\P{Lu}`, []string{"Ab"}, []string{"AB"}},
		{`[^a-c]x|y*`, []string{"dx", "", "yyy"}, []string{"ax", "dxy"}},
		{`\s\S\w\W`, []string{" a1!"}, []string{"a a1!"}},
	}
	for _, c := range cases {
		doc := `<xs:schema xmlns="urn:p" xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" targetNamespace="urn:p"><xs:element name="P" type="P"/><xs:simpleType name="P"><xs:restriction base="xs:string"><xs:pattern value="` + xmlEscape(c.pattern) + `"/></xs:restriction></xs:simpleType></xs:schema>`
		s, err := xsd.Compile(mapFS("p.xsd", doc), "p.xsd")
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		for _, m := range c.match {
			if err := s.Validate([]byte(`<P xmlns="urn:p">` + xmlEscape(m) + `</P>`)); err != nil {
				t.Errorf("%s should match %q: %v", c.pattern, m, err)
			}
		}
		for _, m := range c.nomatch {
			if err := s.Validate([]byte(`<P xmlns="urn:p">` + xmlEscape(m) + `</P>`)); err == nil {
				t.Errorf("%s should not match %q", c.pattern, m)
			}
		}
	}
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '\r':
			b.WriteString("&#13;")
		case '\n':
			b.WriteString("&#10;")
		default:
			_ = xmlEscapeRune(&b, r)
		}
	}
	return b.String()
}

func xmlEscapeRune(b *bytes.Buffer, r rune) error {
	switch r {
	case '<':
		b.WriteString("&lt;")
	case '>':
		b.WriteString("&gt;")
	case '&':
		b.WriteString("&amp;")
	case '"':
		b.WriteString("&quot;")
	default:
		b.WriteRune(r)
	}
	return nil
}
