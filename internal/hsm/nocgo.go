//go:build !cgo

package hsm

import (
	"fmt"

	"github.com/specie/specie/crypto"
)

// This binary was built without cgo: PKCS#11 modules cannot be loaded, and
// every entry point reports ErrUnavailable. The build and every feature
// not asking for an HSM still work.

// Supported reports whether this binary can load PKCS#11 modules (it was
// built with cgo).
const Supported = false

var errNoCgo = fmt.Errorf("%w: this specie was built without cgo (CGO_ENABLED=0)", ErrUnavailable)

// InitToken reports ErrUnavailable without cgo.
func InitToken(c Config, soPIN string) error { return errNoCgo }

// Token is an open token; without cgo none can be opened.
type Token struct{}

// Open reports ErrUnavailable without cgo.
func Open(c Config) (*Token, error) { return nil, errNoCgo }

// Label is the token's label.
func (t *Token) Label() string { return "" }

// Close does nothing without cgo.
func (t *Token) Close() error { return nil }

// Key reports ErrUnavailable without cgo.
func (t *Token) Key(label string) (*Key, error) { return nil, errNoCgo }

// Generate reports ErrUnavailable without cgo.
func (t *Token) Generate(label string) (*Key, error) { return nil, errNoCgo }

// Keys reports ErrUnavailable without cgo.
func (t *Token) Keys() ([]KeyInfo, error) { return nil, errNoCgo }

// Key is a key pair on a token; without cgo none can be opened.
type Key struct{}

// Label is the key's label.
func (k *Key) Label() string { return "" }

// Public is the key's public half.
func (k *Key) Public() crypto.PublicKey { return crypto.PublicKey{} }

// TrySign reports ErrUnavailable without cgo.
func (k *Key) TrySign(d crypto.Domain, network string, hash [32]byte) ([64]byte, error) {
	return [64]byte{}, errNoCgo
}
