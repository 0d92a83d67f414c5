package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/specie/specie/roles"
)

// TestReadCodes reads a devnet otp.log as --via alias does: the last code
// per alias and wallet wins, lines of another shape are skipped, and a
// missing file is an error rather than no codes.
func TestReadCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"one", "2030-01-01T09:00:00Z +15551230000 bank-a.w1 123456\n", map[string]string{"+15551230000 bank-a.w1": "123456"}},
		{"last wins, per wallet", "t +15551230000 bank-a.w1 111111\nt +15551230000 bank-a.w2 222222\nt +15551230000 bank-a.w1 333333\n",
			map[string]string{"+15551230000 bank-a.w1": "333333", "+15551230000 bank-a.w2": "222222"}},
		{"other shapes skipped", "garbage\nt a w\nt a w c extra\n\n  t   +15551230000   bank-b.x   654321  \n",
			map[string]string{"+15551230000 bank-b.x": "654321"}},
		{"no final newline", "t a@b.org bank-a.w 000001", map[string]string{"a@b.org bank-a.w": "000001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readCodes(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
	if _, err := readCodes(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing code file read as no codes")
	}
	if _, err := parseCodes(strings.NewReader(strings.Repeat("x", 1<<17))); err == nil {
		t.Error("a line longer than the scanner's buffer read without error")
	}
}

// TestBenchAlias checks the bench's aliases are phone numbers the
// intermediaries accept as they are (normalised already), distinct per
// wallet and per run.
func TestBenchAlias(t *testing.T) {
	seen := map[string]bool{}
	for _, run := range []uint64{0, 1, 99_999, 100_000, 1<<64 - 1} {
		for _, i := range []int{0, 1, 42, maxAliasWallets - 1} {
			a := benchAlias(run, i)
			n, kind, err := roles.NormalizeAlias(a)
			if err != nil || n != a || kind != roles.AliasPhone {
				t.Fatalf("alias %s of run %d wallet %d: %q %s %v", a, run, i, n, kind, err)
			}
			if run != 100_000 && seen[a] { // 100,000 is run 0 again: five digits of the run
				t.Errorf("alias %s twice", a)
			}
			seen[a] = true
		}
	}
}

// FuzzParseCodes feeds arbitrary bytes to the one-time code file reader:
// it never panics, and every code it returns came from a line of four
// fields, keyed by the line's alias and wallet.
func FuzzParseCodes(f *testing.F) {
	f.Add([]byte("2030-01-01T09:00:00Z +15551230000 bank-a.w1 123456\n"))
	f.Add([]byte("t a w c\nt a w d\n"))
	f.Add([]byte("\x00\xff \t\r\n t a w c extra"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseCodes(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for k, v := range got {
			alias, wallet, ok := strings.Cut(k, " ")
			if !ok || alias == "" || wallet == "" || v == "" || strings.IndexFunc(k, unicode.IsSpace) != len(alias) ||
				strings.IndexFunc(v, unicode.IsSpace) >= 0 {
				t.Fatalf("key %q, code %q", k, v)
			}
			if !strings.Contains(string(b), alias) || !strings.Contains(string(b), wallet) || !strings.Contains(string(b), v) {
				t.Fatalf("key %q, code %q not in the input", k, v)
			}
		}
	})
}
