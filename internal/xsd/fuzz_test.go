package xsd_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/specie/specie/internal/iso20022/schemas"
	"github.com/specie/specie/internal/xsd"
)

func mapFS(name, doc string) fstest.MapFS {
	return fstest.MapFS{name: {Data: []byte(doc)}}
}

// FuzzValidate feeds random bytes and mutated ISO 20022 samples to the
// validator: it never panics, every refusal is an *xsd.Error of a known
// kind, the verdict does not change between calls, a document with a
// DOCTYPE is never accepted, and a document the pacs.008 schema accepts
// is one schemas.Validate names pacs.008.
func FuzzValidate(f *testing.F) {
	samples, _ := filepath.Glob(filepath.Join("..", "iso20022", "schemas", "testdata", "*.xml"))
	for _, p := range samples {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(modelDoc(hdr + `<A>a</A>` + twoN))
	f.Add([]byte(`<!DOCTYPE R [<!ENTITY a "b">]><R xmlns="urn:specie:test:model"><Hdr>&a;</Hdr></R>`))
	f.Add([]byte(`<R xmlns="urn:specie:test:model"><Hdr><![CDATA[x]]></Hdr></R>`))
	f.Add([]byte{})
	f.Add([]byte("\xef\xbb\xbf<a/>"))
	pacs, err := schemas.Schema("pacs.008.001.09")
	if err != nil {
		f.Fatal(err)
	}
	model := modelSchema(f)
	kinds := []error{xsd.ErrInvalid, xsd.ErrMalformed, xsd.ErrDTD, xsd.ErrTooLarge, xsd.ErrTooDeep}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, s := range []*xsd.Schema{pacs, model} {
			err := s.Validate(doc)
			if err != nil {
				var xe *xsd.Error
				if !errors.As(err, &xe) {
					t.Fatalf("error %T %v is not an *xsd.Error", err, err)
				}
				known := false
				for _, k := range kinds {
					known = known || errors.Is(err, k)
				}
				if !known || xe.Reason == "" {
					t.Fatalf("error %v has no known kind or reason", err)
				}
			}
			again := s.Validate(doc)
			if (err == nil) != (again == nil) || (err != nil && err.Error() != again.Error()) {
				t.Fatalf("verdict changed: %v then %v", err, again)
			}
			if err == nil && hasDirective(doc) {
				t.Fatalf("accepted a document with a DOCTYPE")
			}
		}
		if pacs.Validate(doc) == nil {
			if msg, err := schemas.Validate(doc); err != nil || msg != "pacs.008.001.09" {
				t.Fatalf("pacs.008 schema accepts, schemas.Validate says %q, %v", msg, err)
			}
		}
	})
}

// hasDirective reports whether a lenient tokenizer finds a <!...>
// declaration outside comments and CDATA.
func hasDirective(doc []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	for {
		tok, err := d.RawToken()
		if err == io.EOF || err != nil {
			return false
		}
		if _, ok := tok.(xml.Directive); ok {
			return true
		}
	}
}
