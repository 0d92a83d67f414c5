package xsd

import (
	"fmt"
	"sort"
	"strings"
)

// binding is what took a child: an element declaration or a wildcard (and
// whether the particle may occur more than once, for paths).
type binding struct {
	elem       *elemDecl
	mode       int
	repeatable bool
}

// mframe is one particle being matched: how many occurrences it has
// completed, whether one is in progress, and for a sequence which item.
type mframe struct {
	p     *particle
	count int
	inOcc bool
	idx   int
}

// machine runs one element's content model over its children as they are
// read. The ISO schemas are deterministic (Unique Particle Attribution), so
// at each child at most one particle can take it, and greedy matching by
// first sets never needs to look back: the state is a stack of frames, one
// per particle entered, no deeper than the content model.
type machine struct {
	owner qname
	stack []mframe
	// exp holds the particles that could have started at the current
	// position, for the "expected ..." part of a message; names are only
	// gathered on error.
	exp []*particle
}

// feedErr is a content model failure; atParent when it is the parent's
// problem (a missing element) rather than the child's (not expected).
type feedErr struct {
	reason   string
	atParent bool
}

// reset starts the machine on content model p of element owner, keeping
// its slices' storage.
func (m *machine) reset(p *particle, owner qname) {
	m.owner = owner
	m.stack = append(m.stack[:0], mframe{p: p})
	m.exp = m.exp[:0]
}

func (p *particle) canStart(q qname) bool { return p.anyFirst || p.first[q] }

// maxSteps bounds the frame moves for one child: far above what any
// content model needs (each particle is entered and left at most a few
// times per child), so a bug cannot loop forever on input.
const maxSteps = 1 << 16

// feed advances the content model over the next child, or over the end of
// the element when tok is nil.
func (m *machine) feed(tok *qname) (binding, *feedErr) {
	for steps := 0; steps < maxSteps; steps++ {
		if len(m.stack) == 0 {
			if tok == nil {
				return binding{}, nil
			}
			return binding{}, m.unexpected(*tok)
		}
		f := &m.stack[len(m.stack)-1]
		p := f.p
		if f.inOcc {
			// Cannot happen: a frame in an occurrence always has its
			// item or branch above it.
			return binding{}, &feedErr{reason: "internal error: content model state", atParent: true}
		}
		more := p.max == unbounded || f.count < p.max
		if more && tok != nil && p.canStart(*tok) {
			switch p.kind {
			case pElement:
				f.count++
				m.exp = m.exp[:0]
				return binding{elem: p.elem, repeatable: p.repeatable}, nil
			case pAny:
				f.count++
				m.exp = m.exp[:0]
				return binding{mode: p.mode, repeatable: p.repeatable}, nil
			case pSequence:
				f.inOcc = true
				f.idx = 0
				m.stack = append(m.stack, mframe{p: p.items[0]})
				continue
			case pChoice:
				for _, q := range p.items {
					if q.canStart(*tok) {
						f.inOcc = true
						m.stack = append(m.stack, mframe{p: q})
						break
					}
				}
				if f.inOcc {
					continue
				}
			}
		}
		if more {
			m.note(p)
		}
		if f.count < p.min && !p.nullable {
			return binding{}, m.missing(p, tok)
		}
		// p is done: one item or branch of its parent is complete.
		m.stack = m.stack[:len(m.stack)-1]
		if len(m.stack) == 0 {
			continue
		}
		g := &m.stack[len(m.stack)-1]
		if g.p.kind == pSequence {
			g.idx++
			if g.idx < len(g.p.items) {
				m.stack = append(m.stack, mframe{p: g.p.items[g.idx]})
				continue
			}
		}
		g.inOcc = false
		g.count++
	}
	return binding{}, &feedErr{reason: "internal error: content model did not settle", atParent: true}
}

func (m *machine) note(p *particle) { m.exp = append(m.exp, p) }

// missing reports a required particle with no occurrence before tok.
func (m *machine) missing(p *particle, tok *qname) *feedErr {
	want := firstRequired(p)
	if tok == nil {
		return &feedErr{reason: fmt.Sprintf("missing %s at the end of %s", names(want), m.owner.local), atParent: true}
	}
	if want.follow[*tok] {
		// tok belongs later in this element: what is missing is what
		// should have come before it.
		return &feedErr{reason: fmt.Sprintf("missing %s before %s", names(want), tok.local), atParent: true}
	}
	return m.unexpected(*tok)
}

// firstRequired narrows a sequence that cannot start to the item that is
// missing: the first one that is neither optional nor able to match
// nothing.
func firstRequired(p *particle) *particle {
	for p.kind == pSequence {
		var next *particle
		for _, q := range p.items {
			if q.min > 0 && !q.nullable {
				next = q
				break
			}
		}
		if next == nil {
			return p
		}
		p = next
	}
	return p
}

// unexpected reports a child no particle can take here.
func (m *machine) unexpected(tok qname) *feedErr {
	reason := fmt.Sprintf("element %s not expected here", tok.local)
	if tok.ns != m.owner.ns {
		reason = fmt.Sprintf("element %s in namespace %q not expected here", tok.local, tok.ns)
	}
	if exp := m.expected(); exp != "" {
		reason += "; expected " + exp
	} else {
		reason += fmt.Sprintf("; nothing more is allowed in %s", m.owner.local)
	}
	return &feedErr{reason: reason}
}

func (m *machine) expected() string {
	set := map[string]bool{}
	for _, p := range m.exp {
		for q := range p.first {
			set[q.local] = true
		}
		if p.anyFirst {
			set["any element"] = true
		}
	}
	if len(set) == 0 {
		return ""
	}
	var ns []string
	for n := range set {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	if len(ns) == 1 {
		return ns[0]
	}
	return "one of " + strings.Join(ns, ", ")
}
