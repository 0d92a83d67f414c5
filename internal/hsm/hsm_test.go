//go:build cgo

package hsm_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/specie/specie/crypto"
	"github.com/specie/specie/internal/hsm"
	"github.com/specie/specie/internal/hsm/hsmtest"
)

// TestSignVerifiesLikeMemory: a signature made on the token verifies with
// crypto.Verify (ZIP-215) and with the standard library, for its own
// domain, network and hash only, exactly as an in-memory key's does.
func TestSignVerifiesLikeMemory(t *testing.T) {
	tok := hsmtest.Open(t, hsmtest.NewToken(t, "issuer"))
	k, err := tok.Generate("officer-1")
	if err != nil {
		t.Fatal(err)
	}
	mem, _ := crypto.GenerateKey()
	for i, h := range [][32]byte{{}, {1, 2, 3}, {0xff, 9}} {
		for _, s := range []crypto.Signer{k, mem} {
			sig, err := s.TrySign(crypto.Mint, "net", h)
			if err != nil {
				t.Fatalf("%d: sign: %v", i, err)
			}
			if !crypto.Verify(s.Public(), crypto.Mint, "net", h, sig) || !crypto.VerifyStd(s.Public(), crypto.Mint, "net", h, sig) {
				t.Fatalf("%d: honest signature rejected", i)
			}
			for name, ok := range map[string]bool{
				"other domain":  crypto.Verify(s.Public(), crypto.Policy, "net", h, sig),
				"other network": crypto.Verify(s.Public(), crypto.Mint, "net2", h, sig),
				"other hash":    crypto.Verify(s.Public(), crypto.Mint, "net", [32]byte{7, 7}, sig),
			} {
				if ok {
					t.Errorf("%d: %s: signature accepted", i, name)
				}
			}
		}
	}
	// Ed25519 is deterministic, and the token signs the same message
	// bytes as crypto.Message: a second signature is the same signature.
	a, _ := k.TrySign(crypto.Redeem, "net", [32]byte{4})
	b, _ := k.TrySign(crypto.Redeem, "net", [32]byte{4})
	if a != b {
		t.Fatal("token signatures of one message differ")
	}
	// Reopening finds the same key by label.
	k2, err := tok.Key("officer-1")
	if err != nil || k2.Public() != k.Public() {
		t.Fatalf("reopen: %v, %s vs %s", err, k2.Public(), k.Public())
	}
}

// TestPrivateKeyNeverLeaves: the private key is generated sensitive and
// not extractable, and the token refuses to read out CKA_VALUE.
func TestPrivateKeyNeverLeaves(t *testing.T) {
	tok := hsmtest.Open(t, hsmtest.NewToken(t, "issuer"))
	k, err := tok.Generate("redeem")
	if err != nil {
		t.Fatal(err)
	}
	v, err := hsm.PrivateAttr(k, pkcs11.CKA_VALUE)
	var pe pkcs11.Error
	if !errors.As(err, &pe) || pe != pkcs11.CKR_ATTRIBUTE_SENSITIVE {
		t.Fatalf("CKA_VALUE of the private key: got %x, %v; want CKR_ATTRIBUTE_SENSITIVE", v, err)
	}
	for _, c := range []struct {
		name string
		attr uint
		want bool
	}{
		{"CKA_SENSITIVE", pkcs11.CKA_SENSITIVE, true},
		{"CKA_EXTRACTABLE", pkcs11.CKA_EXTRACTABLE, false},
		{"CKA_ALWAYS_SENSITIVE", pkcs11.CKA_ALWAYS_SENSITIVE, true},
		{"CKA_NEVER_EXTRACTABLE", pkcs11.CKA_NEVER_EXTRACTABLE, true},
	} {
		b, err := hsm.PrivateAttr(k, c.attr)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := len(b) == 1 && b[0] != 0; got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	ks, err := tok.Keys()
	if err != nil {
		t.Fatal(err)
	}
	want := []hsm.KeyInfo{{Label: "redeem", Public: k.Public(), Sensitive: true, Extractable: false, NeverExtractable: true}}
	if fmt.Sprint(ks) != fmt.Sprint(want) {
		t.Fatalf("Keys() = %+v, want %+v", ks, want)
	}
}

// TestOpenErrors: a wrong PIN, a missing token, a missing module and an
// unknown or duplicate key label each fail with their own error, and a
// failed open leaves the token usable with the right PIN.
func TestOpenErrors(t *testing.T) {
	good := hsmtest.NewToken(t, "issuer")
	func() {
		tok := hsmtest.Open(t, good)
		if _, err := tok.Generate("officer-1"); err != nil {
			t.Fatal(err)
		}
		tok.Close()
	}()
	badPIN, noToken, noModule := good, good, good
	badPIN.PIN = "0000"
	noToken.Token = "nosuch"
	noModule.Module = "/nonexistent/libpkcs11.so"
	for _, c := range []struct {
		name string
		cfg  hsm.Config
		want error
	}{
		{"wrong PIN", badPIN, hsm.ErrBadPIN},
		{"missing token", noToken, hsm.ErrNoToken},
		{"missing module", noModule, hsm.ErrUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := hsm.Open(c.cfg)
			if !errors.Is(err, c.want) {
				if tok != nil {
					tok.Close()
				}
				t.Fatalf("Open: %v, want %v", err, c.want)
			}
		})
	}
	tok := hsmtest.Open(t, good)
	// With a login open in this process, a wrong PIN is still refused.
	if other, err := hsm.Open(badPIN); !errors.Is(err, hsm.ErrBadPIN) {
		if other != nil {
			other.Close()
		}
		t.Fatalf("second Open with a wrong PIN: %v, want ErrBadPIN", err)
	}
	if _, err := tok.Key("officer-9"); !errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("unknown label: %v, want ErrNoKey", err)
	}
	if _, err := tok.Generate("officer-1"); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("duplicate label: %v, want ErrKeyExists", err)
	}
	if ks, err := tok.Keys(); err != nil || len(ks) != 1 {
		t.Fatalf("after the refusals the token holds %v (%v), want the one key", ks, err)
	}
	k, _ := tok.Key("officer-1")
	tok.Close()
	if _, err := k.TrySign(crypto.Mint, "net", [32]byte{}); err == nil {
		t.Fatal("a key of a closed token signed")
	}
}

// TestConcurrentSigning signs from many goroutines at once through the
// token's session pool; every signature verifies.
func TestConcurrentSigning(t *testing.T) {
	tok := hsmtest.Open(t, hsmtest.NewToken(t, "issuer"))
	k, err := tok.Generate("officer-1")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				h := [32]byte{byte(g), byte(i)}
				sig, err := k.TrySign(crypto.Spend, "net", h)
				if err == nil && !crypto.Verify(k.Public(), crypto.Spend, "net", h, sig) {
					err = fmt.Errorf("goroutine %d signature %d does not verify", g, i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkSign compares one Ed25519 signature through SoftHSM2 (PKCS#11,
// CKM_EDDSA) with one in memory, serially and from parallel goroutines.
func BenchmarkSign(b *testing.B) {
	tok := hsmtest.Open(b, hsmtest.NewToken(b, "bench"))
	hk, err := tok.Generate("k")
	if err != nil {
		b.Fatal(err)
	}
	mem, _ := crypto.GenerateKey()
	for _, c := range []struct {
		name string
		s    crypto.Signer
	}{{"softhsm2", hk}, {"memory", mem}} {
		b.Run(c.name, func(b *testing.B) {
			h := [32]byte{1}
			for b.Loop() {
				if _, err := c.s.TrySign(crypto.Mint, "net", h); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				h := [32]byte{2}
				for pb.Next() {
					if _, err := c.s.TrySign(crypto.Mint, "net", h); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
