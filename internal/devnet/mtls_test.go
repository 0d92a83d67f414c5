package devnet_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/devnet"
	"github.com/specie/specie/internal/pki"
	"github.com/specie/specie/roles"
)

// TestMutualTLS runs the four roles as `specie serve` does, each with its
// own listener and data, after `specie devnet certs`: the whole scenario
// (mint with officer approvals, payments across banks, redeem) runs over
// mutual TLS, and a connection without a certificate, with one from another
// CA, with an expired one, or with a certificate that names another
// principal than the token's, is refused and changes nothing.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	_, addrs, _ := servedNet(t, dir)
	cfg, err := devnet.MakeCerts(dir, devnet.CertsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devnet.MakeCerts(dir, devnet.CertsOptions{}); err == nil || !strings.Contains(err.Error(), "already has certificates") {
		t.Fatalf("certs twice: %v", err)
	}
	for _, u := range []string{cfg.Ledger.URL, cfg.Issuer.URL, cfg.Intermediaries[0].URL, cfg.Intermediaries[1].URL} {
		if !strings.HasPrefix(u, "https://") {
			t.Fatalf("after certs a role is still at %s", u)
		}
	}
	log := slog.New(slog.DiscardHandler)
	for _, r := range []struct{ role, name, key string }{
		{"ledger", "", "ledger"}, {"issuer", "", "issuer"},
		{"intermediary", "bank-a", "bank-a"}, {"intermediary", "bank-b", "bank-b"},
	} {
		n, err := devnet.Serve(cfg, r.role, r.name, filepath.Join(dir, "data-"+r.key), addrs[r.key], log)
		if err != nil {
			t.Fatalf("serve %s: %v", r.key, err)
		}
		t.Cleanup(func() { n.Close() })
		if !strings.HasPrefix(n.URL, "https://") {
			t.Fatalf("%s serves at %s", r.key, n.URL)
		}
	}
	opts := func(who string) []client.Option {
		o, err := cfg.ClientOptions(who)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	p := newPartiesWith(t, cfg, cfg.Ledger.URL, cfg.Issuer.URL, cfg.Intermediaries[0].URL, cfg.Intermediaries[1].URL, opts)
	runScenario(t, p)

	ctx := context.Background()
	aURL := cfg.Intermediaries[0].URL
	aTok, _ := cfg.Token("bank-a")
	treasury := "bank-a.treasury"
	before, err := p.bankA.Wallet(ctx, treasury)
	if err != nil {
		t.Fatal(err)
	}
	trustOnly := func(certs ...tls.Certificate) *tls.Config {
		tc, err := cfg.TLS.Certs["bank-a"].Client()
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = certs
		return tc
	}
	// Another network's CA, and an expired certificate from this one.
	other, err := pki.NewCA("elsewhere", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign := issue(t, other, "bank-a", time.Now(), time.Hour)
	ca, err := pki.LoadCA(cfg.TLS.CA, cfg.TLS.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	expired := issue(t, ca, "bank-a", time.Now().Add(-48*time.Hour), 24*time.Hour)
	for _, c := range []struct {
		name string
		tc   *tls.Config
	}{
		{"no client certificate", trustOnly()},
		{"a certificate from another CA", trustOnly(foreign)},
		{"an expired certificate", trustOnly(expired)},
	} {
		t.Run(c.name, func(t *testing.T) {
			pay := client.New(aURL, aTok, client.WithTLS(c.tc)).Intermediary("bank-a")
			_, err := pay.Pay(ctx, roles.Payment{From: treasury, To: "bank-a.nobody", Amount: 1})
			if err == nil {
				t.Fatal("a payment went through")
			}
			if !errcode.Is(err, errcode.Unavailable) || !strings.Contains(err.Error(), "tls") {
				t.Fatalf("refused with %v, want the TLS handshake to fail (the client reports unavailable)", err)
			}
			t.Log(err)
		})
	}
	t.Run("plain HTTP to a TLS role", func(t *testing.T) {
		resp, err := http.Get("http://" + addrs["bank-a"] + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("plain HTTP answered 200: %s", b)
			}
		}
	})
	t.Run("certificate of another principal than the token's", func(t *testing.T) {
		// bank-b's certificate with bank-a's token: refused as unauthenticated.
		mixed := client.New(aURL, aTok, opts("bank-b")...).Intermediary("bank-a")
		_, err := mixed.Pay(ctx, roles.Payment{From: treasury, To: "bank-a.nobody", Amount: 1})
		var e *errcode.Error
		if !errors.As(err, &e) || e.Code != errcode.Unauthorized || !strings.Contains(e.Message, `names "bank-b"`) {
			t.Fatalf("mixed certificate and token: %v, want unauthorized naming the certificate", err)
		}
		// The operator's certificate reads public data, but is no role.
		op := client.New(cfg.Ledger.URL, "", opts(devnet.OperatorCert)...)
		if _, err := op.Ledger().Info(ctx); err != nil {
			t.Fatalf("operator's public read: %v", err)
		}
		asOp := client.New(aURL, aTok, opts(devnet.OperatorCert)...).Intermediary("bank-a")
		if _, err := asOp.Wallet(ctx, treasury); !errcode.Is(err, errcode.Unauthorized) {
			t.Fatalf("bank-a's token with the operator's certificate: %v", err)
		}
	})
	after, err := p.bankA.Wallet(ctx, treasury)
	if err != nil {
		t.Fatal(err)
	}
	if after.Balance != before.Balance {
		t.Fatalf("refused connections moved money: treasury %d before, %d after", before.Balance, after.Balance)
	}
}

func issue(t *testing.T, ca *pki.CA, name string, now time.Time, validFor time.Duration) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(name, []string{"127.0.0.1"}, now, validFor)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
