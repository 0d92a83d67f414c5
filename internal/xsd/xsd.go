// Package xsd is a validating reader for XML Schema 1.0, restricted to
// the subset the official ISO 20022 message schemas use, in pure Go.
//
// Specie must check every ISO 20022 message it reads against the official
// schema, and `specie up` needs nothing but Go: no cgo, no libxml2 at run
// time. So this package compiles the schema itself (Compile) and checks a
// document against it (Schema.Validate), returning the first problem as an
// *Error that names the line, the element path and the reason.
//
// The subset is exactly what the twelve schemas in
// internal/iso20022/schemas use (see Compile); any other construct fails
// Compile loudly rather than being silently ignored. The reader refuses any
// DOCTYPE (so no DTD, no entity expansion, no external entity can reach
// it), caps the document size and the element depth (Limits), and never
// panics on input. Tests cross-check its verdicts with `xmllint --schema`.
package xsd

import (
	"errors"
	"fmt"
)

// XSD is the XML Schema namespace: the schema documents' own elements and
// the built-in types live in it.
const XSD = "http://www.w3.org/2001/XMLSchema"

// XSI is the XML Schema instance namespace, whose attributes
// (xsi:schemaLocation, xsi:type, xsi:nil) may appear on any element of a
// document.
const XSI = "http://www.w3.org/2001/XMLSchema-instance"

// Sentinel causes carried by Error.Err, so a caller can tell the kinds of
// refusal apart with errors.Is (a gateway answers a DTD or an oversized
// message differently from a missing element only if it wants to).
var (
	// ErrDTD: the document has a DOCTYPE. DTDs are refused outright, so
	// entity expansion and external entities cannot happen.
	ErrDTD = errors.New("DTDs are not accepted")
	// ErrTooLarge: the document exceeds Limits.MaxBytes.
	ErrTooLarge = errors.New("document too large")
	// ErrTooDeep: elements nest deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("document nested too deeply")
	// ErrMalformed: the bytes are not well-formed XML (or not UTF-8).
	ErrMalformed = errors.New("malformed XML")
	// ErrInvalid: well-formed XML that does not conform to the schema.
	ErrInvalid = errors.New("does not conform to the schema")
)

// Error is the one error Validate returns: where the problem is and what it
// is, precise enough to put in an ISO 20022 status message's reason text.
type Error struct {
	// Line is the 1-based line of the offending element or token (0 when
	// the problem is the document as a whole, such as its size).
	Line int
	// Path is the element path from the root, such as
	// /Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]/IntrBkSttlmAmt: every
	// element the schema lets repeat carries its 1-based index (so
	// CdtTrfTxInf[1] even when there is one), as does a second occurrence
	// of one that may not (GrpHdr[2]); /@Ccy names an attribute. For a
	// missing element it is the parent's path. Empty when the XML is not
	// well-formed.
	Path string
	// Reason says what is wrong, naming the expected elements or the
	// facet that failed.
	Reason string
	// Err is the kind of problem (ErrInvalid, ErrMalformed, ErrDTD,
	// ErrTooLarge, ErrTooDeep), for errors.Is.
	Err error
}

// Error formats the problem as "line N: PATH: REASON".
func (e *Error) Error() string {
	switch {
	case e.Path != "" && e.Line > 0:
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Reason)
	case e.Path != "":
		return fmt.Sprintf("%s: %s", e.Path, e.Reason)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

// Unwrap exposes the kind of problem to errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// Limits bound what Validate will read, so a hostile document cannot make
// it use unbounded memory or stack. A zero field means its DefaultLimits
// value: there is no way to turn a limit off.
type Limits struct {
	// MaxBytes caps the document's size in bytes.
	MaxBytes int
	// MaxDepth caps element nesting (the root is depth 1).
	MaxDepth int
}

// DefaultLimits are generous for ISO 20022 messages (a bulk pain.001 of
// thousands of payments fits in 8 MiB; the twelve schemas nest at most 15
// elements deep, leaving room for what supplementary data envelopes hold).
var DefaultLimits = Limits{MaxBytes: 8 << 20, MaxDepth: 64}

// Schema is a compiled schema: safe for concurrent use by many goroutines,
// since Validate only reads it.
type Schema struct {
	ns     string
	global map[qname]*elemDecl
	limits Limits
}

// Namespace is the schema's targetNamespace: the namespace a conforming
// document's root element is in (for ISO 20022 it names the message).
func (s *Schema) Namespace() string { return s.ns }

// WithLimits returns a copy of the schema that validates with other
// limits; the compiled declarations are shared, so it is cheap.
func (s *Schema) WithLimits(l Limits) *Schema {
	c := *s
	c.limits = l
	return &c
}

// Limits reports the limits Validate applies.
func (s *Schema) Limits() Limits { return s.limits }
