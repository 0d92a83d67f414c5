package xsd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// qname is a namespace-qualified name.
type qname struct{ ns, local string }

func (q qname) String() string { return q.local }

// unbounded is maxOccurs="unbounded".
const unbounded = -1

// elemDecl is an element declaration, global or local.
type elemDecl struct {
	name qname
	typ  *typeDef
}

// typeDef is a named or anonymous type: simple (st set, no attributes, no
// content), simple content with attributes (st and attrs), or element-only
// content (content).
type typeDef struct {
	name    string
	st      *simpleType
	attrs   []*attrDecl
	content *particle
}

// attrDecl is an attribute declaration (always unqualified in these
// schemas: attributeFormDefault is unqualified).
type attrDecl struct {
	name     string
	st       *simpleType
	required bool
}

// particle kinds.
const (
	pElement = iota
	pSequence
	pChoice
	pAny
)

// wildcard processing modes (xs:any processContents).
const (
	modeStrict = iota
	modeLax
	modeSkip
)

// particle is one term of a content model with its occurrence bounds.
type particle struct {
	kind     int
	min, max int // max == unbounded for no limit
	elem     *elemDecl
	items    []*particle
	mode     int // pAny: processContents
	line     int
	nullable bool // the term (one occurrence) can match nothing
	// follow holds the element names that may come after this particle
	// in its type's content model, so a failure can say "missing X
	// before Y" only when Y really belongs after X.
	follow   map[qname]bool
	first    map[qname]bool // element names that can start the term
	anyFirst bool           // a wildcard can start the term
	// repeatable: this element or wildcard may occur more than once in
	// its parent (it or an enclosing particle has maxOccurs above 1), so
	// paths always give its index.
	repeatable bool
}

// builtin kinds of simple type.
const (
	bString = iota
	bDecimal
	bBoolean
	bDate
	bDateTime
	bTime
	bGYearMonth
	bGYear
	bBase64
)

var builtins = map[string]int{
	"string": bString, "decimal": bDecimal, "boolean": bBoolean,
	"date": bDate, "dateTime": bDateTime, "time": bTime,
	"gYearMonth": bGYearMonth, "gYear": bGYear, "base64Binary": bBase64,
}

// simpleType is a built-in type narrowed by facets. Facets of every
// derivation step are folded in: lengths and bounds take the tightest
// value, patterns keep one group per step (a value must match one pattern
// of every group), enumerations keep one set per step.
type simpleType struct {
	name           string
	builtin        int
	patterns       [][]*regexp.Regexp
	patternSrc     [][]string
	enums          []map[string]bool
	length         int // -1 when absent
	minLen, maxLen int // -1 when absent
	totalDigits    int // -1 when absent
	fractionDigits int // -1 when absent
	minIncl        *big.Rat
	maxIncl        *big.Rat
	minExcl        *big.Rat
	maxExcl        *big.Rat
}

// xnode is one element of a schema document.
type xnode struct {
	name  qname
	attrs map[string]string // unqualified attributes only
	ns    map[string]string // prefix -> namespace in scope
	kids  []*xnode
	line  int
}

func (n *xnode) attr(k string) (string, bool) { v, ok := n.attrs[k]; return v, ok }

// CompileError is a schema that could not be compiled: a construct outside
// the supported subset, a dangling type reference, or bad XML.
type CompileError struct {
	File   string
	Line   int
	Reason string
}

// Error names the schema file, line and problem.
func (e *CompileError) Error() string {
	return fmt.Sprintf("xsd: compile %s:%d: %s", e.File, e.Line, e.Reason)
}

// Compile reads the schema file name from fsys and compiles it.
//
// The supported subset, which is what the ISO 20022 schemas use:
// xs:schema with targetNamespace and elementFormDefault="qualified";
// global xs:element; named xs:complexType with xs:sequence and xs:choice
// (nested) of xs:element and xs:any (namespace="##any", processContents
// strict, lax or skip) with minOccurs/maxOccurs; xs:simpleContent with
// xs:extension of a simple type adding xs:attribute (use required or
// optional); named xs:simpleType restricting xs:string, xs:decimal,
// xs:boolean, xs:date, xs:dateTime, xs:time, xs:gYear, xs:gYearMonth or
// xs:base64Binary (or another such simple type) with the facets pattern,
// enumeration, length, minLength, maxLength, totalDigits, fractionDigits,
// minInclusive, maxInclusive, minExclusive and maxExclusive (enumerations
// on strings only; xs:annotation is ignored). Anything else (another element or attribute of the XSD vocabulary, xs:include and
// xs:import, substitution groups, defaults, fixed values, nillable, mixed
// content, unsupported regex constructs) is a *CompileError.
func Compile(fsys fs.FS, name string) (*Schema, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("xsd: read schema %s: %w", name, err)
	}
	root, err := parseSchemaDoc(raw)
	if err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			ce.File = name
		}
		return nil, err
	}
	c := &compiler{file: name, simple: map[string]*xnode{}, complex: map[string]*xnode{},
		st: map[string]*simpleType{}, ct: map[string]*typeDef{}, stBusy: map[string]bool{}}
	s, err := c.schema(root)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// parseSchemaDoc reads a schema document into xnodes, keeping the
// namespace declarations in scope at every element (QName-valued
// attributes such as type="Max35Text" resolve against them).
func parseSchemaDoc(raw []byte) (*xnode, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var stack []*xnode
	var root *xnode
	for {
		line, _ := d.InputPos()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &CompileError{Line: line, Reason: "not well-formed XML: " + err.Error()}
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, &CompileError{Line: line, Reason: "DOCTYPE not supported"}
		case xml.StartElement:
			n := &xnode{name: qname{t.Name.Space, t.Name.Local}, attrs: map[string]string{}, line: line}
			ns := map[string]string{}
			if len(stack) > 0 {
				for k, v := range stack[len(stack)-1].ns {
					ns[k] = v
				}
			}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					ns[a.Name.Local] = a.Value
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					ns[""] = a.Value
				case a.Name.Space == "":
					n.attrs[a.Name.Local] = a.Value
				default:
					return nil, &CompileError{Line: line, Reason: fmt.Sprintf("qualified attribute %s:%s not supported", a.Name.Space, a.Name.Local)}
				}
			}
			n.ns = ns
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, &CompileError{Line: line, Reason: "unexpected text in schema"}
			}
		}
	}
	if root == nil {
		return nil, &CompileError{Reason: "empty schema document"}
	}
	return root, nil
}

type compiler struct {
	file    string
	tns     string
	simple  map[string]*xnode
	complex map[string]*xnode
	st      map[string]*simpleType
	ct      map[string]*typeDef
	stBusy  map[string]bool
}

func (c *compiler) errf(n *xnode, format string, a ...any) error {
	line := 0
	if n != nil {
		line = n.line
	}
	return &CompileError{File: c.file, Line: line, Reason: fmt.Sprintf(format, a...)}
}

// onlyAttrs fails on any attribute of n outside allowed, so an unsupported
// feature (default, fixed, nillable, mixed, ref, ...) is loud.
func (c *compiler) onlyAttrs(n *xnode, allowed ...string) error {
	for k := range n.attrs {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return c.errf(n, "attribute %q on xs:%s not supported", k, n.name.local)
		}
	}
	return nil
}

// isXS reports whether n is the XSD element local, failing on any element
// not in the XSD namespace.
func (c *compiler) isXS(n *xnode, local string) bool {
	return n.name.ns == XSD && n.name.local == local
}

// kids returns n's children other than xs:annotation (documentation never
// changes what validates).
func kids(n *xnode) []*xnode {
	var out []*xnode
	for _, k := range n.kids {
		if k.name.ns == XSD && k.name.local == "annotation" {
			continue
		}
		out = append(out, k)
	}
	return out
}

func (c *compiler) schema(root *xnode) (*Schema, error) {
	if !c.isXS(root, "schema") {
		return nil, c.errf(root, "root element is %s, not xs:schema", root.name.local)
	}
	if err := c.onlyAttrs(root, "targetNamespace", "elementFormDefault", "attributeFormDefault", "version"); err != nil {
		return nil, err
	}
	tns, ok := root.attr("targetNamespace")
	if !ok || tns == "" {
		return nil, c.errf(root, "xs:schema without targetNamespace not supported")
	}
	if v, _ := root.attr("elementFormDefault"); v != "qualified" {
		return nil, c.errf(root, "elementFormDefault %q not supported (only qualified)", v)
	}
	if v, ok := root.attr("attributeFormDefault"); ok && v != "unqualified" {
		return nil, c.errf(root, "attributeFormDefault %q not supported", v)
	}
	c.tns = tns
	var globals []*xnode
	for _, k := range kids(root) {
		name, _ := k.attr("name")
		switch {
		case c.isXS(k, "element"):
			globals = append(globals, k)
		case c.isXS(k, "simpleType"):
			if name == "" || c.simple[name] != nil || c.complex[name] != nil {
				return nil, c.errf(k, "simple type without a name or named twice: %q", name)
			}
			c.simple[name] = k
		case c.isXS(k, "complexType"):
			if name == "" || c.simple[name] != nil || c.complex[name] != nil {
				return nil, c.errf(k, "complex type without a name or named twice: %q", name)
			}
			c.complex[name] = k
		default:
			return nil, c.errf(k, "top-level %s not supported", k.name.local)
		}
	}
	s := &Schema{ns: tns, global: map[qname]*elemDecl{}, limits: DefaultLimits}
	// Compile every named type, used or not, so a schema with an
	// unsupported construct anywhere fails here and not on some message.
	names := make([]string, 0, len(c.simple))
	for n := range c.simple {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := c.simpleType(n, c.simple[n]); err != nil {
			return nil, err
		}
	}
	names = names[:0]
	for n := range c.complex {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := c.complexType(n); err != nil {
			return nil, err
		}
	}
	for _, g := range globals {
		if err := c.onlyAttrs(g, "name", "type"); err != nil {
			return nil, err
		}
		name, _ := g.attr("name")
		if name == "" {
			return nil, c.errf(g, "global element without a name")
		}
		if len(kids(g)) > 0 {
			return nil, c.errf(g, "anonymous types not supported")
		}
		td, err := c.typeRef(g)
		if err != nil {
			return nil, err
		}
		q := qname{tns, name}
		if s.global[q] != nil {
			return nil, c.errf(g, "element %s declared twice", name)
		}
		s.global[q] = &elemDecl{name: q, typ: td}
	}
	if len(s.global) == 0 {
		return nil, c.errf(root, "schema declares no global element")
	}
	return s, nil
}

// resolveQName resolves a QName-valued attribute against n's namespaces.
func (c *compiler) resolveQName(n *xnode, v string) (qname, error) {
	prefix, local := "", v
	if i := strings.IndexByte(v, ':'); i >= 0 {
		prefix, local = v[:i], v[i+1:]
	}
	ns, ok := n.ns[prefix]
	if !ok {
		if prefix == "" {
			return qname{"", local}, nil
		}
		return qname{}, c.errf(n, "undeclared prefix %q in %q", prefix, v)
	}
	return qname{ns, local}, nil
}

// typeRef resolves n's type attribute to a type definition.
func (c *compiler) typeRef(n *xnode) (*typeDef, error) {
	v, ok := n.attr("type")
	if !ok {
		return nil, c.errf(n, "element without a type attribute not supported")
	}
	q, err := c.resolveQName(n, v)
	if err != nil {
		return nil, err
	}
	if q.ns == XSD {
		st, err := c.builtin(n, q.local)
		if err != nil {
			return nil, err
		}
		return &typeDef{name: "xs:" + q.local, st: st}, nil
	}
	if q.ns != c.tns {
		return nil, c.errf(n, "type %q in foreign namespace %q", v, q.ns)
	}
	if c.simple[q.local] != nil {
		st, err := c.simpleType(q.local, c.simple[q.local])
		if err != nil {
			return nil, err
		}
		return &typeDef{name: q.local, st: st}, nil
	}
	if c.complex[q.local] != nil {
		return c.complexType(q.local)
	}
	return nil, c.errf(n, "type %q not defined", v)
}

func (c *compiler) builtin(n *xnode, local string) (*simpleType, error) {
	b, ok := builtins[local]
	if !ok {
		return nil, c.errf(n, "built-in type xs:%s not supported", local)
	}
	return &simpleType{name: "xs:" + local, builtin: b, length: -1, minLen: -1, maxLen: -1,
		totalDigits: -1, fractionDigits: -1}, nil
}

// simpleTypeRef resolves a base attribute naming a simple type.
func (c *compiler) simpleTypeRef(n *xnode, v string) (*simpleType, error) {
	q, err := c.resolveQName(n, v)
	if err != nil {
		return nil, err
	}
	if q.ns == XSD {
		return c.builtin(n, q.local)
	}
	if q.ns != c.tns || c.simple[q.local] == nil {
		return nil, c.errf(n, "base %q is not a simple type of this schema", v)
	}
	return c.simpleType(q.local, c.simple[q.local])
}

func (c *compiler) simpleType(name string, n *xnode) (*simpleType, error) {
	if st := c.st[name]; st != nil {
		return st, nil
	}
	if c.stBusy[name] {
		return nil, c.errf(n, "simple type %s derives from itself", name)
	}
	c.stBusy[name] = true
	defer delete(c.stBusy, name)
	if err := c.onlyAttrs(n, "name"); err != nil {
		return nil, err
	}
	ks := kids(n)
	if len(ks) != 1 || !c.isXS(ks[0], "restriction") {
		return nil, c.errf(n, "simple type %s: only xs:restriction supported (no list, no union)", name)
	}
	r := ks[0]
	if err := c.onlyAttrs(r, "base"); err != nil {
		return nil, err
	}
	baseName, _ := r.attr("base")
	base, err := c.simpleTypeRef(r, baseName)
	if err != nil {
		return nil, err
	}
	st := *base
	st.name = name
	// Copy the slices so the base keeps its own facets.
	st.patterns = append([][]*regexp.Regexp(nil), base.patterns...)
	st.patternSrc = append([][]string(nil), base.patternSrc...)
	st.enums = append([]map[string]bool(nil), base.enums...)
	var pats []*regexp.Regexp
	var srcs []string
	var enum map[string]bool
	for _, f := range kids(r) {
		if f.name.ns != XSD {
			return nil, c.errf(f, "unexpected %s in xs:restriction", f.name.local)
		}
		if err := c.onlyAttrs(f, "value"); err != nil {
			return nil, err
		}
		v, ok := f.attr("value")
		if !ok {
			return nil, c.errf(f, "facet xs:%s without a value", f.name.local)
		}
		switch f.name.local {
		case "pattern":
			re, err := compilePattern(v)
			if err != nil {
				return nil, c.errf(f, "pattern %q: %v", v, err)
			}
			pats = append(pats, re)
			srcs = append(srcs, v)
		case "enumeration":
			if enum == nil {
				enum = map[string]bool{}
			}
			if st.builtin != bString {
				return nil, c.errf(f, "enumeration on %s not supported (only on strings)", base.name)
			}
			enum[v] = true
		case "length", "minLength", "maxLength", "totalDigits", "fractionDigits":
			k, err := strconv.Atoi(v)
			if err != nil || k < 0 {
				return nil, c.errf(f, "facet xs:%s: bad value %q", f.name.local, v)
			}
			lengthy := st.builtin == bString || st.builtin == bBase64
			switch f.name.local {
			case "length":
				if !lengthy {
					return nil, c.errf(f, "length on %s not supported", base.name)
				}
				st.length = k
			case "minLength":
				if !lengthy {
					return nil, c.errf(f, "minLength on %s not supported", base.name)
				}
				if k > st.minLen {
					st.minLen = k
				}
			case "maxLength":
				if !lengthy {
					return nil, c.errf(f, "maxLength on %s not supported", base.name)
				}
				if st.maxLen < 0 || k < st.maxLen {
					st.maxLen = k
				}
			case "totalDigits":
				if st.builtin != bDecimal || k == 0 {
					return nil, c.errf(f, "totalDigits %q on %s not supported", v, base.name)
				}
				if st.totalDigits < 0 || k < st.totalDigits {
					st.totalDigits = k
				}
			case "fractionDigits":
				if st.builtin != bDecimal {
					return nil, c.errf(f, "fractionDigits on %s not supported", base.name)
				}
				if st.fractionDigits < 0 || k < st.fractionDigits {
					st.fractionDigits = k
				}
			}
		case "minInclusive", "maxInclusive", "minExclusive", "maxExclusive":
			if st.builtin != bDecimal {
				return nil, c.errf(f, "%s on %s not supported (only on decimals)", f.name.local, base.name)
			}
			dv, ok := parseDecimal(strings.TrimSpace(v))
			if !ok {
				return nil, c.errf(f, "%s: %q is not a decimal", f.name.local, v)
			}
			r := dv.rat()
			switch f.name.local {
			case "minInclusive":
				st.minIncl = r
			case "maxInclusive":
				st.maxIncl = r
			case "minExclusive":
				st.minExcl = r
			case "maxExclusive":
				st.maxExcl = r
			}
		default:
			return nil, c.errf(f, "facet xs:%s not supported", f.name.local)
		}
	}
	if pats != nil {
		st.patterns = append(st.patterns, pats)
		st.patternSrc = append(st.patternSrc, srcs)
	}
	if enum != nil {
		st.enums = append(st.enums, enum)
	}
	c.st[name] = &st
	return &st, nil
}

func (c *compiler) complexType(name string) (*typeDef, error) {
	if td := c.ct[name]; td != nil {
		// Either done, or being read further up the stack: a recursive
		// content model refers to it by pointer, filled when done.
		return td, nil
	}
	n := c.complex[name]
	td := &typeDef{name: name}
	c.ct[name] = td
	if err := c.onlyAttrs(n, "name"); err != nil {
		return nil, err
	}
	ks := kids(n)
	if len(ks) != 1 {
		return nil, c.errf(n, "complex type %s: want exactly one of xs:sequence, xs:choice, xs:simpleContent", name)
	}
	k := ks[0]
	switch {
	case c.isXS(k, "sequence"), c.isXS(k, "choice"):
		p, err := c.particle(k)
		if err != nil {
			return nil, err
		}
		td.content = p
		setFollow(p, map[qname]bool{}, false)
	case c.isXS(k, "simpleContent"):
		if err := c.onlyAttrs(k); err != nil {
			return nil, err
		}
		sk := kids(k)
		if len(sk) != 1 || !c.isXS(sk[0], "extension") {
			return nil, c.errf(k, "simpleContent: only xs:extension supported")
		}
		ext := sk[0]
		if err := c.onlyAttrs(ext, "base"); err != nil {
			return nil, err
		}
		b, _ := ext.attr("base")
		st, err := c.simpleTypeRef(ext, b)
		if err != nil {
			return nil, err
		}
		td.st = st
		for _, a := range kids(ext) {
			if !c.isXS(a, "attribute") {
				return nil, c.errf(a, "xs:%s in xs:extension not supported", a.name.local)
			}
			if err := c.onlyAttrs(a, "name", "type", "use"); err != nil {
				return nil, err
			}
			if len(kids(a)) > 0 {
				return nil, c.errf(a, "anonymous attribute types not supported")
			}
			an, _ := a.attr("name")
			at, _ := a.attr("type")
			if an == "" || at == "" {
				return nil, c.errf(a, "attribute needs a name and a type")
			}
			ast, err := c.simpleTypeRef(a, at)
			if err != nil {
				return nil, err
			}
			ad := &attrDecl{name: an, st: ast}
			switch u, _ := a.attr("use"); u {
			case "required":
				ad.required = true
			case "", "optional":
			default:
				return nil, c.errf(a, "attribute use %q not supported", u)
			}
			for _, o := range td.attrs {
				if o.name == an {
					return nil, c.errf(a, "attribute %s declared twice", an)
				}
			}
			td.attrs = append(td.attrs, ad)
		}
	default:
		return nil, c.errf(k, "xs:%s in complex type not supported", k.name.local)
	}
	return td, nil
}

func (c *compiler) occurs(n *xnode) (int, int, error) {
	min, max := 1, 1
	if v, ok := n.attr("minOccurs"); ok {
		k, err := strconv.Atoi(v)
		if err != nil || k < 0 {
			return 0, 0, c.errf(n, "bad minOccurs %q", v)
		}
		min = k
	}
	if v, ok := n.attr("maxOccurs"); ok {
		if v == "unbounded" {
			max = unbounded
		} else {
			k, err := strconv.Atoi(v)
			if err != nil || k < 0 {
				return 0, 0, c.errf(n, "bad maxOccurs %q", v)
			}
			max = k
		}
	}
	if max != unbounded && max < min {
		return 0, 0, c.errf(n, "maxOccurs %d below minOccurs %d", max, min)
	}
	if max == 0 {
		return 0, 0, c.errf(n, "maxOccurs 0 not supported")
	}
	return min, max, nil
}

func (c *compiler) particle(n *xnode) (*particle, error) {
	p := &particle{line: n.line}
	var err error
	switch {
	case c.isXS(n, "element"):
		if err := c.onlyAttrs(n, "name", "type", "minOccurs", "maxOccurs"); err != nil {
			return nil, err
		}
		if len(kids(n)) > 0 {
			return nil, c.errf(n, "anonymous types not supported")
		}
		name, _ := n.attr("name")
		if name == "" {
			return nil, c.errf(n, "local element without a name (ref not supported)")
		}
		td, err := c.typeRef(n)
		if err != nil {
			return nil, err
		}
		p.kind = pElement
		p.elem = &elemDecl{name: qname{c.tns, name}, typ: td}
	case c.isXS(n, "sequence"), c.isXS(n, "choice"):
		if err := c.onlyAttrs(n, "minOccurs", "maxOccurs"); err != nil {
			return nil, err
		}
		p.kind = pSequence
		if n.name.local == "choice" {
			p.kind = pChoice
		}
		for _, k := range kids(n) {
			q, err := c.particle(k)
			if err != nil {
				return nil, err
			}
			p.items = append(p.items, q)
		}
		if p.kind == pChoice && len(p.items) == 0 {
			return nil, c.errf(n, "empty xs:choice not supported")
		}
	case c.isXS(n, "any"):
		if err := c.onlyAttrs(n, "namespace", "processContents", "minOccurs", "maxOccurs"); err != nil {
			return nil, err
		}
		if v, ok := n.attr("namespace"); ok && v != "##any" {
			return nil, c.errf(n, "xs:any namespace %q not supported (only ##any)", v)
		}
		p.kind = pAny
		switch v, _ := n.attr("processContents"); v {
		case "", "strict":
			p.mode = modeStrict
		case "lax":
			p.mode = modeLax
		case "skip":
			p.mode = modeSkip
		default:
			return nil, c.errf(n, "processContents %q not supported", v)
		}
	default:
		return nil, c.errf(n, "xs:%s in a content model not supported", n.name.local)
	}
	if p.min, p.max, err = c.occurs(n); err != nil {
		return nil, err
	}
	if err := c.analyse(p); err != nil {
		return nil, err
	}
	return p, nil
}

// analyse computes the term's nullability and first set, and checks the
// determinism the greedy matcher relies on (XSD's Unique Particle
// Attribution, for the cases these schemas could break it): no two
// branches of a choice, and no two adjacent optional items of a sequence,
// may start with the same element.
func (c *compiler) analyse(p *particle) error {
	p.first = map[qname]bool{}
	switch p.kind {
	case pElement:
		p.first[p.elem.name] = true
	case pAny:
		p.anyFirst = true
	case pChoice:
		for _, q := range p.items {
			if q.nullable || q.min == 0 {
				p.nullable = true
			}
			if err := c.mergeFirst(p, q); err != nil {
				return err
			}
		}
	case pSequence:
		p.nullable = true
		for _, q := range p.items {
			if !p.nullable {
				break
			}
			if err := c.mergeFirst(p, q); err != nil {
				return err
			}
			if !(q.nullable || q.min == 0) {
				p.nullable = false
			}
		}
		// Determinism inside the sequence: an item that may be absent (or
		// repeat) must not share a first element with what can follow it.
		for i, q := range p.items {
			if !(q.nullable || q.min == 0 || q.max == unbounded || q.max > q.min) {
				continue
			}
			for _, r := range p.items[i+1:] {
				if (q.anyFirst && (r.anyFirst || len(r.first) > 0)) || (r.anyFirst && len(q.first) > 0) {
					return c.errf(&xnode{line: r.line}, "content model not deterministic (wildcard overlaps)")
				}
				for n := range r.first {
					if q.first[n] {
						return c.errf(&xnode{line: r.line}, "content model not deterministic: %s", n.local)
					}
				}
				if !(r.nullable || r.min == 0) {
					break
				}
			}
		}
	}
	return nil
}

func (c *compiler) mergeFirst(p, q *particle) error {
	if (p.anyFirst && (q.anyFirst || len(q.first) > 0)) || (q.anyFirst && len(p.first) > 0) {
		if p.kind == pChoice {
			return c.errf(&xnode{line: q.line}, "content model not deterministic (wildcard overlaps)")
		}
	}
	for n := range q.first {
		if p.first[n] && p.kind == pChoice {
			return c.errf(&xnode{line: q.line}, "content model not deterministic: %s starts two branches", n.local)
		}
		p.first[n] = true
	}
	if q.anyFirst {
		p.anyFirst = true
	}
	return nil
}

func collectNames(p *particle, into map[qname]bool) {
	if p.kind == pElement {
		into[p.elem.name] = true
	}
	for _, q := range p.items {
		collectNames(q, into)
	}
}

// setFollow gives p and its descendants their follow sets: what may come
// after an item of a sequence is every name in the items after it, plus
// what may follow the sequence.
func setFollow(p *particle, follow map[qname]bool, rep bool) {
	p.follow = follow
	rep = rep || p.max == unbounded || p.max > 1
	p.repeatable = rep
	switch p.kind {
	case pChoice:
		for _, q := range p.items {
			setFollow(q, follow, rep)
		}
	case pSequence:
		for i, q := range p.items {
			f := map[qname]bool{}
			for n := range follow {
				f[n] = true
			}
			for _, r := range p.items[i+1:] {
				collectNames(r, f)
			}
			setFollow(q, f, rep)
		}
	}
}
