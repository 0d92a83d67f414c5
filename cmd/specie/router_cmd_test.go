package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/internal/devnet"
)

// TestServeRouterFlags: `specie serve router` refuses, with a one-line
// reason and before it reaches any group, missing or malformed --groups
// and --coordinator, and the router flags on another role.
func TestServeRouterFlags(t *testing.T) {
	dir := t.TempDir()
	if _, err := devnet.Init(dir, devnet.DefaultInit("http://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, devnet.ConfigFile)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no groups", []string{"--coordinator", "1=http://127.0.0.1:2"}, "--groups and --coordinator are required"},
		{"no coordinator", []string{"--groups", "1=http://127.0.0.1:2;1=http://127.0.0.1:3"}, "--groups and --coordinator are required"},
		{"one group", []string{"--groups", "1=http://127.0.0.1:2", "--coordinator", "1=http://127.0.0.1:4"}, "at least 2"},
		{"an empty group", []string{"--groups", "1=http://127.0.0.1:2;", "--coordinator", "1=http://127.0.0.1:4"}, "group 1 is empty"},
		{"a bad coordinator", []string{"--groups", "1=http://127.0.0.1:2;1=http://127.0.0.1:3", "--coordinator", "http://127.0.0.1:4"}, "coordinator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(append([]string{"serve", "router", "--config", cfg}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v (output %q), want a one-line error with %q", err, out, tc.want)
			}
		})
	}
}
