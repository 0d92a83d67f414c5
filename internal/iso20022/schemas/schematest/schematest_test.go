package schematest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestXmllint: a sample validates, a broken one does not, and an unknown
// message is an error rather than a pass.
func TestXmllint(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "testdata", "pacs.009.001.09.xml"))
	if err != nil {
		t.Fatal(err)
	}
	err = Xmllint("pacs.009.001.09", doc)
	if errors.Is(err, ErrNoXmllint) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("sample: %v", err)
	}
	bad := []byte(strings.Replace(string(doc), "<NbOfTxs>2</NbOfTxs>", "<NbOfTxs>two</NbOfTxs>", 1))
	if err := Xmllint("pacs.009.001.09", bad); err == nil || !strings.Contains(err.Error(), "NbOfTxs") {
		t.Fatalf("broken sample: %v, want xmllint naming NbOfTxs", err)
	}
	if err := Xmllint("pacs.009.001.01", doc); err == nil {
		t.Fatal("unknown message passed")
	}
	Conforms(t, "pacs.009.001.09", doc)
}
