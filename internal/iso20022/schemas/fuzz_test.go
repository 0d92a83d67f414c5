package schemas_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/specie/specie/internal/iso20022/schemas"
	"github.com/specie/specie/internal/xsd"
)

// FuzzDetect: Detect never panics on any bytes, names only embedded
// messages, refuses with an *xsd.Error, and agrees with Validate about
// which message a document claims to be.
func FuzzDetect(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`))
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09"/>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		msg, err := schemas.Detect(doc)
		if err != nil {
			var xe *xsd.Error
			if !errors.As(err, &xe) || msg != "" {
				t.Fatalf("schemas.Detect = %q, %T %v", msg, err, err)
			}
			return
		}
		if _, err := schemas.Schema(msg); err != nil {
			t.Fatalf("schemas.Detect named %q, which has no schema: %v", msg, err)
		}
		got, _ := schemas.Validate(doc)
		if got != msg {
			t.Fatalf("schemas.Validate names %q, schemas.Detect %q", got, msg)
		}
	})
}
