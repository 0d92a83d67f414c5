package xsd

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// isoSchemaDir holds the official ISO 20022 schemas (embedded by package
// internal/iso20022/schemas, which imports this one, so read here as files).
const isoSchemaDir = "../iso20022/schemas"

// patternValues are candidates for values of pattern-restricted types: the
// generator uses the first that satisfies every facet, and fails naming a
// pattern none fits, so a schema with a new pattern cannot pass unseen.
var patternValues = []string{
	"7", "42", "123", "1234", "12345", "12345678", "12", "+123", "US0378331005", "DE", "de", "EUR",
	"ab12", "BKAADEFFXXX", "BKAADEFF", "529900T8BM49AURSDO55", "DE89370400440532013000",
	"8a562c67-ca16-48ba-b074-65581be6f011", "+49-711-5550100",
}

// badValues replace a value when the generator injects a fault.
var badValues = []string{"", "x", "-1", "1.123456789012345678", "2026-02-30", "2026-12-02T25:00:00", "eur",
	strings.Repeat("x", 141), "not-a-code", "1e3", "AB==", " 7", "true!"}

// gen writes random instances of a compiled schema, valid unless it
// injects a fault (then it says which).
type gen struct {
	r      *rand.Rand
	b      strings.Builder
	faults []string
	rate   float64 // chance of a fault at each element
	path   []string
}

func (g *gen) fault(format string, a ...any) {
	g.faults = append(g.faults, strings.Join(g.path, "/")+": "+fmt.Sprintf(format, a...))
}

func (g *gen) maybe() bool { return g.rate > 0 && g.r.Float64() < g.rate }

func (g *gen) element(t testing.TB, name string, td *typeDef, depth int, attrs string) {
	g.path = append(g.path, name)
	defer func() { g.path = g.path[:len(g.path)-1] }()
	indent := "\n" + strings.Repeat(" ", depth)
	g.b.WriteString(indent + "<" + name + attrs)
	for _, a := range td.attrs {
		if !a.required && g.r.IntN(2) == 0 {
			continue
		}
		v := g.value(t, a.st)
		if g.maybe() {
			v = badValues[g.r.IntN(len(badValues))]
			g.fault("attribute %s=%q", a.name, v)
		}
		if a.required && g.maybe() {
			g.fault("attribute %s left out", a.name)
			continue
		}
		g.b.WriteString(" " + a.name + `="` + xmlText(v) + `"`)
	}
	g.b.WriteString(">")
	if td.content == nil {
		v := g.value(t, td.st)
		if g.maybe() {
			v = badValues[g.r.IntN(len(badValues))]
			g.fault("value %q", v)
		}
		g.b.WriteString(xmlText(v))
	} else {
		g.particle(t, td.content, depth+1)
		if g.maybe() {
			g.b.WriteString(indent + " <Unexpected>x</Unexpected>")
			g.fault("extra element at the end")
		}
		g.b.WriteString(indent)
	}
	g.b.WriteString("</" + name + ">")
}

func (g *gen) particle(t testing.TB, p *particle, depth int) {
	n := p.min
	// Optional and repeated parts appear less the deeper and bigger the
	// document is, so documents stay small.
	extra := 2
	if p.max != unbounded && p.max-p.min < extra {
		extra = p.max - p.min
	}
	if g.b.Len() < 100_000 && extra > 0 && g.r.Float64() < 0.7/float64(1+depth/3) {
		n += 1 + g.r.IntN(extra)
	}
	if n > 0 && p.min > 0 && g.maybe() {
		// Leave out a required part (a nullable one may be empty anyway).
		if !p.nullable && n == p.min {
			g.fault("left out %s", names(p))
			n--
		}
	}
	if p.max != unbounded && n == p.max && g.maybe() && p.kind == pElement {
		g.fault("one %s too many", p.elem.name.local)
		n++
	}
	for i := 0; i < n; i++ {
		switch p.kind {
		case pElement:
			g.element(t, p.elem.name.local, p.elem.typ, depth, "")
		case pAny:
			g.b.WriteString("\n" + strings.Repeat(" ", depth) + `<g:Ext xmlns:g="urn:specie:gen"><g:Inner a="1">t</g:Inner></g:Ext>`)
		case pSequence:
			items := p.items
			if len(items) > 1 && g.maybe() {
				// Two neighbours in the wrong order (still valid when
				// one of them comes out empty: the verdicts must agree
				// either way).
				k := g.r.IntN(len(items) - 1)
				items = append(append(append([]*particle(nil), items[:k]...), items[k+1], items[k]), items[k+2:]...)
				g.fault("swapped %s and %s", names(p.items[k]), names(p.items[k+1]))
			}
			for _, q := range items {
				g.particle(t, q, depth)
			}
		case pChoice:
			g.particle(t, p.items[g.r.IntN(len(p.items))], depth)
		}
	}
}

// value returns a value of st: from its enumeration, a candidate matching
// its patterns, or one built to its facets.
func (g *gen) value(t testing.TB, st *simpleType) string {
	if len(st.enums) > 0 {
		var codes []string
		for c := range st.enums[0] {
			codes = append(codes, c)
		}
		// Map order is random: sort for a seed to replay.
		sortStrings(codes)
		return codes[g.r.IntN(len(codes))]
	}
	if len(st.patterns) > 0 {
		for _, v := range patternValues {
			if st.check(v) == "" {
				return v
			}
		}
		t.Fatalf("no candidate value fits %s (patterns %v)", st.name, st.patternSrc)
	}
	r := g.r
	switch st.builtin {
	case bString:
		lo, hi := st.minLen, st.maxLen
		if st.length >= 0 {
			lo, hi = st.length, st.length
		}
		if lo < 0 {
			lo = 0
		}
		if hi < 0 || hi > lo+12 {
			hi = lo + 12
		}
		n := lo + r.IntN(hi-lo+1)
		const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.éß"
		rs := []rune(letters)
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteRune(rs[r.IntN(len(rs))])
		}
		return b.String()
	case bDecimal:
		frac := 0
		if st.fractionDigits != 0 {
			frac = r.IntN(3)
			if st.fractionDigits > 0 && frac > st.fractionDigits {
				frac = st.fractionDigits
			}
		}
		ints := 1 + r.IntN(4)
		if st.totalDigits > 0 && ints+frac > st.totalDigits {
			ints = st.totalDigits - frac
		}
		s := strconv.Itoa(1 + r.IntN(9))
		for i := 1; i < ints; i++ {
			s += strconv.Itoa(r.IntN(10))
		}
		if frac > 0 {
			s += "."
			for i := 0; i < frac; i++ {
				s += strconv.Itoa(1 + r.IntN(9))
			}
		}
		if st.minIncl == nil && st.minExcl == nil && r.IntN(4) == 0 {
			s = "-" + s
		}
		return s
	case bBoolean:
		return []string{"true", "false", "1", "0"}[r.IntN(4)]
	case bDate:
		return fmt.Sprintf("%04d-%02d-%02d", 1990+r.IntN(50), 1+r.IntN(12), 1+r.IntN(28))
	case bDateTime:
		tz := []string{"", "Z", "+01:00", "-05:30"}[r.IntN(4)]
		return fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d%s", 1990+r.IntN(50), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), tz)
	case bTime:
		return fmt.Sprintf("%02d:%02d:%02d.%03d", r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000))
	case bGYearMonth:
		return fmt.Sprintf("%04d-%02d", 1990+r.IntN(50), 1+r.IntN(12))
	case bGYear:
		return fmt.Sprintf("%04d", 1990+r.IntN(50))
	case bBase64:
		lo, hi := st.minLen, st.maxLen
		if lo < 0 {
			lo = 0
		}
		if hi < 0 || hi > lo+6 {
			hi = lo + 6
		}
		buf := make([]byte, lo+r.IntN(hi-lo+1))
		for i := range buf {
			buf[i] = byte(r.IntN(256))
		}
		return base64.StdEncoding.EncodeToString(buf)
	}
	t.Fatalf("no generator for %s", st.name)
	return ""
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// generate writes one instance of s, with faults at the given rate.
func generate(t testing.TB, s *Schema, r *rand.Rand, rate float64) ([]byte, []string) {
	g := &gen{r: r, rate: rate}
	g.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	for q, decl := range s.global {
		g.element(t, q.local, decl.typ, 0, ` xmlns="`+s.ns+`"`)
	}
	g.b.WriteString("\n")
	return []byte(g.b.String()), g.faults
}

// isoSchema is one compiled ISO 20022 schema and its message name.
type isoSchema struct {
	msg string
	s   *Schema
}

// isoSchemas compiles the twelve, in name order (so a seed replays).
func isoSchemas(t testing.TB) []isoSchema {
	files, err := filepath.Glob(filepath.Join(isoSchemaDir, "*.xsd"))
	if err != nil || len(files) != 12 {
		t.Fatalf("want the 12 ISO 20022 schemas in %s, got %v %v", isoSchemaDir, files, err)
	}
	var out []isoSchema
	for _, f := range files { // Glob sorts
		s, err := Compile(os.DirFS(isoSchemaDir), filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, isoSchema{strings.TrimSuffix(filepath.Base(f), ".xsd"), s})
	}
	return out
}

func seeded(t testing.TB, env string) (*rand.Rand, uint64) {
	seed := uint64(rand.Int64())
	if v, err := strconv.ParseUint(os.Getenv(env), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (%s=%d replays it)", seed, env, seed)
	return rand.New(rand.NewPCG(seed, 0)), seed
}

// TestGeneratedDocuments: random documents built from each of the twelve
// ISO 20022 schemas themselves (every choice branch and optional part in
// reach, values to the facets) validate, so the content model machine
// handles every type of every message, not just the samples' paths.
// XSD_GEN_SEED replays a run.
func TestGeneratedDocuments(t *testing.T) {
	r, seed := seeded(t, "XSD_GEN_SEED")
	for _, is := range isoSchemas(t) {
		msg, s := is.msg, is.s
		for i := 0; i < 20; i++ {
			doc, _ := generate(t, s, r, 0)
			if err := s.Validate(doc); err != nil {
				t.Fatalf("seed %d: generated %s does not validate: %v\n%s", seed, msg, err, doc)
			}
		}
	}
}

// TestGeneratedAgainstXmllint: generated documents, with faults injected
// at random (a bad value or attribute, a required part left out, one
// element too many, an unexpected element, two parts swapped), get the same verdict from
// xmllint as from this validator, and a document without faults is valid
// for both. XSD_GEN_N sets the number per schema (default 5).
func TestGeneratedAgainstXmllint(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not on PATH (apt-get install libxml2-utils): cross-check skipped")
	}
	n := 5
	if v, err := strconv.Atoi(os.Getenv("XSD_GEN_N")); err == nil {
		n = v
	}
	r, seed := seeded(t, "XSD_GEN_SEED")
	dir := t.TempDir()
	docs, faulty, differ := 0, 0, 0
	for _, is := range isoSchemas(t) {
		msg, s := is.msg, is.s
		for i := 0; i < n; i++ {
			rate := 0.0
			if i%2 == 1 {
				rate = 0.02
			}
			doc, faults := generate(t, s, r, rate)
			f := filepath.Join(dir, "g.xml")
			if err := os.WriteFile(f, doc, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("xmllint", "--noout", "--nonet", "--schema", filepath.Join(isoSchemaDir, msg+".xsd"), f).CombinedOutput()
			ours := s.Validate(doc)
			docs++
			if len(faults) > 0 {
				faulty++
			}
			if (ours == nil) != (err == nil) {
				differ++
				t.Errorf("seed %d %s doc %d (faults %v): ours %v; xmllint: %s", seed, msg, i, faults, ours, out)
			}
			if len(faults) == 0 && ours != nil {
				t.Errorf("seed %d %s doc %d: no fault injected, yet: %v", seed, msg, i, ours)
			}
		}
	}
	t.Logf("%d documents (%d with faults), %d verdicts differ", docs, faulty, differ)
}
