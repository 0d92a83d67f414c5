package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func TestParseMinor(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"0042", 42, true},
		{"18446744073709551615", 18446744073709551615, true},
		{"18446744073709551616", 0, false},
		{"", 0, false}, {"1.0", 0, false}, {"-1", 0, false}, {"+1", 0, false},
		{"1e5", 0, false}, {" 1", 0, false}, {"1_000", 0, false}, {"٣", 0, false},
	} {
		got, err := ParseMinor(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseMinor(%q) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestParseLock(t *testing.T) {
	k, _ := crypto.KeyFromSeed(bytes.Repeat([]byte{7}, 32))
	l := money.KeyLock(k.Public())
	got, err := ParseLock(l.String())
	if err != nil || got != l {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", k.Public().String(), "ed25519:" + k.Public().String()[:62], "ed25519:" + strings.Repeat("z", 64), "ED25519:" + k.Public().String()} {
		if _, err := ParseLock(bad); err == nil {
			t.Errorf("ParseLock(%q) accepted", bad)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type req struct {
		A string `json:"a"`
	}
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{`{"a":"x"}`, true},
		{" \n{\"a\":\"x\"}\n ", true},
		{`{}`, true},
		{`{"a":"x"}{}`, false},
		{`{"a":"x"} x`, false},
		{`{"a":"x","b":1}`, false},
		{`{"a":1}`, false},
		{`null`, false},
		{`[]`, false},
		{`"a"`, false},
		{``, false},
		{`   `, false},
		{`{"a":"x"`, false},
		// What encoding/json would rewrite to U+FFFD is refused.
		{"{\"a\":\"\xff\xfe\"}", false},
		{"{\"a\":\"ok\xc3\"}", false},
		{"{\"a\":\"x\"}\xff", false},
		{`{"a":"\ud800"}`, false},
		{`{"a":"\uDC00x"}`, false},
		{`{"a":"\ud800\u0041"}`, false},
		{`{"a":"\ud800\ud800\udc00"}`, false},
		{`{"a":"\ud83d"}`, false},
		// Valid text, escaped or not, and escapes that only look like one.
		{`{"a":"\ud83d\ude00"}`, true},
		{"{\"a\":\"\xf0\x9f\x98\x80 h\u00e9\"}", true},
		{`{"a":"\\ud800"}`, true},
		{`{"a":"\\\ud83d\ude00\"\\"}`, true},
		{`{"a":"\ufffd"}`, true},
	} {
		var r req
		err := DecodeStrictBytes([]byte(c.body), &r)
		if (err == nil) != c.ok {
			t.Errorf("%q: err %v, want ok=%v", c.body, err, c.ok)
		}
		if err != nil && !errcode.Is(err, errcode.Malformed) {
			t.Errorf("%q: code %s, want malformed", c.body, errcode.Of(err))
		}
	}
	// An oversize body, cut by http.MaxBytesReader, is malformed too.
	w := httptest.NewRecorder()
	body := http.MaxBytesReader(w, strReader(`{"a":"`+strings.Repeat("x", 100)+`"}`), 10)
	var r req
	err := DecodeStrict(body, &r)
	if !errcode.Is(err, errcode.Malformed) || !strings.Contains(err.Error(), "larger than 10 bytes") {
		t.Fatalf("oversize: %v", err)
	}
}

func strReader(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

func TestDecodeTx(t *testing.T) {
	k, _ := crypto.KeyFromSeed(bytes.Repeat([]byte{1}, 32))
	net := money.Network{ID: "n", Currency: money.Currency{Code: "USD", Exponent: 2}}
	tx := &money.Tx{Kind: money.Transfer, Inputs: []money.Note{{Index: 1, Output: money.Output{Value: 5, Lock: money.KeyLock(k.Public())}}},
		Outputs: []money.Output{{Value: 5, Lock: money.KeyLock(k.Public())}}}
	tx.InputSigs = []money.Sig{k.Sign(crypto.Spend, net.ID, net.TxID(tx))}
	s, err := EncodeTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTx(s)
	if err != nil || net.TxID(got) != net.TxID(tx) || got.InputSigs[0] != tx.InputSigs[0] {
		t.Fatalf("round trip: %v", err)
	}
	raw, _ := tx.MarshalBinary()
	for _, bad := range []string{
		"", "@@", base64.RawStdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(append(raw, 0xfb, 0xff)),
		base64.StdEncoding.EncodeToString(raw[:len(raw)-1]), base64.StdEncoding.EncodeToString(append(raw, 0)),
	} {
		if _, err := DecodeTx(bad); !errcode.Is(err, errcode.Malformed) {
			t.Errorf("DecodeTx(%.20q): %v, want malformed", bad, err)
		}
	}
}

// FuzzDecodeTx: any string either decodes to a transaction that
// re-encodes to the same bytes, or is rejected as malformed.
func FuzzDecodeTx(f *testing.F) {
	k, _ := crypto.KeyFromSeed(bytes.Repeat([]byte{1}, 32))
	tx := &money.Tx{Kind: money.Mint, Nonce: 3, Outputs: []money.Output{{Value: 5, Lock: money.KeyLock(k.Public())}}}
	s, _ := EncodeTx(tx)
	for _, seed := range []string{s, "", "AAAA", "AQ==", "AQ=", "A\nQ==", s + "=", strings.ToLower(s)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tx, err := DecodeTx(s)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.Malformed {
				t.Fatalf("%q: %v is not malformed", s, err)
			}
			return
		}
		again, err := EncodeTx(tx)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := base64.StdEncoding.DecodeString(s)
		out, _ := base64.StdEncoding.DecodeString(again)
		if !bytes.Equal(in, out) {
			t.Fatalf("%q decoded to a transaction that encodes differently", s)
		}
	})
}

// FuzzDecodeStrict: the strict JSON decoder never panics and accepts only
// one object.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"from":"a","to":"b","amount":"1","reference":"r"}`, `{}`, `null`, `{"amount":1}`, `{"a":1}{}`,
		"{\"reference\":\"\xff\xfe\"}", `{"reference":"\ud800"}`, `{"reference":"\ud83d\ude00"}`, `{"reference":"\\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p PaymentRequest
		err := DecodeStrictBytes(b, &p)
		if err != nil && !errcode.Is(err, errcode.Malformed) {
			t.Fatalf("%q: %v", b, err)
		}
		if err == nil && bytes.TrimLeft(b, " \t\r\n")[0] != '{' {
			t.Fatalf("%q accepted without an object", b)
		}
		if err != nil {
			return
		}
		// Accepted text is exactly what was sent: never a U+FFFD that
		// the sender did not write.
		if !utf8.Valid(b) {
			t.Fatalf("%q accepted with invalid UTF-8", b)
		}
		sentFFFD := bytes.Contains(b, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(b), []byte(`\ufffd`))
		for _, f := range []string{p.From, p.To, p.Amount, p.Reference, p.IdempotencyKey} {
			if strings.ContainsRune(f, utf8.RuneError) && !sentFFFD {
				t.Fatalf("%q decoded to a U+FFFD it did not contain: %q", b, f)
			}
		}
	})
}

// A wallet's policy fields and a deposit account survive the wire both
// ways, and a wallet without a tier (the treasury) has no holding limit
// on the wire.
func TestPolicyFieldsRoundTrip(t *testing.T) {
	cur := &money.Currency{Code: "USD", Exponent: 2}
	w := roles.Wallet{ID: "bank-a.x", Owner: "o", Balance: 5, Tier: 1, TierName: "basic", State: roles.WalletFrozen,
		HoldingLimit: 300000, Account: "ACC-1", Created: time.Unix(7, 0).UTC()}
	got, err := FromWallet(w, cur).ToWallet()
	if err != nil || !reflect.DeepEqual(got, w) {
		t.Fatalf("wallet %+v, %v; want %+v", got, err, w)
	}
	if tr := FromWallet(roles.Wallet{ID: "bank-a.treasury"}, cur); tr.HoldingLimit != "" || tr.State != "" {
		t.Fatalf("treasury on the wire %+v", tr)
	}
	a := roles.Account{ID: "ACC-1", Wallet: "bank-a.x", Balance: 9000}
	es := []roles.AccountEntry{{TxID: money.TxID{1}, Direction: "in", Amount: 9000, Reference: "waterfall", Time: time.Unix(8, 0).UTC()}}
	ga, ges, err := FromAccount(a, es, cur).ToAccount()
	if err != nil || ga != a || !reflect.DeepEqual(ges, es) {
		t.Fatalf("account %+v %+v, %v", ga, ges, err)
	}
}

// FuzzDecodeBatch: GET /v1/log/batches/{seq} as a client (the auditor)
// reads it. Whatever decodes must convert back to the same JSON, and
// nothing may panic.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"header":{"seq":1,"prev":"` + strings.Repeat("0", 64) + `","tx_root":"` + strings.Repeat("1", 64) + `","tx_count":1,"minted":"5","redeemed":"0","outstanding":"5"},"transactions":["AQI="]}`))
	f.Add([]byte(`{"header":{},"transactions":["@"]}`))
	f.Add([]byte(`{"transactions":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var w Batch
		if err := DecodeStrictBytes(b, &w); err != nil {
			return
		}
		got, err := w.ToBatch()
		if err != nil {
			return
		}
		back := FromBatch(got, nil)
		again, err := back.ToBatch()
		if err != nil || again.Header != got.Header || len(again.Txs) != len(got.Txs) {
			t.Fatalf("batch round trip: %+v, %v; from %+v", again, err, got)
		}
		for i := range got.Txs {
			if !bytes.Equal(again.Txs[i], got.Txs[i]) {
				t.Fatalf("tx %d changed in the round trip", i)
			}
		}
	})
}
