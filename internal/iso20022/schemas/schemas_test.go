package schemas

import "testing"

// TestEveryMessageCompiles compiles each of the twelve embedded official
// schemas: the subset internal/xsd implements must cover all of them.
func TestEveryMessageCompiles(t *testing.T) {
	want := []string{"camt.029.001.10", "camt.053.001.08", "camt.054.001.08", "camt.056.001.09",
		"pacs.002.001.11", "pacs.004.001.10", "pacs.008.001.09", "pacs.009.001.09",
		"pain.001.001.10", "pain.002.001.11", "pain.013.001.08", "pain.014.001.08"}
	got := Messages()
	if len(got) != len(want) {
		t.Fatalf("Messages() = %v, want %v", got, want)
	}
	for i, m := range want {
		if got[i] != m {
			t.Fatalf("Messages()[%d] = %s, want %s", i, got[i], m)
		}
		t.Run(m, func(t *testing.T) {
			s, err := Schema(m)
			if err != nil {
				t.Fatalf("compile %s: %v", m, err)
			}
			if s.Namespace() != NamespacePrefix+m {
				t.Fatalf("Namespace() = %q", s.Namespace())
			}
		})
	}
}
