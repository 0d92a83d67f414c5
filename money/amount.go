package money

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Currency is an ISO 4217 currency: its code and the number of minor-unit
// digits. Each network has exactly one.
type Currency struct {
	Code     string // ISO 4217 alphabetic code, e.g. "USD"
	Exponent uint8  // digits after the decimal point, e.g. 2
}

// ErrOverflow reports a sum or amount that does not fit in 64 bits.
var ErrOverflow = errors.New("amount overflow")

// Add returns a+b, or ErrOverflow; money never wraps around.
func Add(a, b uint64) (uint64, error) {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return 0, ErrOverflow
	}
	return s, nil
}

// Format renders an amount of minor units as a decimal string in this
// currency, e.g. 100000000 -> "1000000.00".
func (c Currency) Format(v uint64) string {
	s := strconv.FormatUint(v, 10)
	e := int(c.Exponent)
	if e == 0 {
		return s
	}
	if len(s) <= e {
		s = strings.Repeat("0", e-len(s)+1) + s
	}
	return s[:len(s)-e] + "." + s[len(s)-e:]
}

// Parse reads an amount. A string with a decimal point is a decimal amount
// in major units ("12.50"); one without is a count of minor units ("1250").
// Both forms are exact: no rounding, no floating point.
func (c Currency) Parse(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("parse amount: empty")
	}
	whole, frac, dot := strings.Cut(s, ".")
	if !dot {
		return parseDigits(s)
	}
	if whole == "" || frac == "" {
		return 0, fmt.Errorf("parse amount %q: digits needed on both sides of the point", s)
	}
	if len(frac) > int(c.Exponent) {
		return 0, fmt.Errorf("parse amount %q: more than %d decimal places for %s", s, c.Exponent, c.Code)
	}
	w, err := parseDigits(whole)
	if err != nil {
		return 0, err
	}
	f, err := parseDigits(frac)
	if err != nil {
		return 0, err
	}
	for i := len(frac); i < int(c.Exponent); i++ {
		f *= 10
	}
	scale := uint64(1)
	for i := 0; i < int(c.Exponent); i++ {
		scale *= 10
	}
	hi, lo := bits.Mul64(w, scale)
	if hi != 0 {
		return 0, fmt.Errorf("parse amount %q: %w", s, ErrOverflow)
	}
	v, err := Add(lo, f)
	if err != nil {
		return 0, fmt.Errorf("parse amount %q: %w", s, err)
	}
	return v, nil
}

func parseDigits(s string) (uint64, error) {
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("parse amount %q: only digits and one decimal point allowed", s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse amount %q: %w", s, ErrOverflow)
	}
	return v, nil
}
