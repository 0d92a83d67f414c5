package main

import (
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/specie/specie/internal/devnet"
)

// TestCLIOverMutualTLS: after `specie devnet certs`, the command line
// reaches roles served over mutual TLS with the certificate of the
// principal it acts as, and the operator's for public reads.
func TestCLIOverMutualTLS(t *testing.T) {
	t.Setenv("SPECIE_API", "")
	t.Setenv("SPECIE_TOKEN", "")
	dir := t.TempDir()
	o := devnet.DefaultInit("")
	o.RoleURLs = map[string]string{}
	addrs := map[string]string{}
	for _, role := range []string{"ledger", "issuer", "bank-a", "bank-b"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[role] = ln.Addr().String()
		ln.Close()
		o.RoleURLs[role] = "http://" + addrs[role]
	}
	if _, err := devnet.Init(dir, o); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI("--data", dir, "devnet", "certs"); err != nil || !strings.Contains(out, "certificates written") {
		t.Fatalf("devnet certs: %v\n%s", err, out)
	}
	if out, err := runCLI("--data", dir, "devnet", "certs"); err == nil {
		t.Fatalf("devnet certs twice succeeded:\n%s", out)
	}
	cfg, err := devnet.Load(filepath.Join(dir, devnet.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ role, name, key string }{
		{"ledger", "", "ledger"}, {"issuer", "", "issuer"},
		{"intermediary", "bank-a", "bank-a"}, {"intermediary", "bank-b", "bank-b"},
	} {
		n, err := devnet.Serve(cfg, r.role, r.name, filepath.Join(dir, "data-"+r.key), addrs[r.key], slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("serve %s: %v", r.key, err)
		}
		t.Cleanup(func() { n.Close() })
	}
	cli := func(role string, args ...string) (string, error) {
		return runCLI(append([]string{"--api", "https://" + addrs[role], "--data", dir}, args...)...)
	}
	if out, err := cli("issuer", "supply"); err != nil || !strings.Contains(out, "outstanding") {
		t.Fatalf("supply over mTLS with the operator's certificate: %v\n%s", err, out)
	}
	out, err := cli("bank-a", "wallet", "open", "--intermediary", "bank-a", "--owner", "carol", "--tier", "0", "--evidence", "phone=+15550001111")
	if err != nil || !strings.Contains(out, "bank-a.") {
		t.Fatalf("wallet open over mTLS as bank-a: %v\n%s", err, out)
	}
	if out, err := cli("bank-a", "wallet", "balance", "bank-a.treasury"); err != nil || !strings.Contains(out, "0.00 USD") {
		t.Fatalf("balance over mTLS as bank-a: %v\n%s", err, out)
	}
	// Plain HTTP to a role that requires TLS is no answer.
	if _, err := runCLI("--api", "http://"+addrs["issuer"], "--data", dir, "supply"); err == nil {
		t.Fatal("plain HTTP to a TLS role answered")
	}
}
