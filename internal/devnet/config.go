// Package devnet wires Specie's roles into a running network: either all in
// one process (`specie up`) or each role as its own process talking HTTP
// (`specie serve ...`). Its config file holds the network parameters, the
// public authority keys, where each role listens and the API credentials.
package devnet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// ConfigFile is the config's name inside a data directory.
const ConfigFile = "devnet.json"

// Config describes a network and where its roles run.
type Config struct {
	Network    money.Network      `json:"network"`
	MintKeys   []crypto.PublicKey `json:"mint_keys"`
	MintQuorum int                `json:"mint_quorum"`
	RedeemKeys []crypto.PublicKey `json:"redeem_keys"`
	Shards     int                `json:"shards"`
	// Officers' private keys live in files the officers hold; the devnet
	// keeps them under keys/ so one person can play every officer.
	OfficerKeyFiles []string `json:"officer_key_files"`
	// RedeemKeyFile is the issuer's operational key.
	RedeemKeyFile string `json:"redeem_key_file"`
	// PseudonymSaltFile holds the secret the intermediaries share to key
	// the pseudonyms the holding-limit registry knows people by. Only the
	// intermediaries read it: the issuer, which runs the registry, never
	// does (in a real deployment it would never be on the central bank's
	// machines at all; the devnet keeps every secret under keys/ so one
	// person can play every role). Empty (a devnet made before the
	// registry) runs the intermediaries without the registry.
	PseudonymSaltFile string `json:"pseudonym_salt_file,omitempty"`
	// TimeZone is the IANA zone of the intermediaries' daily and monthly
	// limits; empty means UTC.
	TimeZone       string            `json:"time_zone,omitempty"`
	Reserves       map[string]uint64 `json:"reserves"` // opening reserves, minor units
	Ledger         Endpoint          `json:"ledger"`
	Issuer         Endpoint          `json:"issuer"`
	Intermediaries []Endpoint        `json:"intermediaries"`
	// Router is the credential of the router of a sharded network whose
	// groups run as their own processes (`specie serve router`, router.go):
	// the groups take the steps of cross-group transactions from it alone.
	// Its URL is unused: the router serves the ledger API at Ledger.URL.
	// Nil in a config written before it; such a network has no router.
	Router *Endpoint `json:"router,omitempty"`
	// HSM, when set, keeps the officer keys and the redeem key on a
	// PKCS#11 token (hsm.go) instead of OfficerKeyFiles and RedeemKeyFile.
	HSM *HSMConfig `json:"hsm,omitempty"`
	// TLS, when set, is the network's mutual TLS for `specie serve`.
	TLS *TLSConfig `json:"tls,omitempty"`
	// ISO20022 holds the BICs of the ISO 20022 gateway (iso20022.go);
	// nil in a config written before it, which ISO() fills in.
	ISO20022 *ISO20022 `json:"iso20022,omitempty"`

	dir string // the folder the config was loaded from
}

// Endpoint is one role's address and credential.
type Endpoint struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	Token string `json:"token,omitempty"`
}

// InitOptions chooses a new network's shape.
type InitOptions struct {
	NetworkID      string
	Currency       money.Currency
	Intermediaries []string
	Reserve        uint64 // opening reserve of each intermediary, minor units
	Shards         int
	// URLs per role; empty means all roles on SingleURL.
	SingleURL string
	RoleURLs  map[string]string // "ledger", "issuer", or an intermediary name
	// HSMModule, when set, generates the officer keys and the redeem key
	// on a new SoftHSM2 token under the data directory, through this
	// PKCS#11 module, instead of writing them to files (hsm.go).
	HSMModule string
}

// DefaultInit is the devnet `specie up` creates: USD, bank-a and bank-b
// with 5,000,000.00 of reserves each, 2-of-3 mint approval.
func DefaultInit(url string) InitOptions {
	return InitOptions{
		NetworkID:      "specie-devnet",
		Currency:       money.Currency{Code: "USD", Exponent: 2},
		Intermediaries: []string{"bank-a", "bank-b"},
		Reserve:        5_000_000_00,
		Shards:         16,
		SingleURL:      url,
	}
}

// LoadOrInit loads dir's config, or creates a new network there.
func LoadOrInit(dir string, o InitOptions) (*Config, bool, error) {
	c, err := Load(filepath.Join(dir, ConfigFile))
	if err == nil {
		return c, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	c, err = Init(dir, o)
	return c, true, err
}

// Load reads a config file. Relative key paths are relative to its folder.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load devnet config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("load devnet config %s: %w", path, err)
	}
	base := filepath.Dir(path)
	for i, f := range c.OfficerKeyFiles {
		if !filepath.IsAbs(f) {
			c.OfficerKeyFiles[i] = filepath.Join(base, f)
		}
	}
	if c.RedeemKeyFile != "" && !filepath.IsAbs(c.RedeemKeyFile) {
		c.RedeemKeyFile = filepath.Join(base, c.RedeemKeyFile)
	}
	c.TLS.resolve(base)
	c.dir = base
	if c.PseudonymSaltFile != "" && !filepath.IsAbs(c.PseudonymSaltFile) {
		c.PseudonymSaltFile = filepath.Join(base, c.PseudonymSaltFile)
	}
	if c.HSM != nil {
		c.HSM.resolve(base)
	}
	return &c, nil
}

// Init creates a new network in dir: keys under dir/keys, config in
// dir/devnet.json. It refuses to overwrite an existing config.
func Init(dir string, o InitOptions) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("init devnet: %s already exists", path)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, fmt.Errorf("init devnet: %w", err)
	}
	url := func(role string) string {
		if u, ok := o.RoleURLs[role]; ok {
			return u
		}
		return o.SingleURL
	}
	c := &Config{
		Network:    money.Network{ID: o.NetworkID, Currency: o.Currency},
		MintQuorum: 2,
		Shards:     o.Shards,
		Reserves:   map[string]uint64{},
		Ledger:     Endpoint{Name: "ledger", URL: url("ledger")},
		Issuer:     Endpoint{Name: "issuer", URL: url("issuer"), Token: token()},
		Router:     &Endpoint{Name: RouterName, Token: token()},
	}
	if err := c.Network.Validate(); err != nil {
		return nil, fmt.Errorf("init devnet: %w", err)
	}
	if o.HSMModule != "" {
		if err := initHSMKeys(dir, o, c); err != nil {
			return nil, fmt.Errorf("init devnet: %w", err)
		}
	}
	for i := 1; i <= 3 && c.HSM == nil; i++ {
		k, err := crypto.GenerateKey()
		if err != nil {
			return nil, err
		}
		f := fmt.Sprintf("keys/officer-%d.key", i)
		if err := crypto.SaveKey(filepath.Join(dir, f), k); err != nil {
			return nil, err
		}
		c.MintKeys = append(c.MintKeys, k.Public())
		c.OfficerKeyFiles = append(c.OfficerKeyFiles, f)
	}
	if c.HSM == nil {
		rk, err := crypto.GenerateKey()
		if err != nil {
			return nil, err
		}
		c.RedeemKeyFile = "keys/issuer-redeem.key"
		if err := crypto.SaveKey(filepath.Join(dir, c.RedeemKeyFile), rk); err != nil {
			return nil, err
		}
		c.RedeemKeys = []crypto.PublicKey{rk.Public()}
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	c.PseudonymSaltFile = "keys/intermediaries-pseudonym.salt"
	if err := os.WriteFile(filepath.Join(dir, c.PseudonymSaltFile), []byte(hex.EncodeToString(salt)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("init devnet: %w", err)
	}
	for _, name := range o.Intermediaries {
		c.Intermediaries = append(c.Intermediaries, Endpoint{Name: name, URL: url(name), Token: token()})
		c.Reserves[name] = o.Reserve
	}
	iso := c.ISO()
	c.ISO20022 = &iso
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("init devnet: %w", err)
	}
	return Load(path)
}

func token() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// Principals maps every credential in the config to who holds it.
func (c *Config) Principals() map[string]roles.Principal {
	m := map[string]roles.Principal{c.Issuer.Token: {Name: "issuer", Role: roles.RoleIssuer}}
	for _, e := range c.Intermediaries {
		m[e.Token] = roles.Principal{Name: e.Name, Role: roles.RoleIntermediary}
	}
	if c.Router != nil && c.Router.Token != "" {
		m[c.Router.Token] = roles.Principal{Name: RouterName, Role: roles.RoleRouter}
	}
	return m
}

// Token returns the credential of the named principal ("issuer", "bank-a").
func (c *Config) Token(name string) (string, bool) {
	if name == "issuer" {
		return c.Issuer.Token, true
	}
	if name == RouterName && c.Router != nil {
		return c.Router.Token, true
	}
	for _, e := range c.Intermediaries {
		if e.Name == name {
			return e.Token, true
		}
	}
	return "", false
}

// Endpoint returns the named intermediary's endpoint.
func (c *Config) Intermediary(name string) (Endpoint, bool) {
	for _, e := range c.Intermediaries {
		if e.Name == name {
			return e, true
		}
	}
	return Endpoint{}, false
}
