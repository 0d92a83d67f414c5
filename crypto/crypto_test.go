package crypto_test

import (
	"fmt"
	"testing"

	"github.com/specie/specie/crypto"
)

func TestSignVerifyDomainsAndNetworks(t *testing.T) {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	h := [32]byte{1, 2, 3}
	sig := k.Sign(crypto.Spend, "net", h)
	if !crypto.Verify(k.Public(), crypto.Spend, "net", h, sig) {
		t.Fatal("honest signature rejected")
	}
	for name, ok := range map[string]bool{
		"other domain":  crypto.Verify(k.Public(), crypto.Mint, "net", h, sig),
		"other network": crypto.Verify(k.Public(), crypto.Spend, "net2", h, sig),
		"other hash":    crypto.Verify(k.Public(), crypto.Spend, "net", [32]byte{9}, sig),
	} {
		if ok {
			t.Errorf("%s: signature accepted", name)
		}
	}
	// Seeds restore the same key.
	k2, err := crypto.KeyFromSeed(k.Seed())
	if err != nil || k2.Public() != k.Public() {
		t.Fatal("seed round trip")
	}
}

// TestBatchAgreesWithStdlib cross-checks batch and single verification
// (curve25519-voi, ZIP-215) against crypto/ed25519 on honest signatures and
// on corrupted ones, and checks the batch pinpoints the bad signatures.
func TestBatchAgreesWithStdlib(t *testing.T) {
	const n = 300
	keys := make([]*crypto.PrivateKey, n)
	sigs := make([][64]byte, n)
	hashes := make([][32]byte, n)
	for i := range keys {
		keys[i], _ = crypto.GenerateKey()
		hashes[i] = [32]byte{byte(i), byte(i >> 8)}
		sigs[i] = keys[i].Sign(crypto.Spend, "net", hashes[i])
	}
	bad := map[int]bool{3: true, 150: true, 299: true}
	for i := range bad {
		sigs[i][10] ^= 0x40
	}
	b := crypto.NewBatch(n)
	for i := range keys {
		b.Add(keys[i].Public(), crypto.Spend, "net", hashes[i], sigs[i])
	}
	ok, valid := b.Verify()
	if ok {
		t.Fatal("batch with bad signatures passed")
	}
	for i := range keys {
		std := crypto.VerifyStd(keys[i].Public(), crypto.Spend, "net", hashes[i], sigs[i])
		single := crypto.Verify(keys[i].Public(), crypto.Spend, "net", hashes[i], sigs[i])
		if valid[i] != !bad[i] || std != !bad[i] || single != !bad[i] {
			t.Fatalf("sig %d: batch %v single %v stdlib %v, bad %v", i, valid[i], single, std, bad[i])
		}
	}
	// The batch is reusable after Verify, and all-good passes.
	for i := range bad {
		sigs[i] = keys[i].Sign(crypto.Spend, "net", hashes[i])
	}
	for i := range keys {
		b.Add(keys[i].Public(), crypto.Spend, "net", hashes[i], sigs[i])
	}
	if ok, _ := b.Verify(); !ok {
		t.Fatal("honest batch failed")
	}
}

func BenchmarkVerifySingle(b *testing.B) {
	k, _ := crypto.GenerateKey()
	h := [32]byte{1}
	sig := k.Sign(crypto.Spend, "net", h)
	for b.Loop() {
		crypto.Verify(k.Public(), crypto.Spend, "net", h, sig)
	}
}

// BenchmarkVerifyBatch measures batch verification by batch size: the
// ledger's verifiers take what is queued, so at low load batches are small
// and per-signature cost is higher. keys=cached is the same batch taking
// its keys, already expanded, from a KeyCache: signers seen before.
func BenchmarkVerifyBatch(b *testing.B) {
	for _, bc := range []struct {
		n      int
		cached bool
	}{{16, false}, {16, true}, {64, false}, {64, true}, {128, false}, {256, false}, {512, false}, {512, true}} {
		n := bc.n
		name := fmt.Sprintf("sigs=%d", n)
		if bc.cached {
			name += "/keys=cached"
		}
		b.Run(name, func(b *testing.B) {
			keys := make([]*crypto.PrivateKey, n)
			sigs := make([][64]byte, n)
			for i := range keys {
				keys[i], _ = crypto.GenerateKey()
				sigs[i] = keys[i].Sign(crypto.Spend, "net", [32]byte{byte(i), byte(i >> 8)})
			}
			bv := crypto.NewBatch(n)
			if bc.cached {
				bv.WithKeys(crypto.NewKeyCache(n))
			}
			b.ReportAllocs()
			for b.Loop() {
				for i := range keys {
					bv.Add(keys[i].Public(), crypto.Spend, "net", [32]byte{byte(i), byte(i >> 8)}, sigs[i])
				}
				if ok, _ := bv.Verify(); !ok {
					b.Fatal("batch failed")
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}
