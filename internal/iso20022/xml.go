// Package iso20022 is Specie's ISO 20022 gateway: it reads and writes the
// twelve message versions in ../shared/iso20022-xsd as typed Go structs
// (only the fields Specie reads or writes, named as in the schemas), and
// turns them into the issuer's reserve credits and the intermediaries'
// payments, exactly once per message identification.
//
// The bytes come from outside (an RTGS, a bank core, a corporate), so the
// one reader, Decode, caps the size, refuses any DTD (no entity expansion,
// no external entities) and checks the namespace before unmarshalling.
package iso20022

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/specie/specie/internal/iso20022/schemas"
	"github.com/specie/specie/internal/xsd"
)

// MaxDocument bounds an incoming document in bytes; a pain.001 of a few
// thousand payments fits, a document larger than this is refused unread.
const MaxDocument = 4 << 20

// Message names (and schema versions) the gateway speaks.
const (
	Pacs008 = "pacs.008.001.09"
	Pacs009 = "pacs.009.001.09"
	Pacs002 = "pacs.002.001.11"
	Pacs004 = "pacs.004.001.10"
	Camt053 = "camt.053.001.08"
	Camt054 = "camt.054.001.08"
	Camt056 = "camt.056.001.09"
	Camt029 = "camt.029.001.10"
	Pain001 = "pain.001.001.10"
	Pain002 = "pain.002.001.11"
	Pain013 = "pain.013.001.08"
	Pain014 = "pain.014.001.08"
)

// Messages lists every message name the gateway reads or writes.
var Messages = []string{Pacs008, Pacs009, Pacs002, Pacs004, Camt053, Camt054, Camt056, Camt029, Pain001, Pain002, Pain013, Pain014}

// FormatError is a document that cannot be read: not XML, too large, a
// DTD, an unknown namespace, or one that does not conform to its schema.
// It becomes a rejection with reason FF01 naming the problem.
type FormatError struct {
	Line   int    // 1-based line of the problem, 0 if unknown
	Reason string // what is wrong
}

// Error says where and what, for logs and the status message.
func (e *FormatError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

func formatErr(line int, format string, a ...any) error {
	return &FormatError{Line: line, Reason: fmt.Sprintf(format, a...)}
}

// Detect names the message in doc from its root element's namespace
// ("pacs.008.001.09"): schemas.Detect, which reads only up to the root
// and refuses a DTD, after the size cap, and only for a message the
// gateway speaks.
func Detect(doc []byte) (string, error) {
	if len(doc) > MaxDocument {
		return "", formatErr(0, "document of %d bytes exceeds %d", len(doc), MaxDocument)
	}
	msg, err := schemas.Detect(doc)
	if err != nil {
		return "", asFormatError(err)
	}
	if !slices.Contains(Messages, msg) {
		return "", formatErr(1, "message %s is not one the gateway reads", msg)
	}
	return msg, nil
}

// asFormatError turns the validator's *xsd.Error (line, element path,
// reason) into a FormatError.
func asFormatError(err error) error {
	var xe *xsd.Error
	if errors.As(err, &xe) {
		reason := xe.Reason
		if xe.Path != "" {
			reason = xe.Path + ": " + reason
		}
		return &FormatError{Line: xe.Line, Reason: reason}
	}
	return &FormatError{Reason: err.Error()}
}

// Decode reads doc, which must be the message named msg, into v. It
// refuses documents larger than MaxDocument, any DTD or entity declaration
// anywhere, undeclared entities, and trailing content after the root.
func Decode(doc []byte, msg string, v any) error {
	got, err := Detect(doc)
	if err != nil {
		return err
	}
	if got != msg {
		return formatErr(1, "document is %s, want %s", got, msg)
	}
	// A first pass over every token refuses a directive anywhere (Detect
	// saw only the prolog) and anything not well-formed, with its line.
	d := xml.NewDecoder(bytes.NewReader(doc))
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := d.InputPos()
		if err != nil {
			return formatErr(line, "not well-formed XML: %v", err)
		}
		switch tok.(type) {
		case xml.Directive:
			return formatErr(line, "DTDs and entity declarations are refused")
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return formatErr(line, "content after the root element")
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(tok.(xml.CharData))) > 0 {
				return formatErr(line, "text outside the root element")
			}
		}
	}
	if err := xml.Unmarshal(doc, v); err != nil {
		return formatErr(0, "%v", err)
	}
	return nil
}

// Encode renders a message document with the XML declaration.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	e := xml.NewEncoder(&b)
	e.Indent("", "  ")
	if err := e.Encode(v); err != nil {
		return nil, fmt.Errorf("encode ISO 20022 message: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
