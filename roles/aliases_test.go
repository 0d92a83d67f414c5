package roles_test

import (
	"strings"
	"testing"

	"github.com/specie/specie/roles"
)

// TestNormalizeAlias pins the one spelling of each alias that is hashed:
// E.164 numbers with the punctuation people type dropped, email
// addresses lowercased whole, and everything else refused.
func TestNormalizeAlias(t *testing.T) {
	cases := []struct {
		in, want string
		kind     roles.AliasKind
	}{
		{"+15551234567", "+15551234567", roles.AliasPhone},
		{" +1 (555) 123-4567 ", "+15551234567", roles.AliasPhone},
		{"+44.20.7946.0958", "+442079460958", roles.AliasPhone},
		{"+12345678", "+12345678", roles.AliasPhone},               // 8 digits, the fewest
		{"+123456789012345", "+123456789012345", roles.AliasPhone}, // 15, the most
		{"alice@example.org", "alice@example.org", roles.AliasEmail},
		{"  Alice.Smith@Example.ORG\n", "alice.smith@example.org", roles.AliasEmail},
		{"a+tag@mail.example.co.uk", "a+tag@mail.example.co.uk", roles.AliasEmail},
		{"o'neil@x-y.example", "o'neil@x-y.example", roles.AliasEmail},
	}
	for _, c := range cases {
		got, kind, err := roles.NormalizeAlias(c.in)
		if err != nil || got != c.want || kind != c.kind {
			t.Errorf("NormalizeAlias(%q) = %q, %q, %v; want %q, %q", c.in, got, kind, err, c.want, c.kind)
		}
	}
	bad := []string{
		"", "   ", "5551234567", "+1234567", "+1234567890123456", "+0123456789", "+1555123456x",
		"++15551234567", "+1 555 123 4567 ext 2", "alice", "@example.org", "alice@", "alice@example",
		"a@b@example.org", ".alice@example.org", "alice.@example.org", "al..ice@example.org",
		"alice@-example.org", "alice@example-.org", "alice@example..org", "alice@exa_mple.org",
		"al ice@example.org", "alice@exämple.org", "ålice@example.org", "al\"ice@example.org",
		strings.Repeat("a", 65) + "@example.org", "a@" + strings.Repeat("b", 64) + ".org",
		"a@" + strings.Repeat("b.", 130) + "org", strings.Repeat("+1", 200),
	}
	for _, in := range bad {
		if got, kind, err := roles.NormalizeAlias(in); err == nil {
			t.Errorf("NormalizeAlias(%q) = %q, %q; want an error", in, got, kind)
		}
	}
}

// TestAliasHashIsKeyed: the directory's key for an alias depends on the
// intermediaries' key, is the same for every spelling of one alias, and
// never equals the pseudonym of the same string (the key is
// domain-separated from the salt it is derived from).
func TestAliasHashIsKeyed(t *testing.T) {
	salt := []byte("salt the intermediaries share")
	k1, k2 := roles.AliasKey(salt), roles.AliasKey([]byte("another salt of some length"))
	n1, _, _ := roles.NormalizeAlias("+1 555 123 4567")
	n2, _, _ := roles.NormalizeAlias("+15551234567")
	if roles.AliasHash(k1, n1) != roles.AliasHash(k1, n2) {
		t.Fatal("two spellings of one number hash apart")
	}
	if roles.AliasHash(k1, n1) == roles.AliasHash(k2, n1) {
		t.Fatal("the hash does not depend on the key")
	}
	if roles.AliasHash(k1, n1) == roles.Pseudonym(salt, n1) || roles.AliasHash(salt, n1) == roles.Pseudonym(salt, n1) {
		t.Fatal("an alias hash equals a pseudonym")
	}
	if h := roles.AliasHash(k1, n1); len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("hash %q: want 64 lowercase hex digits", h)
	}
}

// FuzzNormalizeAlias: the normaliser never panics on any input, and what
// it accepts is a fixed point (normalising again changes nothing), of the
// kind it says, within the bounds of its kind.
func FuzzNormalizeAlias(f *testing.F) {
	for _, s := range []string{"+15551234567", " +1 (555) 123-4567", "Alice@Example.org", "a.b+c@d-e.fg", "@", "+", "a@b", "+0", "\xff@x.y", "ä@x.yz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, kind, err := roles.NormalizeAlias(s)
		if err != nil {
			if n != "" || kind != "" {
				t.Fatalf("refused %q but answered %q, %q", s, n, kind)
			}
			return
		}
		again, kind2, err := roles.NormalizeAlias(n)
		if err != nil || again != n || kind2 != kind {
			t.Fatalf("%q -> %q (%s) -> %q (%s), %v: not a fixed point", s, n, kind, again, kind2, err)
		}
		switch kind {
		case roles.AliasPhone:
			if len(n) < 9 || len(n) > 16 || n[0] != '+' || strings.Trim(n[1:], "0123456789") != "" {
				t.Fatalf("phone %q from %q", n, s)
			}
		case roles.AliasEmail:
			if len(n) > 254 || strings.Count(n, "@") != 1 || n != strings.ToLower(n) {
				t.Fatalf("email %q from %q", n, s)
			}
		default:
			t.Fatalf("kind %q", kind)
		}
		if !roles.LooksLikeAlias(n) {
			t.Fatalf("%q is an alias but does not look like one", n)
		}
	})
}
