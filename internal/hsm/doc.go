// Package hsm keeps Ed25519 authority keys (issuer officers, the issuer's
// redeem key, an intermediary's treasury) inside a hardware security module
// and signs with them through PKCS#11, so that the private keys that create
// and destroy money never sit in a file or in this process's memory.
//
// It is built on github.com/miekg/pkcs11, the maintained low-level Go
// binding of the PKCS#11 API. ThalesGroup/crypto11, the higher-level
// binding, offers RSA, ECDSA and DSA keys only (no CKK_EC_EDWARDS /
// CKM_EDDSA), so it cannot hold Ed25519 keys; miekg/pkcs11 passes any
// mechanism through, and this package adds the three PKCS#11 3.0 constants
// Ed25519 needs (CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA).
//
// Tests and `specie up --hsm` use SoftHSM2 (Debian package softhsm2,
// module /usr/lib/softhsm/libsofthsm2.so). The module is loaded with
// dlopen only when a token is opened, so a build without it, or with cgo
// disabled (see nocgo.go), works and reports ErrUnavailable on use.
//
// A key is a pair of token objects with the same CKA_LABEL and CKA_ID:
// the private key is generated on the token with CKA_SENSITIVE true and
// CKA_EXTRACTABLE false, so the token refuses to reveal CKA_VALUE; only
// the public half (CKA_EC_POINT) is read out.
package hsm

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/specie/specie/crypto"
)

// DefaultModule is where Debian's softhsm2 package installs its PKCS#11
// module.
const DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

// Config says which token to open and how.
type Config struct {
	// Module is the PKCS#11 library's path; empty means DefaultModule.
	Module string
	// Token is the label of the token holding the keys.
	Token string
	// PIN is the token's user PIN.
	PIN string
	// SoftHSMConf, when set, is the softhsm2.conf the module reads (the
	// SOFTHSM2_CONF environment variable, set before the module is first
	// initialised in this process), so a devnet keeps its token in its
	// own data directory. A process can use one such file at a time.
	SoftHSMConf string
}

func (c Config) module() string {
	if c.Module == "" {
		return DefaultModule
	}
	return c.Module
}

// Errors a caller can tell apart (errors.Is): each is wrapped with the
// module, token or key it is about.
var (
	// ErrUnavailable: the PKCS#11 module cannot be loaded (not installed,
	// wrong path, or this binary was built without cgo).
	ErrUnavailable = errors.New("hsm: PKCS#11 module unavailable")
	// ErrNoToken: no initialised token has the label asked for.
	ErrNoToken = errors.New("hsm: no such token")
	// ErrBadPIN: the token refused the PIN.
	ErrBadPIN = errors.New("hsm: wrong PIN")
	// ErrNoKey: the token holds no key pair with the label asked for.
	ErrNoKey = errors.New("hsm: no such key")
	// ErrKeyExists: a key pair with that label is already on the token.
	ErrKeyExists = errors.New("hsm: key label already in use")
)

// KeyInfo describes a key pair on a token, as `specie issuer keys list`
// shows it: its label, its public key, and what the token says about the
// private half's protection.
type KeyInfo struct {
	Label  string           `json:"label"`
	Public crypto.PublicKey `json:"public_key"`
	// Sensitive and Extractable are the private key's CKA_SENSITIVE and
	// CKA_EXTRACTABLE: a key that never leaves the token is sensitive and
	// not extractable.
	Sensitive   bool `json:"sensitive"`
	Extractable bool `json:"extractable"`
	// NeverExtractable is CKA_NEVER_EXTRACTABLE: the key was generated on
	// the token and has never been extractable since.
	NeverExtractable bool `json:"never_extractable"`
}

// ed25519Params is CKA_EC_PARAMS for Ed25519: the DER encoding of its
// object identifier 1.3.101.112 (RFC 8410).
var ed25519Params = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}

// ParseECPoint reads an Ed25519 public key from a token's CKA_EC_POINT:
// PKCS#11 3.0 says a DER OCTET STRING holding the 32-byte point, and some
// modules return the 32 bytes bare; both are accepted, nothing else is.
// These are bytes from outside this process, so it never panics.
func ParseECPoint(b []byte) (crypto.PublicKey, error) {
	var k crypto.PublicKey
	if len(b) == len(k) {
		copy(k[:], b)
		return k, nil
	}
	var inner []byte
	rest, err := asn1.Unmarshal(b, &inner)
	if err != nil {
		return k, fmt.Errorf("hsm: CKA_EC_POINT: %w", err)
	}
	if len(rest) != 0 {
		return k, fmt.Errorf("hsm: CKA_EC_POINT: %d trailing bytes", len(rest))
	}
	if len(inner) != len(k) {
		return k, fmt.Errorf("hsm: CKA_EC_POINT: %d-byte point, want %d", len(inner), len(k))
	}
	copy(k[:], inner)
	return k, nil
}

// sortKeys orders key listings by label, so they read the same every time.
func sortKeys(ks []KeyInfo) {
	slices.SortFunc(ks, func(a, b KeyInfo) int { return strings.Compare(a.Label, b.Label) })
}
