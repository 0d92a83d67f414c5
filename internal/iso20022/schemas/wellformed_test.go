package schemas

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/internal/xsd"
)

// wellFormedCases edit the pacs.002 sample at the level of XML syntax:
// character references, comments, declarations, names, namespaces,
// attributes, what may follow the root. encoding/xml and libxml2 agree on
// all of them except the two marked stricter, which this reader refuses
// on purpose (XML 1.1; encodings other than UTF-8).
var wellFormedCases = []struct {
	old, new string
	valid    bool
	stricter bool
}{
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>a]]>b No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf><!-- a--b -->No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf><!-- a- -->No DFC", valid: true},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>&#0;No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>&#xD800;No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>&#57343;No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>&#55295;&#xFFFD;No DFC", valid: true},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>&#xFFFE;No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>\ufffeNo DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>&#x10FFFF;No DFC", valid: true},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>&#x110000;No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>\u0085\x7fNo DFC", valid: true},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf><?xml x?>No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf><?XmL x?>No DFC"},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf><?pi?>No DFC", valid: true},
	{old: "<AddtlInf>No DFC", new: "<AddtlInf>\rNo DFC&#13;", valid: true},
	{old: `<?xml version="1.0" encoding="UTF-8"?>`, new: `<?xml version="1.1" encoding="UTF-8"?>`, stricter: true},
	{old: `<?xml version="1.0" encoding="UTF-8"?>`, new: `<?xml version="1.0" encoding="US-ASCII"?>`, stricter: true},
	{old: `<?xml version="1.0" encoding="UTF-8"?>`, new: `<?xml version="1.0" encoding="utf-8" standalone="yes"?>`, valid: true},
	{old: `<?xml version="1.0" encoding="UTF-8"?>`, new: `<?xml version='1.0'?>`, valid: true},
	{old: `<?xml version="1.0" encoding="UTF-8"?>`, new: `<?xml encoding="UTF-8"?>`},
	{old: `<?xml version="1.0" encoding="UTF-8"?>`, new: ` <?xml version="1.0"?>`},
	{old: "<TxSts>RJCT</TxSts>", new: `<TxSts a="1" a="2">RJCT</TxSts>`},
	{old: "<TxSts>RJCT</TxSts>", new: "<TxSts >RJCT</TxSts\n>", valid: true},
	{old: "<TxSts>RJCT</TxSts>", new: `<p:TxSts xmlns:p="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.11">RJCT</p:TxSts>`, valid: true},
	{old: "<TxSts>RJCT</TxSts>", new: `<TxSts xmlns:p="" xmlns:xml="http://www.w3.org/XML/1998/namespace">RJCT</TxSts>`, valid: true},
	{old: "<TxSts>RJCT</TxSts>", new: `<TxSts p:a="1">RJCT</TxSts>`},
	{old: "<TxSts>RJCT</TxSts>", new: `<p:TxSts>RJCT</p:TxSts>`},
	{old: "<TxSts>RJCT</TxSts>", new: `<TxSts a="<">RJCT</TxSts>`},
	{old: "<TxSts>RJCT</TxSts>", new: "<TxSts>R&#74;C&#x54;</TxSts><!---->", valid: true},
	{old: "<TxSts>RJCT</TxSts>", new: "<TxSts>R&#X4A;CT</TxSts>"},
	{old: "<TxSts>RJCT</TxSts>", new: "<TxSts>RJ<![CDATA[]]>CT</TxSts>", valid: true},
	{old: "<TxSts>RJCT</TxSts>", new: "<1TxSts>RJCT</1TxSts>"},
	{old: "<TxSts>RJCT</TxSts>", new: "<TxSts>RJCT</TxSts>\x00"},
	{old: "</Document>", new: "</Document>\n<!-- end -->\n<?pi?>\n", valid: true},
	{old: "</Document>", new: "</Document>&#32;"},
	{old: "</Document>", new: "</Document><Document/>"},
	{old: "<Document ", new: "<Document\txmlns:a=\"x\" ", valid: true},
	{old: "<Document ", new: `<Document a:b="1" xmlns:a="urn:a" `},
}

func wellFormedDoc(t *testing.T, i int) []byte {
	c := wellFormedCases[i]
	base := string(sample(t, "pacs.002.001.11"))
	if !strings.Contains(base, c.old) {
		t.Fatalf("case %d: %q not in the sample", i, c.old)
	}
	return []byte(strings.Replace(base, c.old, c.new, 1))
}

// TestWellFormedness: each syntax-level edit is accepted or refused as
// pinned; a refusal of XML syntax is ErrMalformed with a line.
func TestWellFormedness(t *testing.T) {
	s, err := Schema("pacs.002.001.11")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range wellFormedCases {
		err := s.Validate(wellFormedDoc(t, i))
		if (err == nil) != c.valid {
			t.Errorf("case %d %q: valid=%v, got %v", i, c.new, c.valid, err)
		}
		var xe *xsd.Error
		if err != nil && (!errors.As(err, &xe) || xe.Line < 1) {
			t.Errorf("case %d %q: %v is not an *xsd.Error with a line", i, c.new, err)
		}
	}
}

// TestWellFormednessAgainstXmllint: xmllint agrees with every pinned
// verdict but the two where this reader is stricter on purpose.
func TestWellFormednessAgainstXmllint(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not on PATH (apt-get install libxml2-utils): cross-check skipped")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pacs.002.001.11.xsd"), mustRead(t, "pacs.002.001.11.xsd"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, c := range wellFormedCases {
		theirs := xmllintVerdict(t, dir, "pacs.002.001.11", wellFormedDoc(t, i))
		want := c.valid || c.stricter
		if (theirs == nil) != want {
			t.Errorf("case %d %q: xmllint valid=%v, want %v: %v", i, c.new, theirs == nil, want, theirs)
		}
	}
}
