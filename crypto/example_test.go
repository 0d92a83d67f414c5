package crypto_test

import (
	"crypto/sha256"
	"fmt"

	"github.com/specie/specie/crypto"
)

// A key from a fixed seed (keys are stored as their seed), signing a hash
// for one domain on one network: the signature verifies only there.
func ExampleKeyFromSeed() {
	var seed [32]byte // a fixed seed for a fixed output; crypto.GenerateKey for real keys
	key, err := crypto.KeyFromSeed(seed[:])
	if err != nil {
		fmt.Println(err)
		return
	}
	pub := key.Public()
	fmt.Println("public key", pub)

	txid := sha256.Sum256([]byte("a transaction's canonical body"))
	sig := key.Sign(crypto.Spend, "specie-devnet", txid)
	fmt.Println("spend on specie-devnet:", crypto.Verify(pub, crypto.Spend, "specie-devnet", txid, sig))
	fmt.Println("as a mint approval:", crypto.Verify(pub, crypto.Mint, "specie-devnet", txid, sig))
	fmt.Println("on another network:", crypto.Verify(pub, crypto.Spend, "specie-test", txid, sig))
	fmt.Println("standard library agrees:", crypto.VerifyStd(pub, crypto.Spend, "specie-devnet", txid, sig))
	// Output:
	// public key 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29
	// spend on specie-devnet: true
	// as a mint approval: false
	// on another network: false
	// standard library agrees: true
}

// Batch verification: one call checks many signatures, and when one is bad
// it still says which.
func ExampleBatch() {
	b := crypto.NewBatch(3)
	for i := byte(0); i < 3; i++ {
		key, _ := crypto.KeyFromSeed(append(make([]byte, 31), i))
		hash := sha256.Sum256([]byte{i})
		sig := key.Sign(crypto.Spend, "specie-devnet", hash)
		if i == 1 {
			sig[0] ^= 1 // damaged
		}
		b.Add(key.Public(), crypto.Spend, "specie-devnet", hash, sig)
	}
	ok, valid := b.Verify()
	fmt.Println("all valid:", ok, valid)
	// Output:
	// all valid: false [true false true]
}
