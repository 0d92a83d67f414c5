// Package ledgertest builds signed transactions for a throwaway network:
// officer keys, a redeem key, and helpers to mint, transfer and redeem. Tests
// and the load generator use it; it holds real keys and makes real
// signatures, nothing is faked.
package ledgertest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	mrand "math/rand/v2"
	"slices"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/money"
)

// Net is a test network: 3 officers with a quorum of 2, and one redeem key.
type Net struct {
	Network   money.Network
	Officers  []*crypto.PrivateKey
	RedeemKey *crypto.PrivateKey
}

// New makes a network with fresh keys.
func New() *Net { return NewFromSeed(Nonce()) }

// NewFromSeed makes a network whose keys derive from seed, so two processes
// can share one.
func NewFromSeed(seed uint64) *Net {
	n := &Net{Network: money.Network{ID: "specie-test", Currency: money.Currency{Code: "USD", Exponent: 2}}}
	key := func(i byte) *crypto.PrivateKey {
		s := sha256.Sum256(binary.BigEndian.AppendUint64([]byte{i}, seed))
		k, err := crypto.KeyFromSeed(s[:])
		if err != nil {
			panic(err)
		}
		return k
	}
	for i := byte(0); i < 3; i++ {
		n.Officers = append(n.Officers, key(i))
	}
	n.RedeemKey = key(3)
	return n
}

// Config is a ledger configuration for this network, with the ledger's
// own defaults (what the load generator and benchmarks measure).
func (n *Net) Config() ledger.Config {
	c := ledger.Config{Network: n.Network, MintQuorum: 2, RedeemKeys: []crypto.PublicKey{n.RedeemKey.Public()}}
	for _, k := range n.Officers {
		c.MintKeys = append(c.MintKeys, k.Public())
	}
	return c
}

// TestConfig is Config with snapshots, snapshot copy slices and log
// segments a few thousand times smaller than the defaults, so that a test
// of a few hundred transactions snapshots shards, copies them across
// batches and drops log segments.
func (n *Net) TestConfig() ledger.Config {
	c := n.Config()
	c.SnapshotEvery, c.SnapshotSlice, c.LogSegmentBytes = 16<<10, 16<<10, 64<<10
	return c
}

// MustKey generates a key or panics (the system's randomness failing).
func MustKey() *crypto.PrivateKey {
	k, err := crypto.GenerateKey()
	if err != nil {
		panic(err)
	}
	return k
}

// KeyFrom draws a key from rng (a simulation's seeded generator), so that a
// seed decides every key and so every signature.
func KeyFrom(rng *mrand.Rand) *crypto.PrivateKey {
	var seed [32]byte
	for i := 0; i < len(seed); i += 8 {
		binary.BigEndian.PutUint64(seed[i:], rng.Uint64())
	}
	k, err := crypto.KeyFromSeed(seed[:])
	if err != nil {
		panic(err) // 32 bytes is always a seed
	}
	return k
}

// Nonce returns a random nonce.
func Nonce() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// Mint builds a mint of outs approved by the given officers (by index).
func (n *Net) Mint(officers []int, outs ...money.Output) *money.Tx {
	return n.MintNonce(Nonce(), officers, outs...)
}

// MintNonce is Mint with the nonce given: what a simulation uses, so that
// its seed decides every txid.
func (n *Net) MintNonce(nonce uint64, officers []int, outs ...money.Output) *money.Tx {
	tx := &money.Tx{Kind: money.Mint, Nonce: nonce, Outputs: outs}
	id := n.Network.TxID(tx)
	for _, i := range officers {
		k := n.Officers[i]
		tx.Auth = append(tx.Auth, money.KeySig{Key: k.Public(), Sig: k.Sign(crypto.Mint, n.Network.ID, id)})
	}
	SortAuth(tx)
	return tx
}

// SortAuth puts authority signatures in the canonical (ascending key) order.
func SortAuth(tx *money.Tx) {
	slices.SortFunc(tx.Auth, func(a, b money.KeySig) int { return slices.Compare(a.Key[:], b.Key[:]) })
}

// Spend builds a transfer (or, with kind Redeem, a redeem acknowledged by the
// redeem key) of inputs owned by keys, creating outs.
func (n *Net) Spend(kind money.Kind, inputs []money.Note, keys []*crypto.PrivateKey, outs ...money.Output) *money.Tx {
	tx := &money.Tx{Kind: kind, Inputs: inputs, Outputs: outs, InputSigs: make([]money.Sig, len(inputs))}
	SignSpend(n.Network, tx, keys)
	if kind == money.Redeem {
		id := n.Network.TxID(tx)
		tx.Auth = []money.KeySig{{Key: n.RedeemKey.Public(), Sig: n.RedeemKey.Sign(crypto.Redeem, n.Network.ID, id)}}
	}
	return tx
}

// SignSpend signs every input of tx with keys[i].
func SignSpend(net money.Network, tx *money.Tx, keys []*crypto.PrivateKey) {
	id := net.TxID(tx)
	if len(tx.InputSigs) != len(tx.Inputs) {
		tx.InputSigs = make([]money.Sig, len(tx.Inputs))
	}
	for i, k := range keys {
		tx.InputSigs[i] = k.Sign(crypto.Spend, net.ID, id)
	}
}

// To is an output of v to key k.
func To(k *crypto.PrivateKey, v uint64) money.Output {
	return money.Output{Value: v, Lock: money.KeyLock(k.Public())}
}

// Notes names the outputs of tx on this network.
func (n *Net) Notes(tx *money.Tx) []money.Note {
	return tx.OutputNotes(n.Network.TxID(tx))
}

// EscrowSpend spends held, an escrowed note with terms w, by path: first
// signs as the payer (InputSigs[0]) and, on the joint path, second as the
// payee (the witness's signature). A nil key leaves its signature zero.
func (n *Net) EscrowSpend(held money.Note, w money.Escrow, path uint8, first, second *crypto.PrivateKey, outs ...money.Output) *money.Tx {
	tx := &money.Tx{Kind: money.Transfer, Inputs: []money.Note{held}, Outputs: outs, InputSigs: make([]money.Sig, 1),
		Witnesses: []money.Witness{{Escrow: w, Path: path}}}
	id := n.Network.TxID(tx)
	if first != nil {
		tx.InputSigs[0] = first.Sign(crypto.Spend, n.Network.ID, id)
	}
	if path == money.PathJoint && second != nil {
		tx.Witnesses[0].PayeeSig = second.Sign(crypto.Spend, n.Network.ID, id)
	}
	return tx
}
