package iso20022

import (
	"errors"

	"github.com/specie/specie/internal/iso20022/schemas"
	"github.com/specie/specie/internal/xsd"
)

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
	return nil
}
