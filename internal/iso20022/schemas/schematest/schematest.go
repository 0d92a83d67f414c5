// Package schematest checks in tests that a message conforms to its
// official ISO 20022 schema twice over: with internal/xsd, which Specie
// runs, and with libxml2's `xmllint --schema` (Debian's libxml2-utils,
// installed by .ci/run), the reference the issue names. Every test of a
// message Specie writes should call Conforms; it is the one place that
// knows how to run xmllint.
package schematest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/specie/specie/internal/iso20022/schemas"
)

// ErrNoXmllint: xmllint is not on PATH.
var ErrNoXmllint = errors.New("schematest: xmllint not on PATH (apt-get install libxml2-utils)")

// Xmllint validates doc against the embedded official schema of msg (such
// as "pacs.008.001.09") with `xmllint --noout --nonet --schema`: nil when
// it validates, an error carrying xmllint's message when it does not,
// ErrNoXmllint when xmllint is not installed.
func Xmllint(msg string, doc []byte) error {
	if _, err := exec.LookPath("xmllint"); err != nil {
		return ErrNoXmllint
	}
	xsd, err := schemas.FS.ReadFile(msg + ".xsd")
	if err != nil {
		return fmt.Errorf("schematest: no schema for %q: %w", msg, err)
	}
	dir, err := os.MkdirTemp("", "schematest-")
	if err != nil {
		return fmt.Errorf("schematest: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	schema, file := filepath.Join(dir, msg+".xsd"), filepath.Join(dir, "doc.xml")
	if err := os.WriteFile(schema, xsd, 0o600); err != nil {
		return fmt.Errorf("schematest: write schema: %w", err)
	}
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		return fmt.Errorf("schematest: write document: %w", err)
	}
	out, err := exec.Command("xmllint", "--noout", "--nonet", "--schema", schema, file).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("schematest: run xmllint: %w", err)
		}
		return fmt.Errorf("xmllint: %s", bytes.TrimSpace(out))
	}
	return nil
}

// Conforms fails t unless doc is a conforming msg by internal/xsd and, when
// xmllint is installed, by xmllint too (it logs that the xmllint half was
// skipped otherwise).
func Conforms(t testing.TB, msg string, doc []byte) {
	t.Helper()
	s, err := schemas.Schema(msg)
	if err != nil {
		t.Fatalf("schema %s: %v", msg, err)
	}
	if err := s.Validate(doc); err != nil {
		t.Errorf("%s does not conform (internal/xsd): %v", msg, err)
	}
	switch err := Xmllint(msg, doc); {
	case errors.Is(err, ErrNoXmllint):
		t.Logf("%v: xmllint check of %s skipped", err, msg)
	case err != nil:
		t.Errorf("%s does not conform (xmllint): %v", msg, err)
	}
}
