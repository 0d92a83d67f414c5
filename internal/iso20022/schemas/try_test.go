package schemas

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTry(t *testing.T) {
	files, _ := filepath.Glob(os.Getenv("TRY"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		msg, err := Validate(b)
		t.Logf("%s: %s: %v", f, msg, err)
	}
}
