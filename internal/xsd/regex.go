package xsd

import (
	"fmt"
	"regexp"
	"strings"
)

// compilePattern translates an XSD 1.0 regular expression (Appendix F of
// XML Schema Part 2) into an anchored Go regexp.
//
// XSD patterns are implicitly anchored and have no ^ or $ anchors (both
// are ordinary characters there); their escapes \d, \w, \s mean Unicode
// classes; '.' excludes \n and \r. The translation handles literals,
// character classes with ranges and escapes, quantifiers {n}, {n,}, {n,m},
// ?, *, +, groups and alternation, \p{..} / \P{..}, and the multi-character
// escapes \d \D \w \W \s \S. It refuses what it cannot translate exactly:
// character class subtraction ([a-z-[aeiou]]) and the XML name escapes
// \i \I \c \C, so Compile fails instead of validating differently.
func compilePattern(src string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`\A(?:`)
	rs := []rune(src)
	inClass := false
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\':
			if i+1 >= len(rs) {
				return nil, fmt.Errorf("trailing backslash")
			}
			i++
			e := rs[i]
			switch e {
			case 'n', 'r', 't', '\\', '|', '.', '?', '*', '+', '(', ')', '{', '}', '-', '[', ']', '^':
				b.WriteRune('\\')
				b.WriteRune(e)
			case 'd':
				b.WriteString(`\p{Nd}`)
			case 'D':
				if inClass {
					return nil, fmt.Errorf(`\D inside a character class not supported`)
				}
				b.WriteString(`\P{Nd}`)
			case 's':
				if inClass {
					b.WriteString(`\x20\t\n\r`)
				} else {
					b.WriteString(`[\x20\t\n\r]`)
				}
			case 'S':
				if inClass {
					return nil, fmt.Errorf(`\S inside a character class not supported`)
				}
				b.WriteString(`[^\x20\t\n\r]`)
			case 'w':
				if inClass {
					return nil, fmt.Errorf(`\w inside a character class not supported`)
				}
				// All characters except punctuation, separators and "other".
				b.WriteString(`[^\p{P}\p{Z}\p{C}]`)
			case 'W':
				if inClass {
					return nil, fmt.Errorf(`\W inside a character class not supported`)
				}
				b.WriteString(`[\p{P}\p{Z}\p{C}]`)
			case 'p', 'P':
				j := i + 1
				if j >= len(rs) || rs[j] != '{' {
					return nil, fmt.Errorf(`\%c without {`, e)
				}
				k := j
				for k < len(rs) && rs[k] != '}' {
					k++
				}
				if k >= len(rs) {
					return nil, fmt.Errorf(`unterminated \%c{`, e)
				}
				name := string(rs[j+1 : k])
				if strings.HasPrefix(name, "Is") {
					return nil, fmt.Errorf(`block escape \%c{%s} not supported`, e, name)
				}
				fmt.Fprintf(&b, `\%c{%s}`, e, name)
				i = k
			default:
				return nil, fmt.Errorf(`escape \%c not supported`, e)
			}
		case inClass:
			switch r {
			case ']':
				inClass = false
				b.WriteRune(r)
			case '[':
				return nil, fmt.Errorf("character class subtraction or nested class not supported")
			case '-':
				if i+1 < len(rs) && rs[i+1] == '[' {
					return nil, fmt.Errorf("character class subtraction not supported")
				}
				b.WriteRune(r)
			default:
				writeLiteral(&b, r)
			}
		case r == '[':
			inClass = true
			b.WriteRune(r)
			if i+1 < len(rs) && rs[i+1] == '^' {
				b.WriteRune('^')
				i++
			}
		case r == '.':
			b.WriteString(`[^\n\r]`)
		case r == '^' || r == '$':
			// Ordinary characters in XSD.
			b.WriteRune('\\')
			b.WriteRune(r)
		case r == '{':
			// A quantifier {n}, {n,} or {n,m}: copied as is once checked.
			k := i + 1
			for k < len(rs) && rs[k] != '}' {
				k++
			}
			if k >= len(rs) || !quantifier.MatchString(string(rs[i:k+1])) {
				return nil, fmt.Errorf("bad quantifier at %d", i)
			}
			b.WriteString(string(rs[i : k+1]))
			i = k
		case strings.ContainsRune("|?*+()}", r):
			b.WriteRune(r)
			if r == '(' && i+1 < len(rs) && rs[i+1] == '?' {
				return nil, fmt.Errorf("(? is not XSD syntax")
			}
		case r == ']':
			return nil, fmt.Errorf("unbalanced ]")
		default:
			writeLiteral(&b, r)
		}
	}
	if inClass {
		return nil, fmt.Errorf("unterminated character class")
	}
	b.WriteString(`)\z`)
	return regexp.Compile(b.String())
}

var quantifier = regexp.MustCompile(`^\{[0-9]+(,[0-9]*)?\}$`)

// writeLiteral writes r so Go's syntax reads it as itself: ASCII
// punctuation is escaped (Go accepts an escape before any of it).
func writeLiteral(b *strings.Builder, r rune) {
	if r < 0x80 && strings.ContainsRune("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", r) {
		b.WriteRune('\\')
	}
	b.WriteRune(r)
}
