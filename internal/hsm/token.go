//go:build cgo

package hsm

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
	"github.com/specie/specie/crypto"
)

// PKCS#11 3.0 constants for Ed25519 that miekg/pkcs11 v1.1 predates.
const (
	ckkECEdwards           = 0x00000040 // CKK_EC_EDWARDS
	ckmECEdwardsKeyPairGen = 0x00001055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA               = 0x00001057 // CKM_EDDSA
)

// sessions is how many sessions a Token keeps open for signing: one
// session runs one operation at a time, so this many signatures can be in
// flight at once.
const sessions = 4

// Supported reports whether this binary can load PKCS#11 modules (it was
// built with cgo).
const Supported = true

// module is one loaded PKCS#11 library, shared by every Token on it in
// this process: C_Initialize may run once per process, and logging in is
// per application and slot, so logins are counted too.
type module struct {
	ctx    *pkcs11.Ctx
	path   string
	conf   string
	refs   int
	logins map[uint]*login // slot -> the login open Tokens share
}

// login is one slot's login, shared by the Tokens open on it.
type login struct {
	n   int      // Tokens open on the slot
	pin [32]byte // SHA-256 of the PIN that logged in
}

var (
	modMu   sync.Mutex
	modules = map[string]*module{}
)

// load returns the initialised module at c's path, loading it at first use.
func load(c Config) (*module, error) {
	modMu.Lock()
	defer modMu.Unlock()
	path := c.module()
	if m := modules[path]; m != nil {
		if c.SoftHSMConf != "" && c.SoftHSMConf != m.conf {
			return nil, fmt.Errorf("hsm: module %s is already in use in this process with SOFTHSM2_CONF=%q, not %q", path, m.conf, c.SoftHSMConf)
		}
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s: %v (install softhsm2, or give the module's path)", ErrUnavailable, path, err)
	}
	conf := os.Getenv("SOFTHSM2_CONF")
	if c.SoftHSMConf != "" {
		conf = c.SoftHSMConf
		if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
			return nil, fmt.Errorf("hsm: set SOFTHSM2_CONF: %w", err)
		}
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("%w: %s could not be loaded as a PKCS#11 module", ErrUnavailable, path)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		hint := ""
		if conf != "" {
			// SoftHSM2 fails C_Initialize when its configuration or its
			// token directory is missing or unreadable.
			hint = fmt.Sprintf(" (check the configuration SOFTHSM2_CONF=%s and the token directory it names)", conf)
		}
		return nil, fmt.Errorf("%w: initialise %s: %v%s", ErrUnavailable, path, err, hint)
	}
	m := &module{ctx: ctx, path: path, conf: conf, refs: 1, logins: map[uint]*login{}}
	modules[path] = m
	return m, nil
}

// release drops one reference, finalising and unloading the module with
// the last, so that a later load reads a new SOFTHSM2_CONF.
func (m *module) release() {
	modMu.Lock()
	defer modMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules, m.path)
	m.ctx.Finalize()
	m.ctx.Destroy()
}

// findSlot is the slot of the initialised token labelled label.
func (m *module) findSlot(label string) (uint, error) {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("hsm: list slots of %s: %w", m.path, err)
	}
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 && strings.TrimRight(ti.Label, " \x00") == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: no initialised token labelled %q in %s", ErrNoToken, label, m.path)
}

// InitToken initialises a new token labelled c.Token in a free slot, with
// security officer PIN soPIN and user PIN c.PIN. SoftHSM2 always offers one
// uninitialised slot; a hardware module is initialised with its own tools.
func InitToken(c Config, soPIN string) error {
	if c.Token == "" || c.PIN == "" || soPIN == "" {
		return errors.New("hsm: init token: a label, a user PIN and an SO PIN are needed")
	}
	m, err := load(c)
	if err != nil {
		return err
	}
	defer m.release()
	if _, err := m.findSlot(c.Token); err == nil {
		return fmt.Errorf("hsm: init token: a token labelled %q already exists", c.Token)
	}
	slots, err := m.ctx.GetSlotList(false)
	if err != nil {
		return fmt.Errorf("hsm: init token: list slots: %w", err)
	}
	slot, found := uint(0), false
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			slot, found = s, true
			break
		}
	}
	if !found {
		return fmt.Errorf("hsm: init token %q: no free slot in %s", c.Token, m.path)
	}
	if err := m.ctx.InitToken(slot, soPIN, c.Token); err != nil {
		return fmt.Errorf("hsm: init token %q: %w", c.Token, err)
	}
	// SoftHSM2 moves a freshly initialised token to a new slot ID.
	if slot, err = m.findSlot(c.Token); err != nil {
		return err
	}
	sh, err := m.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("hsm: init token %q: open session: %w", c.Token, err)
	}
	defer m.ctx.CloseSession(sh)
	if err := m.ctx.Login(sh, pkcs11.CKU_SO, soPIN); err != nil {
		return fmt.Errorf("hsm: init token %q: log in as SO: %w", c.Token, err)
	}
	defer m.ctx.Logout(sh)
	if err := m.ctx.InitPIN(sh, c.PIN); err != nil {
		return fmt.Errorf("hsm: init token %q: set user PIN: %w", c.Token, err)
	}
	return nil
}

// Token is an open, logged-in token. It is safe for concurrent use: it
// holds a few sessions and lends one to each operation.
type Token struct {
	m     *module
	label string
	slot  uint
	pool  chan pkcs11.SessionHandle
	all   []pkcs11.SessionHandle

	mu     sync.Mutex
	closed bool
}

// Open opens and logs in to the token c.Token with c.PIN.
func Open(c Config) (*Token, error) {
	m, err := load(c)
	if err != nil {
		return nil, err
	}
	t, err := open(m, c)
	if err != nil {
		m.release()
		return nil, err
	}
	return t, nil
}

func open(m *module, c Config) (*Token, error) {
	slot, err := m.findSlot(c.Token)
	if err != nil {
		return nil, err
	}
	t := &Token{m: m, label: c.Token, slot: slot, pool: make(chan pkcs11.SessionHandle, sessions)}
	for range sessions {
		sh, err := m.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.closeSessions()
			return nil, fmt.Errorf("hsm: token %q: open session: %w", c.Token, err)
		}
		t.all = append(t.all, sh)
		t.pool <- sh
	}
	modMu.Lock()
	defer modMu.Unlock()
	pinHash := sha256.Sum256([]byte(c.PIN))
	err = m.ctx.Login(t.all[0], pkcs11.CKU_USER, c.PIN)
	var pe pkcs11.Error
	switch {
	case err == nil:
	case errors.As(err, &pe) && pe == pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		// Another Token in this process is logged in to the slot, and
		// the login is shared; PKCS#11 cannot check a PIN without
		// logging that one out, so this PIN is checked against the one
		// that logged in.
		l := m.logins[slot]
		if l == nil || subtle.ConstantTimeCompare(l.pin[:], pinHash[:]) != 1 {
			t.closeSessions()
			return nil, fmt.Errorf("%w for token %q", ErrBadPIN, c.Token)
		}
	case errors.As(err, &pe) && (pe == pkcs11.CKR_PIN_INCORRECT || pe == pkcs11.CKR_PIN_LEN_RANGE || pe == pkcs11.CKR_PIN_INVALID):
		t.closeSessions()
		return nil, fmt.Errorf("%w for token %q", ErrBadPIN, c.Token)
	case errors.As(err, &pe) && pe == pkcs11.CKR_PIN_LOCKED:
		t.closeSessions()
		return nil, fmt.Errorf("%w for token %q: the PIN is locked after too many wrong tries", ErrBadPIN, c.Token)
	default:
		t.closeSessions()
		return nil, fmt.Errorf("hsm: log in to token %q: %w", c.Token, err)
	}
	if m.logins[slot] == nil {
		m.logins[slot] = &login{pin: pinHash}
	}
	m.logins[slot].n++
	return t, nil
}

func (t *Token) closeSessions() {
	for _, sh := range t.all {
		t.m.ctx.CloseSession(sh)
	}
	t.all = nil
}

// Label is the token's label.
func (t *Token) Label() string { return t.label }

// Close logs out (when no other Token in the process uses the slot),
// closes the sessions and releases the module. Keys from the token stop
// signing.
func (t *Token) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	// Wait for every lent session to come back, so no signature is cut
	// off half-way.
	for range t.all {
		<-t.pool
	}
	modMu.Lock()
	t.m.logins[t.slot].n--
	if t.m.logins[t.slot].n == 0 {
		delete(t.m.logins, t.slot)
		t.m.ctx.Logout(t.all[0])
	}
	modMu.Unlock()
	t.closeSessions()
	t.m.release()
	return nil
}

var errClosed = errors.New("hsm: token is closed")

// session lends a session; give it back with put.
func (t *Token) session() (pkcs11.SessionHandle, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("%w: %q", errClosed, t.label)
	}
	return <-t.pool, nil
}

func (t *Token) put(sh pkcs11.SessionHandle) { t.pool <- sh }

// Key is a key pair on a token, used by handle. It implements
// crypto.Signer: the signature is made by the token.
type Key struct {
	t     *Token
	label string
	priv  pkcs11.ObjectHandle
	pub   crypto.PublicKey
}

var _ crypto.Signer = (*Key)(nil)

// Label is the key's CKA_LABEL on the token.
func (k *Key) Label() string { return k.label }

// Public is the key's public half, read from the token when opened.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// TrySign signs crypto.Message(d, network, hash) with CKM_EDDSA (pure
// Ed25519) on the token. The result verifies with crypto.Verify exactly as
// an in-memory key's does.
func (k *Key) TrySign(d crypto.Domain, network string, hash [32]byte) ([64]byte, error) {
	var sig [64]byte
	sh, err := k.t.session()
	if err != nil {
		return sig, err
	}
	defer k.t.put(sh)
	ctx := k.t.m.ctx
	if err := ctx.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, k.priv); err != nil {
		return sig, fmt.Errorf("hsm: sign with %q on token %q: %w", k.label, k.t.label, err)
	}
	out, err := ctx.Sign(sh, crypto.Message(d, network, hash))
	if err != nil {
		return sig, fmt.Errorf("hsm: sign with %q on token %q: %w", k.label, k.t.label, err)
	}
	if len(out) != len(sig) {
		return sig, fmt.Errorf("hsm: sign with %q on token %q: %d-byte signature, want %d", k.label, k.t.label, len(out), len(sig))
	}
	copy(sig[:], out)
	return sig, nil
}

// find returns the handles of objects of class class, labelled label when
// label is not empty.
func (t *Token) find(sh pkcs11.SessionHandle, class uint, label string) ([]pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
	}
	if label != "" {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label))
	}
	ctx := t.m.ctx
	if err := ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, fmt.Errorf("hsm: search token %q: %w", t.label, err)
	}
	var out []pkcs11.ObjectHandle
	for {
		hs, _, err := ctx.FindObjects(sh, 64)
		if err != nil {
			ctx.FindObjectsFinal(sh)
			return nil, fmt.Errorf("hsm: search token %q: %w", t.label, err)
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	if err := ctx.FindObjectsFinal(sh); err != nil {
		return nil, fmt.Errorf("hsm: search token %q: %w", t.label, err)
	}
	return out, nil
}

// Key opens the key pair labelled label.
func (t *Token) Key(label string) (*Key, error) {
	sh, err := t.session()
	if err != nil {
		return nil, err
	}
	defer t.put(sh)
	return t.key(sh, label)
}

func (t *Token) key(sh pkcs11.SessionHandle, label string) (*Key, error) {
	privs, err := t.find(sh, pkcs11.CKO_PRIVATE_KEY, label)
	if err != nil {
		return nil, err
	}
	pubs, err := t.find(sh, pkcs11.CKO_PUBLIC_KEY, label)
	if err != nil {
		return nil, err
	}
	if len(privs) == 0 || len(pubs) == 0 {
		return nil, fmt.Errorf("%w: no Ed25519 key pair labelled %q on token %q", ErrNoKey, label, t.label)
	}
	if len(privs) > 1 || len(pubs) > 1 {
		return nil, fmt.Errorf("hsm: token %q holds %d private and %d public keys labelled %q; labels must be unique", t.label, len(privs), len(pubs), label)
	}
	attrs, err := t.m.ctx.GetAttributeValue(sh, pubs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, fmt.Errorf("hsm: read public key %q on token %q: %w", label, t.label, err)
	}
	pub, err := ParseECPoint(attrs[0].Value)
	if err != nil {
		return nil, fmt.Errorf("key %q on token %q: %w", label, t.label, err)
	}
	return &Key{t: t, label: label, priv: privs[0], pub: pub}, nil
}

// Generate makes a new Ed25519 key pair labelled label on the token. The
// private key is created inside the token, sensitive and not extractable,
// and stays there.
func (t *Token) Generate(label string) (*Key, error) {
	if label == "" {
		return nil, errors.New("hsm: generate: empty key label")
	}
	sh, err := t.session()
	if err != nil {
		return nil, err
	}
	defer t.put(sh)
	if _, err := t.key(sh, label); err == nil {
		return nil, fmt.Errorf("%w: %q on token %q", ErrKeyExists, label, t.label)
	} else if !errors.Is(err, ErrNoKey) {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("hsm: generate: %w", err)
	}
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ed25519Params),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	privT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}
	if _, _, err := t.m.ctx.GenerateKeyPair(sh, mech, pubT, privT); err != nil {
		return nil, fmt.Errorf("hsm: generate Ed25519 key %q on token %q: %w", label, t.label, err)
	}
	return t.key(sh, label)
}

// Keys lists the token's Ed25519 key pairs, by label.
func (t *Token) Keys() ([]KeyInfo, error) {
	sh, err := t.session()
	if err != nil {
		return nil, err
	}
	defer t.put(sh)
	privs, err := t.find(sh, pkcs11.CKO_PRIVATE_KEY, "")
	if err != nil {
		return nil, err
	}
	var out []KeyInfo
	for _, h := range privs {
		attrs, err := t.m.ctx.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
			pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("hsm: read key attributes on token %q: %w", t.label, err)
		}
		label := string(attrs[0].Value)
		k, err := t.key(sh, label)
		if err != nil {
			return nil, err
		}
		out = append(out, KeyInfo{Label: label, Public: k.pub, Sensitive: isTrue(attrs[1].Value), Extractable: isTrue(attrs[2].Value), NeverExtractable: isTrue(attrs[3].Value)})
	}
	sortKeys(out)
	return out, nil
}

func isTrue(b []byte) bool { return len(b) == 1 && b[0] != 0 }
