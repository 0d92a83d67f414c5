package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// decodeBoth decodes b as a payment request through DecodeStrict (the
// server's path, fast decoder first) and through DecodeStrictBytes
// (encoding/json alone), and fails unless both give the same value or
// the same error.
func decodeBoth(t *testing.T, b []byte) (PaymentRequest, error) {
	t.Helper()
	var viaFast, viaJSON PaymentRequest
	errFast := DecodeStrict(bytes.NewReader(b), &viaFast)
	errJSON := DecodeStrictBytes(b, &viaJSON)
	if (errFast == nil) != (errJSON == nil) || (errFast != nil && errFast.Error() != errJSON.Error()) {
		t.Fatalf("%q: DecodeStrict says %v, encoding/json says %v", b, errFast, errJSON)
	}
	if errFast == nil && viaFast != viaJSON {
		t.Fatalf("%q: DecodeStrict read %+v, encoding/json %+v", b, viaFast, viaJSON)
	}
	return viaFast, errFast
}

// TestPaymentRequestDecodesAsDocumented: the server reads a payment
// request exactly as encoding/json's strict decoding does (the OpenAPI
// schema's PaymentRequest, no unknown fields), whether or not the fast
// decoder takes it; the common shapes do take the fast path, and every
// rejection is malformed.
func TestPaymentRequestDecodesAsDocumented(t *testing.T) {
	for _, c := range []struct {
		body string
		fast bool // the fast decoder reads it
		ok   bool
	}{
		{`{"from":"bank-a.x","to":"bank-b.y","amount":"100"}`, true, true},
		{` {"from" : "bank-a.x" ,"to":"bank-b.y",` + "\n\t" + `"amount":"1.00","reference":"inv 7","idempotency_key":"k-1"}` + "\r\n", true, true},
		{`{"amount":"100","to":"b","from":"a"}`, true, true},
		{`{"from":"","to":"","amount":""}`, true, true},
		{`{}`, true, true},
		{`{"from":"a\u0062","to":"b","amount":"1"}`, false, true},            // an escape: encoding/json reads it
		{`{"from":"é","to":"b","amount":"1"}`, false, true},                  // non-ASCII
		{`{"FROM":"a","to":"b","amount":"1"}`, false, true},                  // encoding/json matches keys without case
		{`{"from":"a","from":"c","to":"b","amount":"1"}`, false, true},       // repeated: the last wins
		{`{"from":"a","to":"b","amount":"1","reference":null}`, false, true}, // null leaves it empty
		{`{"from":"a","to":"b","amount":"1","refund_of":"` + strings.Repeat("ab", 32) + `"}`, false, true},
		{`{"from":"a","to":"b","amount":1}`, false, false},               // a number
		{`{"from":"a","to":"b","amount":"1","extra":"x"}`, false, false}, // unknown field
		{`{"from":"a","to":"b","amount":"1"} {}`, false, false},          // two objects
		{`{"from":"a","to":"b","amount":"1"}x`, false, false},
		{`{"from":"a","to":"b","amount":"1",}`, false, false}, // trailing comma
		{`{"from":"a" "to":"b"}`, false, false},
		{`{"from":"a","to":"b","amount":"1"`, false, false},                // cut off
		{`{"from":"a` + "\x01" + `","to":"b","amount":"1"}`, false, false}, // a control character
		{`{"from":"a` + "\xff" + `","to":"b","amount":"1"}`, false, false}, // not UTF-8
		{`[{"from":"a"}]`, false, false},
		{`null`, false, false},
		{``, false, false},
	} {
		var p PaymentRequest
		if got := p.DecodeFast([]byte(c.body)); got != c.fast {
			t.Errorf("%q: fast decoder took it %v, want %v", c.body, got, c.fast)
		}
		if !c.fast && p != (PaymentRequest{}) {
			t.Errorf("%q: fast decoder declined but wrote %+v", c.body, p)
		}
		_, err := decodeBoth(t, []byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("%q: accepted %v, want %v (%v)", c.body, err == nil, c.ok, err)
		}
		if err != nil && !errcode.Is(err, errcode.Malformed) {
			t.Errorf("%q: %v, want malformed", c.body, err)
		}
	}
}

// TestPaymentJSONEncodesAsEncodingJSON: the fast encoders write what
// encoding/json writes (the result byte for byte, as writeJSON's encoder
// does; the request to the same value), the fast decoders read it back,
// and a value they cannot write plainly (escapes, a refund) is declined.
func TestPaymentJSONEncodesAsEncodingJSON(t *testing.T) {
	tx := money.TxID{1, 2, 3, 0xfe}
	for _, r := range []PaymentResult{
		{TxID: tx, Receipt: roles.Receipt{TxID: tx, Batch: 1 << 40, Index: 7}, From: "bank-a.x", To: "bank-b.y", Amount: "100", AmountDecimal: "1.00"},
		{From: "a", To: "b", Amount: "0"},
		{TxID: tx, Receipt: roles.Receipt{Batch: ^uint64(0), Index: ^uint32(0)}, From: "<a&b>", To: "~", Amount: "1"},
	} {
		checkResult(t, r, true)
	}
	for _, r := range []PaymentResult{{From: `a"b`}, {To: "é"}, {Amount: "\n"}, {AmountDecimal: `\`}} {
		checkResult(t, r, false)
	}
	for _, p := range []PaymentRequest{
		{From: "bank-a.x", To: "bank-b.y", Amount: "100", Reference: "inv <7> & co", IdempotencyKey: "k-1"},
		{From: "a", To: "b", Amount: "1"},
		{},
	} {
		checkRequest(t, p, true)
	}
	for _, p := range []PaymentRequest{{From: "é"}, {Reference: "\t"}, {IdempotencyKey: `"`}, {RefundOf: tx}} {
		checkRequest(t, p, false)
	}
}

func checkResult(t *testing.T, r PaymentResult, plainOK bool) {
	t.Helper()
	b, ok := r.AppendJSON(nil)
	if ok != plainOK {
		t.Fatalf("%+v: fast encoder took it %v, want %v", r, ok, plainOK)
	}
	if !ok {
		return
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	if string(b)+"\n" != want.String() {
		t.Fatalf("fast encoder wrote\n%s\nencoding/json\n%s", b, want.String())
	}
	var back PaymentResult
	if !back.DecodeFast(b) || back != r {
		t.Fatalf("%s: fast decoder read %+v, want %+v", b, back, r)
	}
}

func checkRequest(t *testing.T, p PaymentRequest, plainOK bool) {
	t.Helper()
	b, ok := p.AppendJSON(nil)
	if ok != plainOK {
		t.Fatalf("%+v: fast encoder took it %v, want %v", p, ok, plainOK)
	}
	if !ok {
		return
	}
	if got, err := decodeBoth(t, b); err != nil || got != p {
		t.Fatalf("%s: read back %+v, %v; want %+v", b, got, err, p)
	}
	var back PaymentRequest
	if !back.DecodeFast(b) {
		t.Fatalf("%s: the fast decoder declines the fast encoder's output", b)
	}
}

// FuzzPaymentFastJSON: on any bytes, the server's decoding of a payment
// request (fast decoder first) agrees with encoding/json's strict
// decoding, value and error; whatever the client's fast decoder reads
// from a result, encoding/json reads the same; and the fast encoders of
// any strings write what encoding/json writes.
func FuzzPaymentFastJSON(f *testing.F) {
	for _, s := range []string{
		`{"from":"bank-a.x","to":"bank-b.y","amount":"100","idempotency_key":"k"}`,
		`{"txid":"` + strings.Repeat("0a", 32) + `","receipt":{"txid":"` + strings.Repeat("0b", 32) + `","batch":11,"index":0},"from":"a","to":"b","amount":"1","amount_decimal":"0.01"}`,
		`{"receipt":{"batch":01}}`, `{"receipt":{"batch":1e3}}`, `{"receipt":{"index":4294967296}}`,
		`{"from":"a","from":"b"}`, `{"from":"\u0061"}`, `{}`, ` {} `, `{"to":null}`,
	} {
		f.Add([]byte(s), "bank-a.x", "ref", uint64(11), uint32(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, s, ref string, batch uint64, index uint32) {
		decodeBoth(t, b)
		var fast, viaJSON PaymentResult
		if fast.DecodeFast(b) {
			if err := json.Unmarshal(b, &viaJSON); err != nil || viaJSON != fast {
				t.Fatalf("%q: fast decoder read %+v, encoding/json %+v, %v", b, fast, viaJSON, err)
			}
		} else if fast != (PaymentResult{}) {
			t.Fatalf("%q: fast decoder declined but wrote %+v", b, fast)
		}
		var tx money.TxID
		copy(tx[:], b)
		r := PaymentResult{TxID: tx, Receipt: roles.Receipt{TxID: tx, Batch: batch, Index: index}, From: s, To: ref, Amount: s, AmountDecimal: ref}
		checkResult(t, r, plain(s) && plain(ref))
		p := PaymentRequest{From: s, To: ref, Amount: ref, Reference: s, IdempotencyKey: ref}
		checkRequest(t, p, plain(s) && plain(ref))
	})
}
