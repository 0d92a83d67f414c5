package schemas_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/internal/iso20022/schemas"
	"github.com/specie/specie/internal/iso20022/schemas/schematest"
	"github.com/specie/specie/internal/xsd"
)

// FuzzAgainstXmllint lets the fuzzer hunt for a document on which this
// validator and xmllint disagree, starting from the samples. It needs
// xmllint and runs one xmllint per input (about a hundred a second), so it
// is a tool to run for minutes by hand (go test -fuzz FuzzAgainstXmllint
// ./internal/iso20022/schemas), not part of CI's fuzz list; as a plain test
// it checks its seeds. Inputs where the two differ on purpose are left
// out: a DOCTYPE, XML 1.1 or another encoding, xsi:type.
func FuzzAgainstXmllint(f *testing.F) {
	if err := schematest.Xmllint("pacs.002.001.11", nil); errors.Is(err, schematest.ErrNoXmllint) {
		f.Skip(err)
	}
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		msg, err := schemas.Detect(doc)
		if err != nil {
			return
		}
		s, err := schemas.Schema(msg)
		if err != nil {
			t.Fatal(err)
		}
		ours := s.Validate(doc)
		if errors.Is(ours, xsd.ErrDTD) || strings.Contains(string(doc), "xsi:type") {
			return
		}
		if ours != nil && (strings.Contains(ours.Error(), "unsupported version") || strings.Contains(ours.Error(), "encoding")) {
			return
		}
		theirs := schematest.Xmllint(msg, doc)
		if theirs != nil && !strings.HasPrefix(theirs.Error(), "xmllint: ") {
			t.Fatal(theirs)
		}
		if (ours == nil) != (theirs == nil) {
			t.Fatalf("verdicts differ on %s: ours %v; %v", msg, ours, theirs)
		}
	})
}
