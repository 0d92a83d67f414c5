package emvco

import (
	"errors"
	"fmt"
)

// The kinds of rejection. Every error Parse, Decode and Encode return wraps
// exactly one of them, so callers branch with errors.Is, never on text.
var (
	// ErrCRC: tag 63 is missing, not last, or does not match the payload:
	// the scan is damaged or the payload was edited.
	ErrCRC = errors.New("emvco: bad CRC")
	// ErrTLV: the payload (or a template in it) is not a well-formed
	// sequence of ID, length, value, or repeats an ID.
	ErrTLV = errors.New("emvco: malformed TLV")
	// ErrMissing: a mandatory data object is absent.
	ErrMissing = errors.New("emvco: missing data object")
	// ErrField: a data object breaks its format rule (length, character
	// set, allowed values).
	ErrField = errors.New("emvco: invalid data object")
	// ErrCurrency: the code is for another currency than the network's,
	// or for a currency this package has no ISO 4217 number for.
	ErrCurrency = errors.New("emvco: wrong currency")
	// ErrAmount: an amount where none may be (a static code), none where
	// one must be (a dynamic code), or one that is not a positive decimal
	// in the currency's minor units.
	ErrAmount = errors.New("emvco: invalid amount")
	// ErrNotSpecie: a well-formed EMVCo code with no Specie account
	// template (another scheme's code), or one whose template names no
	// payee.
	ErrNotSpecie = errors.New("emvco: not a Specie payment code")
)

// Error is a rejection naming the data object at fault (e.g. "26.01" for
// subtag 01 of template 26; empty when the fault is the whole payload).
type Error struct {
	Kind error  // one of the Err* sentinels
	Tag  string // the data object's ID path, or ""
	Msg  string // what is wrong, for people
}

func (e *Error) Error() string {
	if e.Tag == "" {
		return fmt.Sprintf("%v: %s", e.Kind, e.Msg)
	}
	return fmt.Sprintf("%v: tag %s: %s", e.Kind, e.Tag, e.Msg)
}

// Unwrap lets errors.Is match the sentinel.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, tag, format string, a ...any) *Error {
	return &Error{Kind: kind, Tag: tag, Msg: fmt.Sprintf(format, a...)}
}
