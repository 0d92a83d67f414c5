package money

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Domain tags keep hashes made for one purpose from ever equalling hashes
// made for another.
const (
	tagTxID   = "specie/txid/v1\x00"
	tagNoteID = "specie/note/v1\x00"
)

// Hash is a SHA-256 digest.
type Hash [32]byte

// TxID identifies a transaction: the hash of its canonical encoding without
// signatures, bound to the network.
type TxID = Hash

// NoteID identifies a note: the hash of where it was created and what it
// holds, bound to the network. The ledger stores nothing else of a note.
type NoteID = Hash

// String renders the hash as lower-case hex, the form used in the API.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText lets hashes appear as hex strings in JSON.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads a 64-digit hex string.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash reads a 64-digit hex string.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("hash %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %q: %w", s, err)
	}
	return h, nil
}

// LockEd25519 locks a note to one Ed25519 key, which alone may spend it.
// LockEscrow (escrow.go) is the other kind.
const LockEd25519 uint8 = 1

// Lock says who may spend a note: for LockEd25519 Key is the public key,
// for LockEscrow the hash of the escrow's terms.
type Lock struct {
	Kind uint8
	Key  [32]byte
}

// KeyLock locks a note to one Ed25519 public key.
func KeyLock(pub [32]byte) Lock { return Lock{Kind: LockEd25519, Key: pub} }

// String renders the lock as "ed25519:<hex>" (or "escrow:<hex>").
func (l Lock) String() string {
	if l.Kind == LockEscrow {
		return "escrow:" + hex.EncodeToString(l.Key[:])
	}
	return "ed25519:" + hex.EncodeToString(l.Key[:])
}

// Output is a note as a transaction creates it: a value and a lock.
type Output struct {
	Value uint64
	Lock  Lock
}

// Note is an unspent output named by where it was created. A spender
// presents it in full; the ledger recomputes its ID.
type Note struct {
	TxID  TxID
	Index uint32
	Output
}

// Network binds IDs and signatures to one network and says its currency.
// Nothing made for one network is valid on another.
type Network struct {
	ID       string
	Currency Currency
}

// MaxNetworkID bounds the network identifier's length in bytes.
const MaxNetworkID = 64

// Validate rejects network settings that cannot be encoded.
func (n Network) Validate() error {
	if n.ID == "" || len(n.ID) > MaxNetworkID {
		return fmt.Errorf("network id %q: want 1 to %d bytes", n.ID, MaxNetworkID)
	}
	if len(n.Currency.Code) != 3 {
		return fmt.Errorf("currency %q: want a 3-letter ISO 4217 code", n.Currency.Code)
	}
	if n.Currency.Exponent > 8 {
		return fmt.Errorf("currency exponent %d: at most 8", n.Currency.Exponent)
	}
	return nil
}

// NoteID computes the ID of note n on this network.
func (n Network) NoteID(note *Note) NoteID {
	var buf [len(tagNoteID) + 1 + MaxNetworkID + 32 + 4 + 8 + 33]byte
	b := append(buf[:0], tagNoteID...)
	b = append(b, byte(len(n.ID)))
	b = append(b, n.ID...)
	b = append(b, note.TxID[:]...)
	b = binary.BigEndian.AppendUint32(b, note.Index)
	b = binary.BigEndian.AppendUint64(b, note.Value)
	b = append(b, note.Lock.Kind)
	b = append(b, note.Lock.Key[:]...)
	return sha256.Sum256(b)
}
