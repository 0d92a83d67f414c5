package crypto_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/specie/specie/crypto"
)

// TestLoadOrCreateKey: the first use makes the key (and its directory),
// owner-readable only; later uses read the same key; a file that is not
// a key is refused and left exactly as it was, never replaced by a new
// key.
func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "not", "yet", "witness.key")
	k1, err := crypto.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := crypto.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Public() != k2.Public() {
		t.Fatal("a second use made another key")
	}

	for name, content := range map[string][]byte{
		"not hex":    []byte("zz\n"),
		"short seed": []byte("abcd\n"),
		"empty":      nil,
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".key")
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := crypto.LoadOrCreateKey(p); err == nil {
				t.Fatal("a file that is not a key was accepted")
			}
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("the file was changed: %q, %v", got, err)
			}
		})
	}

	// A directory that cannot be made: an error, no key.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.LoadOrCreateKey(filepath.Join(blocker, "k.key")); err == nil {
		t.Fatal("a key under a regular file was made")
	}
}
