package pki_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/internal/pki"
)

func TestFilesRefuseWhatTheyCannotUse(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("test", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("bank-a", []string{"127.0.0.1", "bank-a.example"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile, caKeyFile := write("ca.pem", ca.PEM), write("ca-key.pem", caKey)
	cert, key := write("a.pem", certPEM), write("a-key.pem", keyPEM)
	empty := write("empty.pem", nil)

	if _, err := pki.LoadCA(caFile, caKeyFile); err != nil {
		t.Fatalf("load the CA: %v", err)
	}
	if _, err := pki.LoadCA(cert, key); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("a role's certificate loaded as a CA: %v", err)
	}
	good := pki.Files{CA: caFile, Cert: cert, Key: key}
	if _, err := good.Server(); err != nil {
		t.Fatal(err)
	}
	if _, err := good.Client(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]pki.Files{
		"no CA file":          {CA: filepath.Join(dir, "missing"), Cert: cert, Key: key},
		"an empty CA file":    {CA: empty, Cert: cert, Key: key},
		"a key of another":    {CA: caFile, Cert: cert, Key: caKeyFile},
		"no certificate file": {CA: caFile, Cert: filepath.Join(dir, "missing"), Key: key},
	} {
		if _, err := f.Server(); err == nil {
			t.Errorf("%s: server config made", name)
		}
		if _, err := f.Client(); err == nil {
			t.Errorf("%s: client config made", name)
		}
	}
	if _, _, err := ca.Issue("", nil, time.Now(), time.Hour); err == nil {
		t.Fatal("a certificate with no name")
	}
}
