// Package schemas embeds the official ISO 20022 XML Schemas of the messages
// Specie exchanges with payment systems, compiled on first use by
// internal/xsd, so every message read can be validated against the exact
// published schema with nothing but Go at run time.
//
// The .xsd files are copies, unchanged, of ../shared/iso20022-xsd (ISO 20022
// Standards Editor output; see README.md here).
package schemas

import (
	"embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/specie/specie/internal/xsd"
)

//go:embed *.xsd
var files embed.FS

// FS holds the embedded schema files, named MESSAGE.xsd (for example
// pacs.008.001.09.xsd), for tools and tests that want the bytes (such as
// a test running xmllint on them).
var FS embed.FS = files

// NamespacePrefix is how every ISO 20022 message namespace begins; the
// message identifier (pacs.008.001.09) follows it.
const NamespacePrefix = "urn:iso:std:iso:20022:tech:xsd:"

// ErrUnknownMessage: the message identifier or the document's namespace
// is not one of the embedded schemas.
var ErrUnknownMessage = errors.New("schemas: unknown ISO 20022 message")

type entry struct {
	once   sync.Once
	schema *xsd.Schema
	err    error
}

// cache holds one entry per embedded message, filled at init; each schema
// compiles once, on first use.
var cache = func() map[string]*entry {
	m := map[string]*entry{}
	ents, err := files.ReadDir(".")
	if err != nil {
		panic(fmt.Sprintf("schemas: read embedded files: %v", err)) // cannot happen: embed.FS
	}
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".xsd"); ok {
			m[name] = &entry{}
		}
	}
	return m
}()

// Messages lists the message identifiers with an embedded schema, sorted.
func Messages() []string {
	out := make([]string, 0, len(cache))
	for m := range cache {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Schema returns the compiled schema of msg (such as "pacs.008.001.09"),
// compiling it the first time and sharing it after: a *xsd.Schema is safe
// for concurrent use.
func Schema(msg string) (*xsd.Schema, error) {
	e := cache[msg]
	if e == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMessage, msg)
	}
	e.once.Do(func() {
		e.schema, e.err = xsd.Compile(files, msg+".xsd")
	})
	return e.schema, e.err
}

// Detect names the message a document claims to be, from its root
// element's namespace (urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09 is
// "pacs.008.001.09"), without validating it. It reads only up to the root
// element and refuses a DOCTYPE, so it is safe on any input; the error is
// an *xsd.Error for bytes that are not XML, wrapping ErrUnknownMessage for
// a namespace with no embedded schema.
func Detect(doc []byte) (string, error) {
	space, local, err := xsd.RootName(doc)
	if err != nil {
		return "", err
	}
	msg, ok := strings.CutPrefix(space, NamespacePrefix)
	if !ok || cache[msg] == nil {
		return "", &xsd.Error{Path: "/" + local,
			Reason: fmt.Sprintf("namespace %q is not one of the supported ISO 20022 messages (%s)", space, strings.Join(Messages(), ", ")),
			Err:    fmt.Errorf("%w: namespace %q", ErrUnknownMessage, space)}
	}
	return msg, nil
}

// Validate detects the document's message and validates it against that
// message's schema: the one call a reader of ISO 20022 needs first. It
// returns the message identifier, and a *xsd.Error if the document is not
// a conforming instance of it.
func Validate(doc []byte) (string, error) {
	msg, err := Detect(doc)
	if err != nil {
		return "", err
	}
	s, err := Schema(msg)
	if err != nil {
		return msg, fmt.Errorf("schemas: compile %s: %w", msg, err)
	}
	return msg, s.Validate(doc)
}
