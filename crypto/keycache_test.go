package crypto_test

import (
	"sync"
	"testing"

	"github.com/specie/specie/crypto"
)

// TestKeyCacheSameVerdicts checks that a batch taking keys from a cache
// decides every signature as one without: honest ones, corrupted ones,
// a key that is not a point, a small-order key (valid under ZIP-215 for
// the identity signature) and a non-canonical encoding; twice, so the
// second round runs on cached keys.
func TestKeyCacheSameVerdicts(t *testing.T) {
	type item struct {
		pub  crypto.PublicKey
		hash [32]byte
		sig  [64]byte
	}
	var items []item
	keys := make([]*crypto.PrivateKey, 20)
	for i := range keys {
		keys[i], _ = crypto.GenerateKey()
	}
	for i := 0; i < 60; i++ {
		k := keys[i%len(keys)] // every key signs three times
		h := [32]byte{byte(i)}
		items = append(items, item{k.Public(), h, k.Sign(crypto.Spend, "net", h)})
	}
	items[7].sig[3] ^= 1            // corrupted signature
	items[8].hash[0] ^= 1           // signed another hash
	items[9].pub = keys[0].Public() // someone else's key
	var notPoint crypto.PublicKey   // y = 2 has no x on the curve
	notPoint[0] = 2
	items = append(items, item{notPoint, [32]byte{1}, [64]byte{}})
	var identity crypto.PublicKey // small order: ZIP-215 accepts R = identity, S = 0
	identity[0] = 1
	var idSig [64]byte
	idSig[0] = 1
	items = append(items, item{identity, [32]byte{2}, idSig})
	nonCanonical := crypto.PublicKey{} // y = p+1, the identity again, not reduced
	for i := range nonCanonical {
		nonCanonical[i] = 0xff
	}
	nonCanonical[0], nonCanonical[31] = 0xee, 0x7f
	items = append(items, item{nonCanonical, [32]byte{3}, idSig})

	verdicts := func(b *crypto.Batch) []bool {
		for _, it := range items {
			b.Add(it.pub, crypto.Spend, "net", it.hash, it.sig)
		}
		ok, valid := b.Verify()
		if ok {
			t.Fatal("a batch with bad signatures passed")
		}
		return valid
	}
	want := verdicts(crypto.NewBatch(len(items)))
	for i, w := range want {
		bad := i >= 7 && i <= 9 || items[i].pub == notPoint
		if w == bad {
			t.Fatalf("uncached verdict %d: %v", i, w)
		}
	}
	if !want[len(items)-2] {
		t.Fatal("the small-order key's identity signature should pass under ZIP-215")
	}
	cache := crypto.NewKeyCache(1000)
	b := crypto.NewBatch(len(items)).WithKeys(cache)
	for round := 0; round < 2; round++ {
		got := verdicts(b)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("round %d, signature %d: cached %v, uncached %v", round, i, got[i], want[i])
			}
		}
	}
	if n := cache.Len(); n != len(keys)+3 { // the 20 keys, the non-point, the small-order and non-canonical ones
		t.Fatalf("cache holds %d keys, want %d", n, len(keys)+3)
	}
	// An honest batch passes on cached keys.
	for i := 0; i < 60; i++ {
		k := keys[i%len(keys)]
		h := [32]byte{byte(i), 1}
		b.Add(k.Public(), crypto.Spend, "net", h, k.Sign(crypto.Spend, "net", h))
	}
	if ok, _ := b.Verify(); !ok {
		t.Fatal("honest batch on cached keys failed")
	}
}

// TestKeyCacheBounded checks the cache never holds more than twice its
// size and keeps a key that keeps signing while others pass through.
func TestKeyCacheBounded(t *testing.T) {
	cache := crypto.NewKeyCache(32)
	hot, _ := crypto.GenerateKey()
	b := crypto.NewBatch(8).WithKeys(cache)
	for i := 0; i < 300; i++ {
		k, _ := crypto.GenerateKey()
		h := [32]byte{byte(i), byte(i >> 8)}
		b.Add(k.Public(), crypto.Spend, "net", h, k.Sign(crypto.Spend, "net", h))
		b.Add(hot.Public(), crypto.Spend, "net", h, hot.Sign(crypto.Spend, "net", h))
		if ok, _ := b.Verify(); !ok {
			t.Fatal("honest batch failed")
		}
		if n := cache.Len(); n > 64 {
			t.Fatalf("after %d keys the cache holds %d, more than 64", i+1, n)
		}
	}
	before := cache.Len()
	b.Add(hot.Public(), crypto.Spend, "net", [32]byte{}, hot.Sign(crypto.Spend, "net", [32]byte{}))
	b.Verify()
	if cache.Len() != before {
		t.Fatal("the hot key was not in the cache: it was added again")
	}
}

// TestKeyCacheConcurrent shares one cache among batches on several
// goroutines (the ledger's verifiers do); run with -race.
func TestKeyCacheConcurrent(t *testing.T) {
	cache := crypto.NewKeyCache(16)
	keys := make([]*crypto.PrivateKey, 40)
	for i := range keys {
		keys[i], _ = crypto.GenerateKey()
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := crypto.NewBatch(10).WithKeys(cache)
			for r := 0; r < 20; r++ {
				for j := 0; j < 10; j++ {
					k := keys[(g*7+r*3+j)%len(keys)]
					h := [32]byte{byte(g), byte(r), byte(j)}
					b.Add(k.Public(), crypto.Spend, "net", h, k.Sign(crypto.Spend, "net", h))
				}
				if ok, _ := b.Verify(); !ok {
					t.Error("honest batch failed")
					return
				}
			}
		}()
	}
	wg.Wait()
}
