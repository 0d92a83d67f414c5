package iso20022

import "github.com/specie/specie/internal/iso20022/schemas"

// validate checks doc against the official schema of msg (embedded in
// package schemas, compiled once by the pure-Go validator internal/xsd)
// before anything reads it. A document that does not conform is a
// *FormatError naming the element path, the line and what is wrong, so the
// status message that rejects it (FF01) says so.
func validate(msg string, doc []byte) error {
	s, err := schemas.Schema(msg)
	if err != nil {
		return &FormatError{Reason: "no schema for " + msg + ": " + err.Error()}
	}
	if err := s.Validate(doc); err != nil {
		return asFormatError(err)
	}
	return nil
}
