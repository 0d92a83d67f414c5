package devnet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/hsm"
	"github.com/specie/specie/internal/intermediary"
)

// HSMConfig says where a devnet made with `specie up --hsm` keeps its
// authority keys: on a PKCS#11 token (SoftHSM2 by default), by label. Only
// the user PIN is in a file, under keys/ beside the other devnet secrets;
// the private keys exist nowhere but inside the token.
type HSMConfig struct {
	// Module is the PKCS#11 library.
	Module string `json:"module"`
	// Token is the token's label.
	Token string `json:"token"`
	// PINFile holds the token's user PIN.
	PINFile string `json:"pin_file"`
	// SoftHSMConf is the softhsm2.conf of the devnet's own token store
	// (under hsm/ in the data directory); empty for another module.
	SoftHSMConf string `json:"softhsm_conf,omitempty"`
	// OfficerKeys are the labels of officer 1, 2, ... keys, in the order
	// of the config's MintKeys.
	OfficerKeys []string `json:"officer_keys"`
	// RedeemKey is the label of the issuer's redeem key.
	RedeemKey string `json:"redeem_key"`
	// Treasuries are the labels of the intermediaries' treasury keys, by
	// intermediary, each on its intermediary's own token
	// (TreasuryTokens): the central bank's officers and the banks do not
	// share a device. A config written before TreasuryTokens keeps them on
	// the issuer's token.
	Treasuries map[string]string `json:"treasuries,omitempty"`
	// TreasuryTokens are the intermediaries' tokens, by intermediary: in
	// the same PKCS#11 module (and SoftHSM2 store) as the issuer's, each
	// with a label and a user PIN of its own.
	TreasuryTokens map[string]TokenRef `json:"treasury_tokens,omitempty"`
}

// TokenRef names one token of the module and the file holding its user
// PIN.
type TokenRef struct {
	Token   string `json:"token"`
	PINFile string `json:"pin_file"`
}

// hsmToken is one token of a config, opened once per process and shared
// by every role using it (the issuer's redeem key, officer signatures; an
// intermediary's treasury key).
type hsmToken struct {
	mu  sync.Mutex
	tok *hsm.Token
}

// tokenKey names an open token: its config and its label.
type tokenKey struct {
	c     *Config
	label string
}

var tokens sync.Map // tokenKey -> *hsmToken

// resolve makes h's paths absolute against the config's folder.
func (h *HSMConfig) resolve(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&h.PINFile)
	abs(&h.SoftHSMConf)
	for name, t := range h.TreasuryTokens {
		abs(&t.PINFile)
		h.TreasuryTokens[name] = t
	}
}

// hsmConfig is how to open token ref of the module.
func (h *HSMConfig) hsmConfig(ref TokenRef) (hsm.Config, error) {
	b, err := os.ReadFile(ref.PINFile)
	if err != nil {
		return hsm.Config{}, fmt.Errorf("hsm PIN of token %q: %w", ref.Token, err)
	}
	return hsm.Config{Module: h.Module, Token: ref.Token, PIN: strings.TrimSpace(string(b)), SoftHSMConf: h.SoftHSMConf}, nil
}

// HSMToken opens the config's HSM token, the issuer's (once per process;
// CloseHSM closes it). It is an error when the config keeps its keys in
// files.
func (c *Config) HSMToken() (*hsm.Token, error) {
	if c.HSM == nil {
		return nil, errors.New("this devnet keeps its keys in files, not on an HSM (create it with 'specie up --hsm')")
	}
	return c.openToken(TokenRef{Token: c.HSM.Token, PINFile: c.HSM.PINFile})
}

// TreasuryToken opens the token holding intermediary name's treasury key:
// its own, or the issuer's in a config written before intermediaries had
// tokens of their own.
func (c *Config) TreasuryToken(name string) (*hsm.Token, error) {
	if c.HSM == nil {
		return nil, errors.New("this devnet keeps its keys in files, not on an HSM (create it with 'specie up --hsm')")
	}
	if ref, ok := c.HSM.TreasuryTokens[name]; ok {
		return c.openToken(ref)
	}
	return c.HSMToken()
}

// openToken opens token ref once per process.
func (c *Config) openToken(ref TokenRef) (*hsm.Token, error) {
	v, _ := tokens.LoadOrStore(tokenKey{c, ref.Token}, &hsmToken{})
	ht := v.(*hsmToken)
	ht.mu.Lock()
	defer ht.mu.Unlock()
	if ht.tok != nil {
		return ht.tok, nil
	}
	hc, err := c.HSM.hsmConfig(ref)
	if err != nil {
		return nil, err
	}
	if ht.tok, err = hsm.Open(hc); err != nil {
		return nil, err
	}
	return ht.tok, nil
}

// CloseHSM closes the config's tokens this process opened.
func (c *Config) CloseHSM() error {
	var errs []error
	tokens.Range(func(k, v any) bool {
		if k.(tokenKey).c != c {
			return true
		}
		tokens.Delete(k)
		ht := v.(*hsmToken)
		ht.mu.Lock()
		defer ht.mu.Unlock()
		if ht.tok != nil {
			errs = append(errs, ht.tok.Close())
			ht.tok = nil
		}
		return true
	})
	return errors.Join(errs...)
}

// OfficerSigner is officer n's (1, 2, ...) signing key: from its key file,
// or on the devnet's HSM.
func (c *Config) OfficerSigner(n int) (crypto.Signer, error) {
	if c.HSM == nil {
		if n < 1 || n > len(c.OfficerKeyFiles) {
			return nil, fmt.Errorf("officer %d: the devnet has %d officers", n, len(c.OfficerKeyFiles))
		}
		return crypto.LoadKey(c.OfficerKeyFiles[n-1])
	}
	if n < 1 || n > len(c.HSM.OfficerKeys) {
		return nil, fmt.Errorf("officer %d: the devnet has %d officers", n, len(c.HSM.OfficerKeys))
	}
	tok, err := c.HSMToken()
	if err != nil {
		return nil, err
	}
	return tok.Key(c.HSM.OfficerKeys[n-1])
}

// Officers is how many officer keys the devnet has.
func (c *Config) Officers() int {
	if c.HSM != nil {
		return len(c.HSM.OfficerKeys)
	}
	return len(c.OfficerKeyFiles)
}

// RedeemSigner is the issuer's redeem key: from its file, or on the HSM.
func (c *Config) RedeemSigner() (crypto.Signer, error) {
	if c.HSM == nil {
		return crypto.LoadKey(c.RedeemKeyFile)
	}
	tok, err := c.HSMToken()
	if err != nil {
		return nil, err
	}
	return tok.Key(c.HSM.RedeemKey)
}

// hsmDir is where a devnet's SoftHSM2 token store lives.
const hsmDir = "hsm"

// initHSMKeys creates the devnet's tokens (in a SoftHSM2 store of its own
// under dir/hsm, through o.HSMModule): the issuer's, with the three officer
// keys and the redeem key, and one per intermediary with its treasury key,
// each token with a PIN of its own; it records their labels and public
// keys in c. No private key is written anywhere.
func initHSMKeys(dir string, o InitOptions, c *Config) error {
	module := o.HSMModule
	conf, err := hsm.WriteSoftHSMConf(filepath.Join(dir, hsmDir))
	if err != nil {
		return err
	}
	h := &HSMConfig{Module: module, Token: "specie-issuer", PINFile: "keys/hsm.pin", SoftHSMConf: filepath.Join(hsmDir, hsm.SoftHSMConfFile)}
	pin, so := randomPIN(), randomPIN()
	if err := os.WriteFile(filepath.Join(dir, h.PINFile), []byte(pin+"\n"), 0o600); err != nil {
		return fmt.Errorf("hsm PIN: %w", err)
	}
	hc := hsm.Config{Module: module, Token: h.Token, PIN: pin, SoftHSMConf: conf}
	// The SO PIN initialises the token and is then forgotten: the devnet
	// never needs it again.
	if err := hsm.InitToken(hc, so); err != nil {
		return err
	}
	tok, err := hsm.Open(hc)
	if err != nil {
		return err
	}
	defer tok.Close()
	for i := 1; i <= 3; i++ {
		label := fmt.Sprintf("officer-%d", i)
		k, err := tok.Generate(label)
		if err != nil {
			return err
		}
		c.MintKeys = append(c.MintKeys, k.Public())
		h.OfficerKeys = append(h.OfficerKeys, label)
	}
	rk, err := tok.Generate("issuer-redeem")
	if err != nil {
		return err
	}
	h.RedeemKey = "issuer-redeem"
	c.RedeemKeys = []crypto.PublicKey{rk.Public()}
	h.Treasuries, h.TreasuryTokens = map[string]string{}, map[string]TokenRef{}
	for _, name := range o.Intermediaries {
		ref := TokenRef{Token: "specie-" + name, PINFile: "keys/hsm-" + name + ".pin"}
		label := name + "-treasury"
		if err := initTreasuryToken(dir, hsm.Config{Module: module, Token: ref.Token, PIN: randomPIN(), SoftHSMConf: conf}, ref.PINFile, label); err != nil {
			return fmt.Errorf("intermediary %s: %w", name, err)
		}
		h.Treasuries[name], h.TreasuryTokens[name] = label, ref
	}
	c.HSM = h
	return nil
}

// initTreasuryToken initialises an intermediary's token hc (its PIN
// written to pinFile under dir, its SO PIN forgotten) and generates its
// treasury key, label, on it.
func initTreasuryToken(dir string, hc hsm.Config, pinFile, label string) error {
	if err := os.WriteFile(filepath.Join(dir, pinFile), []byte(hc.PIN+"\n"), 0o600); err != nil {
		return fmt.Errorf("hsm PIN: %w", err)
	}
	if err := hsm.InitToken(hc, randomPIN()); err != nil {
		return err
	}
	tok, err := hsm.Open(hc)
	if err != nil {
		return err
	}
	defer tok.Close()
	_, err = tok.Generate(label)
	return err
}

func randomPIN() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// PrepareHSM readies dir for `specie up --hsm`: on first start it creates
// the network with its officer keys and redeem key generated on a new
// token through module (DefaultInit otherwise); on later starts it checks
// the network was made that way. Up and UpReplicated then run it as usual.
// created reports a new network.
func PrepareHSM(dir, addr, module string) (created bool, err error) {
	if module == "" {
		module = hsm.DefaultModule
	}
	c, err := Load(filepath.Join(dir, ConfigFile))
	if err == nil {
		if c.HSM == nil {
			return false, fmt.Errorf("--hsm: the network in %s keeps its keys in files; it was made without --hsm", dir)
		}
		return false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("--hsm: %w", err)
	}
	o := DefaultInit("http://" + addr)
	o.HSMModule = module
	if _, err = Init(dir, o); err != nil {
		return false, err
	}
	return true, nil
}

// SetOfficerLabels records, in the config file at path, which token keys
// are officers 1, 2, ... now (after a key rotation came into force), so
// that `--officer N` signs with officer N's current key. Only that field
// of the file changes.
func SetOfficerLabels(path string, labels []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("update devnet config: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("update devnet config %s: %w", path, err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw["hsm"], &h); err != nil || h == nil {
		return fmt.Errorf("update devnet config %s: no hsm section", path)
	}
	if h["officer_keys"], err = json.Marshal(labels); err != nil {
		return err
	}
	if raw["hsm"], err = json.Marshal(h); err != nil {
		return err
	}
	out, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return fmt.Errorf("update devnet config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("update devnet config: %w", err)
	}
	return nil
}

// treasuryKey sets ic.TreasuryKey to intermediary name's treasury key on
// the HSM, when the devnet keeps it there.
func (c *Config) treasuryKey(name string, ic *intermediary.Config) error {
	if c.HSM == nil || c.HSM.Treasuries[name] == "" {
		return nil
	}
	tok, err := c.TreasuryToken(name)
	if err != nil {
		return fmt.Errorf("intermediary %s: %w", name, err)
	}
	k, err := tok.Key(c.HSM.Treasuries[name])
	if err != nil {
		return fmt.Errorf("intermediary %s: %w", name, err)
	}
	ic.TreasuryKey = k
	return nil
}
