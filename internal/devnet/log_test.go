package devnet_test

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// buildSpecie builds the specie binary into dir, for tests that run it as
// separate processes.
func buildSpecie(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "specie")
	build := exec.Command("go", "build", "-o", bin, "github.com/specie/specie/cmd/specie")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build specie: %v", err)
	}
	return bin
}
