package devnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/specie/specie/client"
	"github.com/specie/specie/internal/pki"
)

// OperatorCert names the certificate the command line uses for reads that
// need no role's credential (`specie supply`, `specie log verify`): under
// mutual TLS every connection presents a certificate, and an operator's
// anonymous read is not a role's.
const OperatorCert = "operator"

// TLSConfig is the network's mutual TLS, written by `specie devnet certs`:
// the CA every role trusts and each principal's certificate. When it is
// set, `specie serve` roles listen on HTTPS, require a certificate from the
// CA on every connection, and match the certificate's name against the
// bearer token's principal. `specie up` ignores it: one process on
// loopback has no wire between roles to protect.
type TLSConfig struct {
	CA    string               `json:"ca"`
	CAKey string               `json:"ca_key"`
	Certs map[string]pki.Files `json:"certs"` // by principal: ledger, issuer, bank-a, ..., operator
}

// resolve makes the file names relative to the config's folder absolute.
func (t *TLSConfig) resolve(base string) {
	if t == nil {
		return
	}
	abs := func(f string) string {
		if f == "" || filepath.IsAbs(f) {
			return f
		}
		return filepath.Join(base, f)
	}
	t.CA, t.CAKey = abs(t.CA), abs(t.CAKey)
	for k, f := range t.Certs {
		t.Certs[k] = pki.Files{CA: abs(f.CA), Cert: abs(f.Cert), Key: abs(f.Key)}
	}
}

// Files returns the certificate files of principal name.
func (t *TLSConfig) Files(name string) (pki.Files, error) {
	if t == nil {
		return pki.Files{}, errors.New("the network has no TLS configured")
	}
	f, ok := t.Certs[name]
	if !ok {
		names := make([]string, 0, len(t.Certs))
		for k := range t.Certs {
			names = append(names, k)
		}
		sort.Strings(names)
		return pki.Files{}, fmt.Errorf("no certificate for %q in the network's TLS config (it has %s)", name, strings.Join(names, ", "))
	}
	return f, nil
}

// ClientOptions are the client options for principal self calling other
// roles: with the network's TLS, its certificate; none without.
func (c *Config) ClientOptions(self string) ([]client.Option, error) {
	if c.TLS == nil {
		return nil, nil
	}
	f, err := c.TLS.Files(self)
	if err != nil {
		return nil, err
	}
	tc, err := f.Client()
	if err != nil {
		return nil, fmt.Errorf("%s's client certificate: %w", self, err)
	}
	return []client.Option{client.WithTLS(tc)}, nil
}

// CertsOptions chooses the certificates `specie devnet certs` writes.
type CertsOptions struct {
	Now      time.Time
	ValidFor time.Duration // each certificate's lifetime
}

// MakeCerts creates the network CA and a certificate for every role and
// the operator under dir/tls, and rewrites dir's config to use them: the
// roles' URLs become https, and TLS names the files. Each certificate is
// valid for its role's host and for 127.0.0.1 and localhost. It refuses a
// network that already has certificates.
func MakeCerts(dir string, o CertsOptions) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devnet certs: %w", err)
	}
	var c Config // as written: file names stay relative to dir
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("devnet certs: %s: %w", path, err)
	}
	if c.TLS != nil {
		return nil, fmt.Errorf("devnet certs: %s already has certificates (under %s)", path, filepath.Dir(filepath.Join(dir, c.TLS.CA)))
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.ValidFor <= 0 {
		o.ValidFor = 365 * 24 * time.Hour
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		return nil, fmt.Errorf("devnet certs: %w", err)
	}
	ca, err := pki.NewCA(c.Network.ID, o.Now, o.ValidFor)
	if err != nil {
		return nil, fmt.Errorf("devnet certs: %w", err)
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("devnet certs: %w", err)
	}
	t := &TLSConfig{CA: "tls/ca.pem", CAKey: "tls/ca-key.pem", Certs: map[string]pki.Files{}}
	if err := writeFiles(dir, map[string][]byte{t.CA: ca.PEM, t.CAKey: caKey}); err != nil {
		return nil, err
	}
	type role struct {
		name string
		ep   *Endpoint
	}
	all := []role{{"ledger", &c.Ledger}, {"issuer", &c.Issuer}}
	for i := range c.Intermediaries {
		all = append(all, role{c.Intermediaries[i].Name, &c.Intermediaries[i]})
	}
	if c.Router != nil {
		// The router of a sharded network calls the groups as itself
		// (router.go); it serves the ledger API with the ledger's.
		all = append(all, role{RouterName, nil})
	}
	all = append(all, role{OperatorCert, nil})
	for _, r := range all {
		hosts := []string{"127.0.0.1", "localhost"}
		if r.ep != nil {
			u, err := url.Parse(r.ep.URL)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("devnet certs: %s's URL %q: want http://host:port", r.name, r.ep.URL)
			}
			if h, _, err := net.SplitHostPort(u.Host); err == nil && h != "127.0.0.1" && h != "localhost" {
				hosts = append(hosts, h)
			}
			u.Scheme = "https"
			r.ep.URL = u.String()
		}
		certPEM, keyPEM, err := ca.Issue(r.name, hosts, o.Now, o.ValidFor)
		if err != nil {
			return nil, fmt.Errorf("devnet certs: %w", err)
		}
		f := pki.Files{CA: t.CA, Cert: "tls/" + r.name + ".pem", Key: "tls/" + r.name + "-key.pem"}
		if err := writeFiles(dir, map[string][]byte{f.Cert: certPEM, f.Key: keyPEM}); err != nil {
			return nil, err
		}
		t.Certs[r.name] = f
	}
	c.TLS = t
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("devnet certs: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("devnet certs: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("devnet certs: %w", err)
	}
	return Load(path)
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return fmt.Errorf("devnet certs: %w", err)
		}
	}
	return nil
}
