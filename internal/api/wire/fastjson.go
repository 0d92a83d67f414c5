package wire

import (
	"encoding/hex"
	"strconv"

	"github.com/specie/specie/money"
)

// The payment request and its result cross the HTTP edge once each way on
// every customer payment, and encoding/json's reflection was a tenth of the
// edge's CPU (issue 8, round 4). These hand-written encoders and decoders
// cover the common shape only: every string plain printable ASCII (no
// escapes), every key spelled as documented and given once, no refund.
// Anything else makes them decline (ok false) and encoding/json decides,
// so what the API accepts and answers is exactly what it was:
// FuzzPaymentFastJSON checks that whatever the fast decoders accept,
// encoding/json (strict, for requests) reads to the same value, and that
// the fast encoders write the bytes encoding/json writes.

// FastEncoder is a wire type that can append its JSON without reflection.
// ok false: it cannot (a string needs escaping, a rare field is set), and
// the caller encodes it with encoding/json instead.
type FastEncoder interface {
	AppendJSON(b []byte) (out []byte, ok bool)
}

// FastDecoder is a wire type that can read the common shape of its JSON
// without reflection. ok false: b is not in that shape (it may still be
// valid), v is unchanged, and the caller decodes b with encoding/json.
type FastDecoder interface {
	DecodeFast(b []byte) (ok bool)
}

// AppendJSON writes the request as json.Marshal does.
func (p PaymentRequest) AppendJSON(b []byte) ([]byte, bool) {
	if p.RefundOf != (money.TxID{}) || !plain(p.From) || !plain(p.To) || !plain(p.Amount) || !plain(p.Reference) || !plain(p.IdempotencyKey) {
		return b, false
	}
	b = appendField(b, '{', "from", p.From)
	b = appendField(b, ',', "to", p.To)
	b = appendField(b, ',', "amount", p.Amount)
	if p.Reference != "" {
		b = appendField(b, ',', "reference", p.Reference)
	}
	if p.IdempotencyKey != "" {
		b = appendField(b, ',', "idempotency_key", p.IdempotencyKey)
	}
	return append(b, '}'), true
}

// DecodeFast reads {"from", "to", "amount", optional "reference" and
// "idempotency_key"} with plain string values.
func (p *PaymentRequest) DecodeFast(b []byte) bool {
	var out PaymentRequest
	var seen [5]bool
	s := scanner{b: b}
	ok := s.object(func(key []byte) bool {
		var dst *string
		i := 0
		switch string(key) {
		case "from":
			dst, i = &out.From, 0
		case "to":
			dst, i = &out.To, 1
		case "amount":
			dst, i = &out.Amount, 2
		case "reference":
			dst, i = &out.Reference, 3
		case "idempotency_key":
			dst, i = &out.IdempotencyKey, 4
		default:
			return false
		}
		if seen[i] {
			return false
		}
		seen[i] = true
		v, ok := s.str()
		*dst = string(v)
		return ok
	})
	if !ok || !s.end() {
		return false
	}
	*p = out
	return true
}

// AppendJSON writes the result as encoding/json does with HTML escaping
// off (writeJSON's encoder), without the newline.
func (p PaymentResult) AppendJSON(b []byte) ([]byte, bool) {
	if !plain(p.From) || !plain(p.To) || !plain(p.Amount) || !plain(p.AmountDecimal) {
		return b, false
	}
	b = append(b, `{"txid":"`...)
	b = hex.AppendEncode(b, p.TxID[:])
	b = append(b, `","receipt":{"txid":"`...)
	b = hex.AppendEncode(b, p.Receipt.TxID[:])
	b = append(b, `","batch":`...)
	b = strconv.AppendUint(b, p.Receipt.Batch, 10)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, uint64(p.Receipt.Index), 10)
	b = append(b, '}')
	b = appendField(b, ',', "from", p.From)
	b = appendField(b, ',', "to", p.To)
	b = appendField(b, ',', "amount", p.Amount)
	if p.AmountDecimal != "" {
		b = appendField(b, ',', "amount_decimal", p.AmountDecimal)
	}
	return append(b, '}'), true
}

// DecodeFast reads the result as the API writes it.
func (p *PaymentResult) DecodeFast(b []byte) bool {
	var out PaymentResult
	var seen [6]bool
	s := scanner{b: b}
	once := func(i int) bool {
		if seen[i] {
			return false
		}
		seen[i] = true
		return true
	}
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "txid":
			return once(0) && s.hash(&out.TxID)
		case "receipt":
			var rseen [3]bool
			return once(1) && s.object(func(key []byte) bool {
				i := 0
				switch string(key) {
				case "txid":
					i = 0
				case "batch":
					i = 1
				case "index":
					i = 2
				default:
					return false
				}
				if rseen[i] {
					return false
				}
				rseen[i] = true
				switch i {
				case 0:
					return s.hash(&out.Receipt.TxID)
				case 1:
					n, ok := s.uint(64)
					out.Receipt.Batch = n
					return ok
				}
				n, ok := s.uint(32)
				out.Receipt.Index = uint32(n)
				return ok
			})
		}
		var dst *string
		i := 0
		switch string(key) {
		case "from":
			dst, i = &out.From, 2
		case "to":
			dst, i = &out.To, 3
		case "amount":
			dst, i = &out.Amount, 4
		case "amount_decimal":
			dst, i = &out.AmountDecimal, 5
		default:
			return false
		}
		v, ok := s.str()
		*dst = string(v)
		return once(i) && ok
	})
	if !ok || !s.end() {
		return false
	}
	*p = out
	return true
}

// plain reports whether s is printable ASCII without '"' or '\', so its
// JSON is s between quotes, for every encoder and decoder alike.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendField appends sep"key":"v"; v is plain.
func appendField(b []byte, sep byte, key, v string) []byte {
	b = append(b, sep, '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = append(b, v...)
	return append(b, '"')
}

// scanner reads the common shape of a small JSON object; any method
// returning false means "not that shape", never "invalid".
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c after optional whitespace.
func (s *scanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// str reads a string of plain printable ASCII (no escapes), returning
// its bytes within b.
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	for j := s.i; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i:j]
			s.i = j + 1
			return v, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// uint reads an unsigned integer of at most bits bits, in JSON's form (no
// leading zeros, no fraction or exponent).
func (s *scanner) uint(bits int) (uint64, bool) {
	s.space()
	j := s.i
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		j++
	}
	d := s.b[s.i:j]
	if len(d) == 0 || (len(d) > 1 && d[0] == '0') {
		return 0, false
	}
	if j < len(s.b) {
		if c := s.b[j]; c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(d), 10, bits)
	if err != nil {
		return 0, false
	}
	s.i = j
	return n, true
}

// hash reads a 64-digit hex string.
func (s *scanner) hash(h *money.Hash) bool {
	v, ok := s.str()
	if !ok || len(v) != 2*len(h) {
		return false
	}
	_, err := hex.Decode(h[:], v)
	return err == nil
}

// object reads '{', then for each member its key and ':', calling member
// with the key to read the value, until '}'.
func (s *scanner) object(member func(key []byte) bool) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	for {
		k, ok := s.str()
		if !ok || !s.byte(':') || !member(k) {
			return false
		}
		if s.byte(',') {
			continue
		}
		return s.byte('}')
	}
}
