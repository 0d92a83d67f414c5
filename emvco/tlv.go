package emvco

import (
	"strconv"
	"unicode/utf8"
)

// Field is one data object: a two-digit ID and its value.
type Field struct {
	ID    string
	Value string
}

// MaxPayload bounds a payload in characters (EMVCo MPM 4.1: 512).
const MaxPayload = 512

// parseTLV splits s into data objects. Lengths count characters (runes),
// not bytes: the specification's own example carries "最佳运输" with length
// 04. IDs are two digits and may appear once at each level; prefix names
// the enclosing template in errors.
func parseTLV(s, prefix string) ([]Field, error) {
	var fs []Field
	seen := map[string]bool{}
	for len(s) > 0 {
		if len(s) < 4 {
			return nil, fail(ErrTLV, prefix, "%d stray characters at the end", utf8.RuneCountInString(s))
		}
		id, ln := s[:2], s[2:4]
		if !digits(id) {
			return nil, fail(ErrTLV, prefix, "ID %q is not two digits", id)
		}
		tag := join(prefix, id)
		if !digits(ln) {
			return nil, fail(ErrTLV, tag, "length %q is not two digits", ln)
		}
		n, _ := strconv.Atoi(ln)
		if n == 0 {
			return nil, fail(ErrTLV, tag, "zero length")
		}
		rest := s[4:]
		end := 0
		for i := 0; i < n; i++ {
			if end >= len(rest) {
				return nil, fail(ErrTLV, tag, "length %d runs past the end", n)
			}
			r, size := utf8.DecodeRuneInString(rest[end:])
			if r == utf8.RuneError && size <= 1 {
				return nil, fail(ErrTLV, tag, "invalid UTF-8")
			}
			end += size
		}
		if seen[id] {
			return nil, fail(ErrTLV, tag, "appears twice")
		}
		seen[id] = true
		fs = append(fs, Field{ID: id, Value: rest[:end]})
		s = rest[end:]
	}
	return fs, nil
}

// appendTLV appends one data object; the caller has checked that v is 1 to
// 99 characters.
func appendTLV(b []byte, id, v string) []byte {
	n := utf8.RuneCountInString(v)
	b = append(b, id...)
	b = append(b, byte('0'+n/10), byte('0'+n%10))
	return append(b, v...)
}

func join(prefix, id string) string {
	if prefix == "" {
		return id
	}
	return prefix + "." + id
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ans reports whether s is in the EMVCo common character set ("ans":
// printable ASCII, 0x20 to 0x7E), required of every data object outside
// the language template (tag 64).
func ans(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}
