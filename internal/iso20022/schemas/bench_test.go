package schemas_test

import (
	"strings"
	"testing"

	"github.com/specie/specie/internal/iso20022/schemas"
)

// pacs008With returns the pacs.008 sample grown to n transactions (its
// three repeated in turn), with NbOfTxs to match.
func pacs008With(t testing.TB, n int) []byte {
	doc := string(sample(t, "pacs.008.001.09"))
	start := strings.Index(doc, "<CdtTrfTxInf>")
	end := strings.LastIndex(doc, "</CdtTrfTxInf>") + len("</CdtTrfTxInf>")
	var txs []string
	for rest := doc[start:end]; rest != ""; {
		i := strings.Index(rest, "</CdtTrfTxInf>") + len("</CdtTrfTxInf>")
		txs = append(txs, strings.TrimSpace(rest[:i]))
		rest = strings.TrimSpace(rest[i:])
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(txs[i%len(txs)])
		b.WriteString("\n    ")
	}
	out := doc[:start] + b.String() + doc[end:]
	return []byte(strings.Replace(out, "<NbOfTxs>3</NbOfTxs>", "<NbOfTxs>"+itoa(n)+"</NbOfTxs>", 1))
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkValidatePacs008 validates a bank's pacs.008 of ten customer
// credit transfers (21 KB) against the compiled official schema.
func BenchmarkValidatePacs008(b *testing.B) {
	doc := pacs008With(b, 10)
	s, err := schemas.Schema("pacs.008.001.09")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompilePacs008 compiles the pacs.008 schema from the embedded
// file: the one-time cost Schema pays on first use.
func BenchmarkCompilePacs008(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := compileFresh("pacs.008.001.09"); err != nil {
			b.Fatal(err)
		}
	}
}
