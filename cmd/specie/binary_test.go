package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinaryExitStatus builds the real binary and runs it against a real
// network: a failing command exits with status 1, prints nothing on stdout
// and exactly one line on stderr, "specie: <reason>"; a good one exits 0.
func TestBinaryExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "specie")
	build := exec.Command("go", "build", "-o", bin, "github.com/specie/specie/cmd/specie")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	e := newEnv(t)
	e.mint("bank-a", 1000_00)
	bob := e.openWallet("bank-b", "bob")
	down := "http://" + closedAddr(t)

	tests := []struct {
		name   string
		args   []string
		status int
		stderr string // prefix of the one line on stderr
	}{
		{"ok", []string{"supply"}, 0, ""},
		{"bad amount", []string{"wallet", "pay", "--from", "bank-a.treasury", "--to", bob, "--amount", "1.234"}, 1, "specie: malformed: --amount: "},
		{"insufficient funds", []string{"wallet", "pay", "--from", "bank-a.treasury", "--to", bob, "--amount", "1000.01"}, 1, "specie: insufficient_funds: "},
		{"other bank's wallet", []string{"--as", "bank-a", "wallet", "balance", bob}, 1, "specie: unauthorized: "},
		{"unknown wallet", []string{"wallet", "balance", "bank-b.nosuch"}, 1, "specie: not_found: "},
		{"no server", []string{"--api", down, "supply"}, 1, "specie: unavailable: "},
		{"unknown command", []string{"bogus"}, 1, `specie: unknown command "bogus"`},
		{"missing flag", []string{"wallet", "pay", "--from", "bank-a.treasury"}, 1, "specie: required flag(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"--api", e.api, "--data", e.dir}, tt.args...)...)
			cmd.Env = append(os.Environ(), "SPECIE_API=", "SPECIE_TOKEN=")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			status := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Fatalf("exit status %d, want %d\nstdout: %s\nstderr: %s", status, tt.status, stdout.String(), stderr.String())
			}
			if tt.status == 0 {
				if stderr.Len() != 0 || stdout.Len() == 0 {
					t.Errorf("success: stdout %q, stderr %q", stdout.String(), stderr.String())
				}
				return
			}
			if stdout.Len() != 0 {
				t.Errorf("failure printed on stdout: %q", stdout.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("stderr is not exactly one line: %q", msg)
			}
			if !strings.HasPrefix(msg, tt.stderr) {
				t.Errorf("stderr %q, want it to start with %q", msg, tt.stderr)
			}
		})
	}
}
