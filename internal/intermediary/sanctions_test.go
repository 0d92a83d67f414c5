package intermediary

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseSanctions: the sanctions-file parser never panics, accepts only
// entries that can name a wallet or an owner, and reads back the list it
// would write.
func FuzzParseSanctions(f *testing.F) {
	f.Add([]byte("# list\nbank-b.q3x7k2m9pa\nMallory Example\n\n"))
	f.Add([]byte("  padded  \r\n#x\n"))
	f.Add([]byte("bad\x01\n"))
	f.Add([]byte{0xff, '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseSanctions(b)
		if err != nil {
			return
		}
		var lines []string
		for e := range got {
			if e == "" || e[0] == '#' || e != strings.TrimSpace(e) || !utf8.ValidString(e) ||
				len(e) > MaxOwnerLen || strings.IndexFunc(e, unicode.IsControl) >= 0 {
				t.Fatalf("accepted entry %q", e)
			}
			lines = append(lines, e)
		}
		again, err := parseSanctions([]byte(strings.Join(lines, "\n")))
		if err != nil || len(again) != len(got) {
			t.Fatalf("written back: %d entries, %v; want %d", len(again), err, len(got))
		}
		for e := range got {
			if _, ok := again[e]; !ok {
				t.Fatalf("entry %q lost writing back", e)
			}
		}
	})
}

func TestParseSanctions(t *testing.T) {
	got, err := parseSanctions([]byte("# comment\n\n  bank-b.abc  \r\nMallory Example\n#not this\n"))
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	for _, e := range []string{"bank-b.abc", "Mallory Example"} {
		if _, ok := got[e]; !ok {
			t.Fatalf("missing %q in %v", e, got)
		}
	}
	for _, bad := range []string{"ok\n\xff\n", "a\x00b", strings.Repeat("x", MaxOwnerLen+1)} {
		if _, err := parseSanctions([]byte(bad)); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
