package crypto

// Signer is the one seam between whoever signs for an authority (an issuer
// officer approving a mint or a policy, the issuer acknowledging a redeem,
// an intermediary spending from its treasury) and where the private key
// lives: in this process's memory (*PrivateKey) or inside a hardware
// security module that never lets it out (internal/hsm, over PKCS#11).
// Callers sign through it and stay unaware of which; the signature is the
// same Ed25519 signature over Message either way, verified by Verify.
type Signer interface {
	// Public is the key that verifies what this signer signs.
	Public() PublicKey
	// TrySign signs hash for domain on network. Unlike PrivateKey.Sign it
	// can fail: a token can be removed, logged out or refuse.
	TrySign(d Domain, network string, hash [32]byte) ([64]byte, error)
}

// TrySign signs in memory; it never fails. It makes *PrivateKey a Signer.
func (k *PrivateKey) TrySign(d Domain, network string, hash [32]byte) ([64]byte, error) {
	return k.Sign(d, network, hash), nil
}

var _ Signer = (*PrivateKey)(nil)

// KeySet is the domain of an officer's approval of a new set of officer
// keys (policy.KeySet): a key rotation, decided by the quorum of the set
// in force, so that nothing signed as a mint or a policy approves one.
const KeySet Domain = "specie/keyset/v1"
