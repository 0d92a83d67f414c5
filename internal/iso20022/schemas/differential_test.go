package schemas_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/specie/specie/internal/iso20022/schemas"
)

// valuePool holds the values the differential test puts into elements
// and attributes: the edges of the ISO 20022 types.
var valuePool = []string{
	"", " ", "0", "-1", "1.5", "0.00001", "0.000001", "12345678901234567890", "999999999999999999",
	"2026-12-02", "2026-02-30", "2026-12-02T10:00:00Z", "2026-12-02T10:00:00.5+01:00", "10:00:00",
	"EUR", "eur", "ACSC", "RJCT", "CRDT", strings.Repeat("X", 35), strings.Repeat("X", 36),
	strings.Repeat("é", 140), strings.Repeat("é", 141), "true", "1", "yes", "AAAA", "AA==",
	"BKAADEFF", "BKAADEFFXXX", "BKAADEFF1", "DE89370400440532013000", "+49-711-1", "a&amp;b",
	"<![CDATA[x]]>", "12.345678", "  pad  ", "8a562c67-ca16-48ba-b074-65581be6f011", "3 ", "2026",
	"2026-12", "NOTPROVIDED", "<!-- c -->1", "SEPA", "1e3",
}

var (
	leafLine  = regexp.MustCompile(`^(\s*)<([A-Za-z][\w:]*)((?: [\w:]+="[^"]*")*)>([^<]*)</([A-Za-z][\w:]*)>\s*$`)
	openLine  = regexp.MustCompile(`^(\s*)<([A-Za-z][\w:]*)>\s*$`)
	attrValue = regexp.MustCompile(`( [\w:]+=")([^"]*)(")`)
)

// mutate applies one random change to a pretty-printed document's lines
// and says what it did.
func mutate(r *rand.Rand, lines []string) ([]string, string) {
	pick := func(re *regexp.Regexp) int {
		var idx []int
		for i, l := range lines {
			if re.MatchString(l) {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			return -1
		}
		return idx[r.IntN(len(idx))]
	}
	out := append([]string(nil), lines...)
	op := r.IntN(8)
	if op <= 4 && pick(leafLine) < 0 {
		return out, "no leaf"
	}
	switch op {
	case 0, 1: // new value for a leaf
		i := pick(leafLine)
		m := leafLine.FindStringSubmatch(out[i])
		v := valuePool[r.IntN(len(valuePool))]
		out[i] = m[1] + "<" + m[2] + m[3] + ">" + v + "</" + m[5] + ">"
		return out, fmt.Sprintf("line %d: %s = %q", i+1, m[2], v)
	case 2: // drop a leaf
		i := pick(leafLine)
		return append(out[:i], out[i+1:]...), fmt.Sprintf("line %d: drop %s", i+1, strings.TrimSpace(lines[i]))
	case 3: // repeat a leaf
		i := pick(leafLine)
		return slices.Insert(out, i, out[i]), fmt.Sprintf("line %d: repeat", i+1)
	case 4: // swap a leaf with the next line
		i := pick(leafLine)
		if i+1 < len(out) {
			out[i], out[i+1] = out[i+1], out[i]
		}
		return out, fmt.Sprintf("line %d: swap with next", i+1)
	case 5, 6: // drop or repeat a whole element block
		i := pick(openLine)
		if i < 0 {
			return out, "no block"
		}
		m := openLine.FindStringSubmatch(out[i])
		end := -1
		for j := i + 1; j < len(out); j++ {
			if out[j] == m[1]+"</"+m[2]+">" {
				end = j
				break
			}
		}
		if end < 0 {
			return out, "no block end"
		}
		block := append([]string(nil), out[i:end+1]...)
		if op == 5 {
			return append(out[:i], out[end+1:]...), fmt.Sprintf("line %d: drop block %s", i+1, m[2])
		}
		rest := append(block, out[end+1:]...)
		return append(out[:end+1], rest...), fmt.Sprintf("line %d: repeat block %s", i+1, m[2])
	default: // an attribute value, or the attribute gone
		i := pick(regexp.MustCompile(`Ccy="`))
		if i < 0 {
			return out, "no attribute"
		}
		if r.IntN(3) == 0 {
			out[i] = attrValue.ReplaceAllString(out[i], "")
			return out, fmt.Sprintf("line %d: drop attribute", i+1)
		}
		v := valuePool[r.IntN(len(valuePool))]
		if strings.ContainsAny(v, "<\"") {
			v = "US"
		}
		out[i] = attrValue.ReplaceAllString(out[i], "${1}"+v+"${3}")
		return out, fmt.Sprintf("line %d: Ccy=%q", i+1, v)
	}
}

// TestDifferentialXmllint mutates the samples at random (1 to 3 changes
// each: values at the types' edges, dropped, repeated, swapped and
// repeated blocks, attributes) and requires our verdict to equal
// xmllint's on every result. XSD_DIFF_N sets the number of documents
// (default 60), XSD_DIFF_SEED the seed (printed; the same seed replays the
// same documents).
func TestDifferentialXmllint(t *testing.T) {
	skipWithoutXmllint(t)
	n := 60
	if v, err := strconv.Atoi(os.Getenv("XSD_DIFF_N")); err == nil {
		n = v
	}
	seed := uint64(rand.Int64())
	if v, err := strconv.ParseUint(os.Getenv("XSD_DIFF_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (XSD_DIFF_SEED=%d replays it)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 0))
	valid, differ := 0, 0
	for k := 0; k < n; k++ {
		msg := allMessages[r.IntN(len(allMessages))]
		lines := strings.Split(string(sample(t, msg)), "\n")
		var did []string
		for c := 1 + r.IntN(3); c > 0; c-- {
			var what string
			lines, what = mutate(r, lines)
			did = append(did, what)
		}
		doc := []byte(strings.Join(lines, "\n"))
		s, err := schemas.Schema(msg)
		if err != nil {
			t.Fatal(err)
		}
		ours := s.Validate(doc)
		theirs := xmllintVerdict(t, msg, doc)
		if ours == nil {
			valid++
		}
		if (ours == nil) != (theirs == nil) {
			differ++
			t.Errorf("seed %d doc %d (%s; %s): ours %v; %v", seed, k, msg, strings.Join(did, "; "), ours, theirs)
		}
	}
	t.Logf("%d documents, %d still valid, %d verdicts differ", n, valid, differ)
}
