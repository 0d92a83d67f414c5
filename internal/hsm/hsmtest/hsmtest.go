// Package hsmtest gives tests a fresh SoftHSM2 token, or skips them with a
// clear message on a machine without SoftHSM2 (CI installs it: .ci/run).
package hsmtest

import (
	"os"
	"sync"
	"testing"

	"github.com/specie/specie/internal/hsm"
)

// PIN and SOPIN are the test tokens' PINs.
const (
	PIN   = "1234"
	SOPIN = "5678"
)

// Module returns the SoftHSM2 module's path, skipping t when it is not
// installed or this test binary cannot load modules (built without cgo).
func Module(t testing.TB) string {
	t.Helper()
	if !hsm.Supported {
		t.Skip("built without cgo: PKCS#11 modules cannot be loaded")
	}
	if _, err := os.Stat(hsm.DefaultModule); err != nil {
		t.Skipf("SoftHSM2 is not installed (%s missing): apt-get install softhsm2 to run this test", hsm.DefaultModule)
	}
	return hsm.DefaultModule
}

var homes sync.Map // testing.TB -> softhsm2.conf path

// NewToken initialises a token labelled label in a SoftHSM2 home under
// t.TempDir() and returns how to open it. Tokens made by one test share
// its home. Tests using tokens must not run in parallel, since a process
// reads one SoftHSM2 configuration at a time.
func NewToken(t testing.TB, label string) hsm.Config {
	t.Helper()
	mod := Module(t)
	conf, ok := homes.Load(t)
	if !ok {
		path, err := hsm.WriteSoftHSMConf(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		conf = path
		homes.Store(t, path)
		t.Cleanup(func() { homes.Delete(t) })
	}
	c := hsm.Config{Module: mod, Token: label, PIN: PIN, SoftHSMConf: conf.(string)}
	if err := hsm.InitToken(c, SOPIN); err != nil {
		t.Fatalf("init SoftHSM2 token %q: %v", label, err)
	}
	return c
}

// Open opens c's token, closing it when t ends.
func Open(t testing.TB, c hsm.Config) *hsm.Token {
	t.Helper()
	tok, err := hsm.Open(c)
	if err != nil {
		t.Fatalf("open token %q: %v", c.Token, err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}
