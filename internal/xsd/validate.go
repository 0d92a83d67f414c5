package xsd

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validation streams: each element is checked as the reader reaches it
// (its attributes and its place in the parent's content model at its start
// tag, its value or its missing children at its end tag), and only the
// open elements are held. A hostile document therefore fails at its first
// problem and costs memory in proportion to its depth, not its size.

// open is an element whose end tag has not been read yet.
type open struct {
	name qname
	line int
	// idx is the element's 1-based index among its same-named siblings
	// so far; showIdx puts it in the path (a repeatable element, or a
	// second occurrence).
	idx     int
	showIdx bool
	td      *typeDef // nil inside a wildcard's content
	mode    int      // modeStrict when td is set, else modeLax or modeSkip
	m       *machine // element-only content: the content model's state
	text    []byte   // simple content: the value so far
	counts  []nameCount
	// mach is m's storage, kept with the slot for the next element at
	// this depth (as are text and counts), so reading allocates little.
	mach machine
}

// repeatedAttr names an attribute that appears twice on one element (by
// expanded name, so a:x and b:x with one namespace count as the same),
// which XML forbids and encoding/xml does not check; "" when none does.
func repeatedAttr(attrs []xml.Attr) string {
	if len(attrs) < 2 {
		return ""
	}
	seen := make(map[xml.Name]bool, len(attrs))
	for _, a := range attrs {
		if seen[a.Name] {
			if a.Name.Space != "" {
				return a.Name.Space + ":" + a.Name.Local
			}
			return a.Name.Local
		}
		seen[a.Name] = true
	}
	return ""
}

// nameCount counts the children of one name so far.
type nameCount struct {
	name qname
	n    int
}

// count adds a child named q and returns how many there are now.
func (o *open) count(q qname) int {
	for i := range o.counts {
		if o.counts[i].name == q {
			o.counts[i].n++
			return o.counts[i].n
		}
	}
	o.counts = append(o.counts, nameCount{q, 1})
	return 1
}

// Validate checks doc against the schema: nil if it conforms, otherwise an
// *Error naming the first problem in document order. It refuses a DOCTYPE,
// documents above Limits.MaxBytes or nested above Limits.MaxDepth, and any
// encoding other than UTF-8.
func (s *Schema) Validate(doc []byte) error {
	if e := s.validate(doc); e != nil {
		return e
	}
	return nil
}

func (s *Schema) globalNames() string {
	var ns []string
	for q := range s.global {
		ns = append(ns, q.local)
	}
	sort.Strings(ns)
	return strings.Join(ns, ", ")
}

// validate reads doc token by token, enforcing the limits and refusing
// DTDs, and checks each element as it goes.
func (s *Schema) validate(doc []byte) *Error {
	lim := s.limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultLimits.MaxBytes
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	if len(doc) > lim.MaxBytes {
		return &Error{Reason: fmt.Sprintf("document is %d bytes, above the limit of %d", len(doc), lim.MaxBytes), Err: ErrTooLarge}
	}
	if !utf8.Valid(doc) {
		return &Error{Line: badUTF8Line(doc), Reason: "document is not valid UTF-8", Err: ErrMalformed}
	}
	d := newDecoder(doc)
	body := bytes.TrimPrefix(doc, bom)
	v := &validator{s: s}
	seenRoot := false
	sawReplacement := false
	tokens := 0
	for {
		line, _ := d.InputPos()
		offset := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if se, ok := err.(*xml.SyntaxError); ok {
				line = se.Line
			}
			return &Error{Line: line, Reason: "not well-formed XML: " + err.Error(), Err: ErrMalformed}
		}
		tokens++
		switch t := tok.(type) {
		case xml.Directive:
			return &Error{Line: line, Reason: "DOCTYPE declarations are not accepted (no DTDs, no entities)", Err: ErrDTD}
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") && tokens > 1 {
				return &Error{Line: line, Reason: "XML declaration not at the start", Err: ErrMalformed}
			}
			if t.Target == "xml" && !xmlDecl.Match(t.Inst) {
				return &Error{Line: line, Reason: "XML declaration without a version", Err: ErrMalformed}
			}
		case xml.StartElement:
			if seenRoot && len(v.stack) == 0 {
				return &Error{Line: line, Reason: "more than one root element", Err: ErrMalformed}
			}
			seenRoot = true
			if len(v.stack) >= lim.MaxDepth {
				return &Error{Line: line, Reason: fmt.Sprintf("elements nest deeper than %d", lim.MaxDepth), Err: ErrTooDeep}
			}
			for _, a := range t.Attr {
				if strings.Contains(a.Value, "\uFFFD") {
					sawReplacement = true
				}
			}
			if dup := repeatedAttr(t.Attr); dup != "" {
				return &Error{Line: line, Reason: "attribute " + dup + " repeated", Err: ErrMalformed}
			}
			if e := v.start(t, line); e != nil {
				return e
			}
		case xml.EndElement:
			if e := v.end(line); e != nil {
				return e
			}
		case xml.CharData:
			if len(v.stack) == 0 {
				// Only literal whitespace may stand outside the root:
				// check the raw bytes, since "&#32;" decodes to a space.
				if len(bytes.Trim(body[offset:d.InputOffset()], " \t\r\n")) > 0 {
					return &Error{Line: line, Reason: "text outside the root element", Err: ErrMalformed}
				}
				continue
			}
			if bytes.Contains(t, replacementChar) {
				sawReplacement = true
			}
			if e := v.chars(t, body[offset:d.InputOffset()], line); e != nil {
				return e
			}
		}
	}
	if !seenRoot {
		return &Error{Reason: "no root element", Err: ErrMalformed}
	}
	// encoding/xml decodes a character reference to a surrogate (&#xD800;),
	// which XML forbids, as U+FFFD; look for such a reference only when a
	// U+FFFD was seen.
	if sawReplacement {
		for _, loc := range charRef.FindAllSubmatchIndex(body, -1) {
			var n uint64
			var err error
			if loc[2] >= 0 {
				n, err = strconv.ParseUint(string(body[loc[2]:loc[3]]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(body[loc[4]:loc[5]]), 10, 32)
			}
			if err == nil && n >= 0xD800 && n <= 0xDFFF {
				return &Error{Line: 1 + bytes.Count(body[:loc[0]], []byte("\n")), Reason: "character reference to a surrogate: " + string(body[loc[0]:loc[1]]), Err: ErrMalformed}
			}
		}
	}
	return nil
}

var (
	cdataStart      = []byte("<![CDATA[")
	replacementChar = []byte("\uFFFD")
	// charRef matches a character reference, hex or decimal.
	charRef = regexp.MustCompile(`&#(?:x([0-9a-fA-F]{1,8})|([0-9]{1,10}));`)
	// xmlDecl: an XML declaration begins with its version.
	xmlDecl = regexp.MustCompile(`^\s*version\s*=`)
)

func badUTF8Line(doc []byte) int {
	line := 1
	for len(doc) > 0 {
		r, size := utf8.DecodeRune(doc)
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		doc = doc[size:]
	}
	return line
}

// bom is the UTF-8 byte order mark, which may precede a document.
var bom = []byte("\xef\xbb\xbf")

// newDecoder is the one way this package reads a document: strict,
// UTF-8 only (an encoding declaration naming anything else is refused),
// after a byte order mark if there is one.
func newDecoder(doc []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(doc, bom)))
	d.Strict = true
	d.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "utf-8") || strings.EqualFold(label, "utf8") {
			return input, nil
		}
		return nil, fmt.Errorf("encoding %q not supported (only UTF-8)", label)
	}
	return d
}

// RootName reads a document only as far as its root element and returns
// the root's namespace and local name, refusing a DOCTYPE, oversize input
// (DefaultLimits.MaxBytes), a non-UTF-8 encoding and malformed XML before
// it with an *Error, as Validate would. It lets a caller pick the schema
// (the ISO 20022 message) from the namespace before validating.
func RootName(doc []byte) (space, local string, err error) {
	if len(doc) > DefaultLimits.MaxBytes {
		return "", "", &Error{Reason: fmt.Sprintf("document is %d bytes, above the limit of %d", len(doc), DefaultLimits.MaxBytes), Err: ErrTooLarge}
	}
	d := newDecoder(doc)
	body := bytes.TrimPrefix(doc, bom)
	for {
		line, _ := d.InputPos()
		offset := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			return "", "", &Error{Line: line, Reason: "no root element", Err: ErrMalformed}
		}
		if err != nil {
			return "", "", &Error{Line: line, Reason: "not well-formed XML: " + err.Error(), Err: ErrMalformed}
		}
		switch t := tok.(type) {
		case xml.Directive:
			return "", "", &Error{Line: line, Reason: "DOCTYPE declarations are not accepted (no DTDs, no entities)", Err: ErrDTD}
		case xml.CharData:
			if len(bytes.Trim(body[offset:d.InputOffset()], " \t\r\n")) > 0 {
				return "", "", &Error{Line: line, Reason: "text before the root element", Err: ErrMalformed}
			}
		case xml.StartElement:
			return t.Name.Space, t.Name.Local, nil
		}
	}
}

// validator holds the open elements of the document being read.
type validator struct {
	s     *Schema
	stack []*open
	// slots keeps one open per depth reached, reused for each element at
	// that depth.
	slots []*open
}

// push opens an element at the next depth, reusing that depth's slot.
func (v *validator) push(name qname, line int) *open {
	d := len(v.stack)
	if d == len(v.slots) {
		v.slots = append(v.slots, &open{})
	}
	o := v.slots[d]
	o.name, o.line, o.idx, o.showIdx = name, line, 1, false
	o.td, o.mode, o.m = nil, modeStrict, nil
	o.text, o.counts = o.text[:0], o.counts[:0]
	v.stack = append(v.stack, o)
	return o
}

// path names the innermost open element from the root, with [i] on a
// repeatable element or a repeated one, and /@attr for an attribute.
func (v *validator) path(attr string) string {
	var b strings.Builder
	for _, o := range v.stack {
		b.WriteByte('/')
		b.WriteString(o.name.local)
		if o.showIdx {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(o.idx))
			b.WriteByte(']')
		}
	}
	if attr != "" {
		b.WriteString("/@")
		b.WriteString(attr)
	}
	return b.String()
}

// fail is a validity error at the innermost open element.
func (v *validator) fail(line int, attr, reason string) *Error {
	return &Error{Line: line, Path: v.path(attr), Reason: reason, Err: ErrInvalid}
}

// start handles a start tag: its place in the parent, then its attributes.
func (v *validator) start(t xml.StartElement, line int) *Error {
	name := qname{t.Name.Space, t.Name.Local}
	var parent *open
	if len(v.stack) > 0 {
		parent = v.stack[len(v.stack)-1]
	}
	o := v.push(name, line)
	if parent != nil {
		o.idx = parent.count(name)
		o.showIdx = o.idx > 1
	}
	switch {
	case parent == nil:
		decl := v.s.global[name]
		if decl == nil {
			if name.ns != v.s.ns {
				return v.fail(line, "", fmt.Sprintf("root element %s is in namespace %q, not the schema's %q", name.local, name.ns, v.s.ns))
			}
			return v.fail(line, "", fmt.Sprintf("root element %s is not declared by the schema (expected %s)", name.local, v.s.globalNames()))
		}
		o.td = decl.typ
	case parent.td == nil:
		// Inside a wildcard's content: skip checks nothing; lax checks
		// an element the schema declares globally, and looks inside any
		// other.
		if parent.mode == modeSkip {
			o.mode = modeSkip
			return nil
		}
		if decl := v.s.global[name]; decl != nil {
			o.td = decl.typ
		} else {
			o.mode = modeLax
			return v.xsiAttrs(o, t.Attr)
		}
	case parent.m == nil:
		return v.fail(line, "", fmt.Sprintf("element %s not allowed: %s has a simple value (%s)", name.local, parent.name.local, parent.td.name))
	default:
		b, e := parent.m.feed(&name)
		if e != nil {
			// A missing element is the parent's problem, reported at
			// the parent (on this line); otherwise this element does not
			// belong.
			if e.atParent {
				v.stack = v.stack[:len(v.stack)-1]
			}
			return v.fail(line, "", e.reason)
		}
		o.showIdx = o.showIdx || b.repeatable
		switch decl := v.s.global[name]; {
		case b.elem != nil:
			o.td = b.elem.typ
		case b.mode == modeSkip:
			o.mode = modeSkip
			return nil
		case decl != nil:
			// A wildcard's element the schema declares globally is
			// validated against its declaration (strict or lax).
			o.td = decl.typ
		case b.mode == modeStrict:
			return v.fail(line, "", fmt.Sprintf("no declaration for element %s matched by a strict wildcard", name.local))
		default:
			o.mode = modeLax
			return v.xsiAttrs(o, t.Attr)
		}
	}
	if o.td.content != nil {
		o.mach.reset(o.td.content, name)
		o.m = &o.mach
	}
	return v.attributes(o, t.Attr)
}

// chars handles character data inside the innermost element; raw is its
// source text.
func (v *validator) chars(t, raw []byte, line int) *Error {
	o := v.stack[len(v.stack)-1]
	switch {
	case o.td == nil:
		return nil
	case o.m != nil:
		// A CDATA section is character content even when empty or blank,
		// as libxml2 has it.
		if len(bytes.Trim(t, " \t\r\n")) > 0 || bytes.HasPrefix(raw, cdataStart) {
			return v.fail(line, "", fmt.Sprintf("text not allowed in %s: it holds elements only (%s)", o.name.local, o.td.name))
		}
	default:
		o.text = append(o.text, t...)
	}
	return nil
}

// end handles an end tag: the value of a simple element, the missing
// children of a complex one.
func (v *validator) end(line int) *Error {
	o := v.stack[len(v.stack)-1]
	var e *Error
	switch {
	case o.td == nil:
	case o.m != nil:
		// Reported on the end tag's line, where the missing element
		// belongs.
		if _, me := o.m.feed(nil); me != nil {
			e = v.fail(line, "", me.reason)
		}
	default:
		if r := o.td.st.check(string(o.text)); r != "" {
			e = v.fail(o.line, "", r)
		}
	}
	v.stack = v.stack[:len(v.stack)-1]
	return e
}

// xsiAttrs refuses xsi:type and xsi:nil inside lax content, which this
// subset does not implement (no type substitution, no nillable elements).
func (v *validator) xsiAttrs(o *open, attrs []xml.Attr) *Error {
	for _, a := range attrs {
		if a.Name.Space == XSI && (a.Name.Local == "type" || a.Name.Local == "nil") {
			return v.fail(o.line, "xsi:"+a.Name.Local, fmt.Sprintf("xsi:%s is not supported", a.Name.Local))
		}
	}
	return nil
}

// attributes checks o's attributes against its type.
func (v *validator) attributes(o *open, attrs []xml.Attr) *Error {
	td := o.td
	var seen []string
	for _, a := range attrs {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		if a.Name.Space == XSI {
			switch a.Name.Local {
			case "schemaLocation", "noNamespaceSchemaLocation":
				continue
			default:
				return v.fail(o.line, "xsi:"+a.Name.Local, fmt.Sprintf("xsi:%s is not supported", a.Name.Local))
			}
		}
		if a.Name.Space != "" {
			return v.fail(o.line, a.Name.Local, fmt.Sprintf("attribute %s in namespace %q not allowed on %s", a.Name.Local, a.Name.Space, o.name.local))
		}
		seen = append(seen, a.Name.Local)
		var decl *attrDecl
		for _, d := range td.attrs {
			if d.name == a.Name.Local {
				decl = d
				break
			}
		}
		if decl == nil {
			return v.fail(o.line, a.Name.Local, fmt.Sprintf("attribute %s not allowed on %s", a.Name.Local, o.name.local))
		}
		if r := decl.st.check(normalizeAttr(a.Value)); r != "" {
			return v.fail(o.line, a.Name.Local, r)
		}
	}
	for _, d := range td.attrs {
		found := false
		for _, n := range seen {
			found = found || n == d.name
		}
		if d.required && !found {
			return v.fail(o.line, "", fmt.Sprintf("missing required attribute %s", d.name))
		}
	}
	return nil
}

// normalizeAttr applies XML attribute-value normalization (each tab, CR
// and LF becomes a space), which encoding/xml leaves undone.
func normalizeAttr(s string) string {
	if !strings.ContainsAny(s, "\t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// names lists the elements that can start p: "X" or "one of X, Y".
func names(p *particle) string {
	var ns []string
	for q := range p.first {
		ns = append(ns, q.local)
	}
	if p.anyFirst {
		ns = append(ns, "any element")
	}
	sort.Strings(ns)
	if len(ns) == 1 {
		return ns[0]
	}
	return "one of " + strings.Join(ns, ", ")
}
