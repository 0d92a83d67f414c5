package xsd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// dnode is one element of the document being validated.
type dnode struct {
	name    qname
	attrs   []xml.Attr
	kids    []*dnode
	parent  *dnode
	text    []byte
	hasText bool // non-whitespace character data
	line    int
}

// Validate checks doc against the schema: nil if it conforms, otherwise an
// *Error naming the first problem in document order. It refuses a DOCTYPE,
// documents above Limits.MaxBytes or nested above Limits.MaxDepth, and any
// encoding other than UTF-8.
func (s *Schema) Validate(doc []byte) error {
	root, err := s.read(doc)
	if err != nil {
		return err
	}
	decl := s.global[root.name]
	if decl == nil {
		if root.name.ns != s.ns {
			return invalid(root, "", fmt.Sprintf("root element %s is in namespace %q, not the schema's %q", root.name.local, root.name.ns, s.ns))
		}
		return invalid(root, "", fmt.Sprintf("root element %s is not declared by the schema (expected %s)", root.name.local, s.globalNames()))
	}
	v := &validator{s: s}
	if e := v.element(root, decl.typ); e != nil {
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

// read parses doc into a tree, enforcing the limits and refusing DTDs.
func (s *Schema) read(doc []byte) (*dnode, error) {
	lim := s.limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultLimits.MaxBytes
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	if len(doc) > lim.MaxBytes {
		return nil, &Error{Reason: fmt.Sprintf("document is %d bytes, above the limit of %d", len(doc), lim.MaxBytes), Err: ErrTooLarge}
	}
	if !utf8.Valid(doc) {
		return nil, &Error{Line: badUTF8Line(doc), Reason: "document is not valid UTF-8", Err: ErrMalformed}
	}
	d := newDecoder(doc)
	body := bytes.TrimPrefix(doc, bom)
	var stack []*dnode
	var root *dnode
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
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				line = se.Line
			}
			return nil, &Error{Line: line, Reason: "not well-formed XML: " + err.Error(), Err: ErrMalformed}
		}
		tokens++
		switch t := tok.(type) {
		case xml.Directive:
			return nil, &Error{Line: line, Reason: "DOCTYPE declarations are not accepted (no DTDs, no entities)", Err: ErrDTD}
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") && tokens > 1 {
				return nil, &Error{Line: line, Reason: "XML declaration not at the start", Err: ErrMalformed}
			}
			if t.Target == "xml" && !xmlDecl.Match(t.Inst) {
				return nil, &Error{Line: line, Reason: "XML declaration without a version", Err: ErrMalformed}
			}
		case xml.StartElement:
			if seenRoot && len(stack) == 0 {
				return nil, &Error{Line: line, Reason: "more than one root element", Err: ErrMalformed}
			}
			seenRoot = true
			if len(stack) >= lim.MaxDepth {
				return nil, &Error{Line: line, Reason: fmt.Sprintf("elements nest deeper than %d", lim.MaxDepth), Err: ErrTooDeep}
			}
			n := &dnode{name: qname{t.Name.Space, t.Name.Local}, line: line}
			for _, a := range t.Attr {
				if strings.Contains(a.Value, "\uFFFD") {
					sawReplacement = true
				}
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				n.attrs = append(n.attrs, a)
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				n.parent = p
				p.kids = append(p.kids, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				// Only literal whitespace may stand outside the root:
				// check the raw bytes, since "&#32;" decodes to a space.
				if len(bytes.Trim(body[offset:d.InputOffset()], " \t\r\n")) > 0 {
					return nil, &Error{Line: line, Reason: "text outside the root element", Err: ErrMalformed}
				}
				continue
			}
			n := stack[len(stack)-1]
			if bytes.Contains(t, replacementChar) {
				sawReplacement = true
			}
			n.text = append(n.text, t...)
			if !n.hasText && len(bytes.Trim(t, " \t\r\n")) > 0 {
				n.hasText = true
			}
		}
	}
	if root == nil {
		return nil, &Error{Reason: "no root element", Err: ErrMalformed}
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
				return nil, &Error{Line: 1 + bytes.Count(body[:loc[0]], []byte("\n")), Reason: "character reference to a surrogate: " + string(body[loc[0]:loc[1]]), Err: ErrMalformed}
			}
		}
	}
	return root, nil
}

var (
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

// path names n from the root, with [i] where siblings share its name.
func (n *dnode) path() string {
	var parts []string
	for x := n; x != nil; x = x.parent {
		seg := x.name.local
		if x.parent != nil {
			idx, count := 0, 0
			for _, k := range x.parent.kids {
				if k.name == x.name {
					count++
					if k == x {
						idx = count
					}
				}
			}
			if count > 1 {
				seg += "[" + strconv.Itoa(idx) + "]"
			}
		}
		parts = append(parts, seg)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

func invalid(n *dnode, attr, reason string) *Error {
	p := n.path()
	if attr != "" {
		p += "/@" + attr
	}
	return &Error{Line: n.line, Path: p, Reason: reason, Err: ErrInvalid}
}

type validator struct{ s *Schema }

// element validates n (and its subtree) against type td.
func (v *validator) element(n *dnode, td *typeDef) *Error {
	if e := v.attributes(n, td); e != nil {
		return e
	}
	if td.content == nil {
		if len(n.kids) > 0 {
			return invalid(n.kids[0], "", fmt.Sprintf("element %s not allowed: %s has a simple value (%s)", n.kids[0].name.local, n.name.local, td.name))
		}
		if r := td.st.check(string(n.text)); r != "" {
			return invalid(n, "", r)
		}
		return nil
	}
	if n.hasText {
		return invalid(n, "", fmt.Sprintf("text not allowed in %s: it holds elements only (%s)", n.name.local, td.name))
	}
	m := &matcher{kids: n.kids, bind: make([]binding, len(n.kids)), expPos: -1}
	merr := m.match(td.content)
	if merr == nil && m.pos < len(n.kids) {
		merr = &matchErr{pos: m.pos}
	}
	// Report in document order: problems inside the children before the
	// sequence's own error, which lies at or after them.
	limit := len(n.kids)
	if merr != nil {
		limit = merr.pos
	}
	for i := 0; i < limit && i < len(n.kids); i++ {
		if e := v.bound(n.kids[i], m.bind[i]); e != nil {
			return e
		}
	}
	if merr == nil {
		return nil
	}
	exp := m.expected(merr.pos)
	if merr.pos < len(n.kids) {
		k := n.kids[merr.pos]
		if merr.missing && merr.want.follow[k.name] {
			// k belongs later in this element: what is missing is what
			// should have come before it.
			e := invalid(n, "", fmt.Sprintf("missing %s before %s", names(merr.want), k.name.local))
			e.Line = k.line
			return e
		}
		reason := fmt.Sprintf("element %s not expected here", k.name.local)
		if k.name.ns != n.name.ns {
			reason = fmt.Sprintf("element %s in namespace %q not expected here", k.name.local, k.name.ns)
		}
		if exp != "" {
			reason += "; expected " + exp
		} else {
			reason += fmt.Sprintf("; nothing more is allowed in %s", n.name.local)
		}
		return invalid(k, "", reason)
	}
	return invalid(n, "", fmt.Sprintf("missing %s at the end of %s", names(merr.want), n.name.local))
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

// bound validates a child the content model matched.
func (v *validator) bound(n *dnode, b binding) *Error {
	if b.elem != nil {
		return v.element(n, b.elem.typ)
	}
	return v.wildcard(n, b.mode)
}

// wildcard validates an element matched by xs:any: skip checks nothing
// (it is already well-formed); lax validates an element the schema
// declares globally (a nested Document of the same message) and looks
// inside any other; strict requires a declaration.
func (v *validator) wildcard(n *dnode, mode int) *Error {
	if mode == modeSkip {
		return nil
	}
	if decl := v.s.global[n.name]; decl != nil {
		return v.element(n, decl.typ)
	}
	if mode == modeStrict {
		return invalid(n, "", fmt.Sprintf("no declaration for element %s matched by a strict wildcard", n.name.local))
	}
	if e := v.xsiAttrs(n); e != nil {
		return e
	}
	for _, k := range n.kids {
		if e := v.wildcard(k, mode); e != nil {
			return e
		}
	}
	return nil
}

// xsiAttrs refuses xsi:type and xsi:nil, which this subset does not
// implement (no type substitution, no nillable elements).
func (v *validator) xsiAttrs(n *dnode) *Error {
	for _, a := range n.attrs {
		if a.Name.Space == XSI && (a.Name.Local == "type" || a.Name.Local == "nil") {
			return invalid(n, "xsi:"+a.Name.Local, fmt.Sprintf("xsi:%s is not supported", a.Name.Local))
		}
	}
	return nil
}

func (v *validator) attributes(n *dnode, td *typeDef) *Error {
	seen := map[string]bool{}
	for _, a := range n.attrs {
		if a.Name.Space == XSI {
			switch a.Name.Local {
			case "schemaLocation", "noNamespaceSchemaLocation":
				continue
			default:
				return invalid(n, "xsi:"+a.Name.Local, fmt.Sprintf("attribute xsi:%s is not supported", a.Name.Local))
			}
		}
		if a.Name.Space != "" {
			return invalid(n, a.Name.Local, fmt.Sprintf("attribute %s in namespace %q not allowed on %s", a.Name.Local, a.Name.Space, n.name.local))
		}
		if seen[a.Name.Local] {
			return invalid(n, a.Name.Local, fmt.Sprintf("attribute %s repeated", a.Name.Local))
		}
		seen[a.Name.Local] = true
		var decl *attrDecl
		for _, d := range td.attrs {
			if d.name == a.Name.Local {
				decl = d
				break
			}
		}
		if decl == nil {
			return invalid(n, a.Name.Local, fmt.Sprintf("attribute %s not allowed on %s", a.Name.Local, n.name.local))
		}
		if r := decl.st.check(normalizeAttr(a.Value)); r != "" {
			return invalid(n, a.Name.Local, r)
		}
	}
	for _, d := range td.attrs {
		if d.required && !seen[d.name] {
			return invalid(n, "", fmt.Sprintf("missing required attribute %s", d.name))
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

// binding is what matched a child: an element declaration or a wildcard.
type binding struct {
	elem *elemDecl
	mode int
}

// matchErr is a content model failure at child pos (== len(kids) when the
// children ran out); missing when a required particle found no match
// there, rather than a child left over at the end.
type matchErr struct {
	pos     int
	missing bool
	want    *particle // the required particle that found no match
}

// matcher runs a content model over an element's children. The ISO
// schemas are deterministic (Unique Particle Attribution), so at each
// child at most one particle can take it and greedy matching by first
// sets never needs to backtrack.
type matcher struct {
	kids   []*dnode
	pos    int
	bind   []binding
	expPos int
	exp    []*particle
}

// note records that p could have started at the current position, for the
// "expected ..." part of the message; names are only gathered on error.
func (m *matcher) note(p *particle) {
	if m.expPos != m.pos {
		m.expPos = m.pos
		m.exp = m.exp[:0]
	}
	m.exp = append(m.exp, p)
}

func (m *matcher) expected(pos int) string {
	if m.expPos != pos || len(m.exp) == 0 {
		return ""
	}
	set := map[string]bool{}
	for _, p := range m.exp {
		for q := range p.first {
			set[q.local] = true
		}
		if p.anyFirst {
			set["any element"] = true
		}
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 1 {
		return names[0]
	}
	return "one of " + strings.Join(names, ", ")
}

func (p *particle) canStart(n *dnode) bool {
	return p.anyFirst || p.first[n.name]
}

// match matches p with its occurrence bounds at m.pos.
func (m *matcher) match(p *particle) *matchErr {
	count := 0
	for p.max == unbounded || count < p.max {
		if m.pos >= len(m.kids) || !p.canStart(m.kids[m.pos]) {
			m.note(p)
			break
		}
		start := m.pos
		if e := m.once(p); e != nil {
			return e
		}
		count++
		if m.pos == start {
			break
		}
	}
	if count < p.min && !p.nullable {
		if p.kind == pSequence {
			// Find the item that is missing: the items before it are
			// optional and cannot take the next child (it is not in the
			// sequence's first set), so this consumes nothing.
			if e := m.once(p); e != nil {
				return e
			}
		}
		return &matchErr{pos: m.pos, missing: true, want: p}
	}
	return nil
}

// once matches one occurrence of p's term; the caller checked canStart or
// accepts a nullable term matching nothing.
func (m *matcher) once(p *particle) *matchErr {
	switch p.kind {
	case pElement:
		m.bind[m.pos] = binding{elem: p.elem}
		m.pos++
	case pAny:
		m.bind[m.pos] = binding{mode: p.mode}
		m.pos++
	case pSequence:
		for _, q := range p.items {
			if e := m.match(q); e != nil {
				return e
			}
		}
	case pChoice:
		if m.pos < len(m.kids) {
			for _, q := range p.items {
				if q.canStart(m.kids[m.pos]) {
					return m.match(q)
				}
			}
		}
		for _, q := range p.items {
			m.note(q)
		}
		if !p.nullable {
			return &matchErr{pos: m.pos, missing: true, want: p}
		}
	}
	return nil
}
