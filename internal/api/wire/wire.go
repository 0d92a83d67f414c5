// Package wire is the JSON form of Specie's HTTP API: the request and
// response bodies, and the conversions between them and the roles types.
// The server (internal/api) and the Go client (client/) both use it, so the
// two cannot drift apart.
//
// Conventions: amounts are strings of minor units ("100000000"), never JSON
// numbers, so no float ever touches money; responses also carry a formatted
// "*_decimal" twin ("1000000.00") when the server knows the currency.
// Hashes, keys and signatures are lower-case hex; transactions travel as the
// standard base64 of their canonical binary encoding.
package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/policy"
	"github.com/specie/specie/roles"
)

// Error is the body of every error response: {"error": {...}}.
type Error struct {
	Code    errcode.Code `json:"code"`
	Message string       `json:"message"`
}

// ErrorBody wraps Error as the API sends it.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Health is GET /healthz.
type Health struct {
	Status string `json:"status"`
}

// Currency is the network's ISO 4217 currency.
type Currency struct {
	Code     string `json:"code"`
	Exponent uint8  `json:"exponent"`
}

// Network names the network and its currency.
type Network struct {
	ID       string   `json:"id"`
	Currency Currency `json:"currency"`
}

// Info is GET /v1/info.
type Info struct {
	Network    Network            `json:"network"`
	MintKeys   []crypto.PublicKey `json:"mint_keys"`
	MintQuorum int                `json:"mint_quorum"`
	RedeemKeys []crypto.PublicKey `json:"redeem_keys"`
	Shards     int                `json:"shards"`
	// LogKey verifies the log's signed checkpoints (GET
	// /v1/log/checkpoint), in the signed note format; absent when the
	// ledger signs none.
	LogKey string `json:"log_key,omitempty"`
	// KeySets are the officer key rotations the ledger applied; absent
	// before the first.
	KeySets []roles.KeyEpoch `json:"key_sets,omitempty"`
	// Groups and Coordinator say where a sharded network's per-group logs
	// and its coordinator's decision log are served; absent unsharded.
	Groups      []roles.GroupLog `json:"groups,omitempty"`
	Coordinator []string         `json:"coordinator,omitempty"`
}

// TxRequest carries one transaction: POST /v1/transactions,
// /v1/issuer/redeems and /v1/intermediaries/{name}/deliveries.
type TxRequest struct {
	Tx string `json:"tx"`
}

// BatchRequest is POST /v1/transactions/batch.
type BatchRequest struct {
	Txs []string `json:"txs"`
}

// LocateRequest is POST /v1/transactions/locate: which of these
// transactions are committed, and where. It is answered with a
// BatchResponse, a receipt or an error per txid, in order.
type LocateRequest struct {
	TxIDs []money.TxID `json:"txids"`
}

// BatchResult is one transaction's outcome: exactly one of the fields is set.
type BatchResult struct {
	Receipt *roles.Receipt `json:"receipt,omitempty"`
	Error   *Error         `json:"error,omitempty"`
}

// BatchResponse answers a batch, results in request order.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// Header is a batch header with its amounts as strings.
type Header struct {
	Seq                uint64     `json:"seq"`
	Prev               money.Hash `json:"prev"`
	TxRoot             money.Hash `json:"tx_root"`
	TxCount            uint32     `json:"tx_count"`
	Minted             string     `json:"minted"`
	Redeemed           string     `json:"redeemed"`
	Outstanding        string     `json:"outstanding"`
	MintedDecimal      string     `json:"minted_decimal,omitempty"`
	RedeemedDecimal    string     `json:"redeemed_decimal,omitempty"`
	OutstandingDecimal string     `json:"outstanding_decimal,omitempty"`
}

// Headers is GET /v1/log/headers.
type Headers struct {
	Headers []Header `json:"headers"`
}

// Consistency is GET /v1/log/consistency: the RFC 9162 proof that the
// log-wide tree of size from is a prefix of the tree of size to.
type Consistency struct {
	From  uint64       `json:"from"`
	To    uint64       `json:"to"`
	Proof []money.Hash `json:"proof"`
}

// Batch is GET /v1/log/batches/{seq}: a committed batch in full. Each
// transaction is its canonical binary encoding with signatures, in base64
// (the form of POST /v1/transactions), in commit order.
type Batch struct {
	Header       Header   `json:"header"`
	Transactions []string `json:"transactions"`
	// KeySet is a rotation batch's rotation record in base64
	// (roles.BatchContents.KeySet); its transactions are then empty.
	KeySet string `json:"key_set,omitempty"`
	// TxIDs are the batch's Merkle leaves (roles.BatchContents.IDs): the
	// txid each transaction is logged under.
	TxIDs []money.Hash `json:"txids,omitempty"`
}

// TxInfo is GET /v1/transactions/{txid}.
type TxInfo struct {
	TxID   money.TxID   `json:"txid"`
	Status string       `json:"status"`
	Kind   string       `json:"kind"`
	Header Header       `json:"header"`
	Index  uint32       `json:"index"`
	Proof  []money.Hash `json:"proof"`
}

// NoteInfo is GET /v1/notes/{noteid}; value is present while unspent.
type NoteInfo struct {
	ID           money.NoteID `json:"id"`
	Status       string       `json:"status"`
	Value        string       `json:"value,omitempty"`
	ValueDecimal string       `json:"value_decimal,omitempty"`
}

// Supply is GET /v1/supply. Reserves is present (possibly empty) only when
// the issuer answers, which is how a client tells the two views apart.
type Supply struct {
	Minted             string     `json:"minted"`
	Redeemed           string     `json:"redeemed"`
	Outstanding        string     `json:"outstanding"`
	MintedDecimal      string     `json:"minted_decimal,omitempty"`
	RedeemedDecimal    string     `json:"redeemed_decimal,omitempty"`
	OutstandingDecimal string     `json:"outstanding_decimal,omitempty"`
	Unspent            uint64     `json:"unspent_notes"`
	Batches            uint64     `json:"batches"`
	Currency           *Currency  `json:"currency,omitempty"`
	Reserves           *[]Reserve `json:"reserves,omitempty"`
}

// Reserve is an intermediary's reserve account.
type Reserve struct {
	Intermediary   string `json:"intermediary"`
	Balance        string `json:"balance"`
	BalanceDecimal string `json:"balance_decimal,omitempty"`
}

// MintRequest is POST /v1/issuer/mints. Amount is minor units or a decimal.
type MintRequest struct {
	To     string `json:"to"`
	Amount string `json:"amount"`
}

// ApprovalRequest is POST /v1/issuer/mints/{id}/approvals: an officer's
// key and its signature (domain crypto.Mint) over the mint's txid, in hex.
type ApprovalRequest struct {
	Key       string `json:"key"`
	Signature string `json:"signature"`
}

// KeySig is an authority signature with its key.
type KeySig struct {
	Key       crypto.PublicKey `json:"key"`
	Signature string           `json:"signature"`
}

// Mint is a mint proposal. Tx is the mint transaction (base64), so
// officers can check what they sign.
type Mint struct {
	ID            money.TxID         `json:"id"`
	To            string             `json:"to"`
	Amount        string             `json:"amount"`
	AmountDecimal string             `json:"amount_decimal,omitempty"`
	Status        string             `json:"status"`
	Approvals     []KeySig           `json:"approvals"`
	Approvers     []crypto.PublicKey `json:"approvers"`
	Quorum        int                `json:"quorum"`
	Receipt       *roles.Receipt     `json:"receipt,omitempty"`
	Reason        string             `json:"reason,omitempty"`
	Tx            string             `json:"tx,omitempty"`
	Created       time.Time          `json:"created"`
}

// Redemption answers a redeem.
type Redemption struct {
	Intermediary  string        `json:"intermediary"`
	Amount        string        `json:"amount"`
	AmountDecimal string        `json:"amount_decimal,omitempty"`
	Receipt       roles.Receipt `json:"receipt"`
}

// OpenWalletRequest is POST /v1/intermediaries/{name}/wallets.
type OpenWalletRequest struct {
	Owner string `json:"owner"`
	// Tier and Evidence: see roles.WalletRequest. Share is an amount
	// string ("" or "0": the tier's whole holding limit).
	Tier     int                 `json:"tier"`
	Evidence []roles.EvidenceRef `json:"evidence,omitempty"`
	Share    string              `json:"share,omitempty"`
	Person   string              `json:"person,omitempty"`
	Reason   string              `json:"reason,omitempty"`
}

// TierRequest is POST /v1/intermediaries/{name}/wallets/{id}/tier.
type TierRequest struct {
	Tier     int                 `json:"tier"`
	Evidence []roles.EvidenceRef `json:"evidence,omitempty"`
	Share    string              `json:"share,omitempty"`
	Reason   string              `json:"reason"`
}

// ReasonRequest is the body of freeze, unfreeze and close.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

// LinkRequest is POST /v1/intermediaries/{name}/wallets/{id}/link.
type LinkRequest struct {
	Account string `json:"account"`
	Reason  string `json:"reason"`
}

// Audit is a wallet's audit trail.
type Audit struct {
	Entries []roles.AuditEntry `json:"entries"`
}

// Account is a deposit account with its history.
type Account struct {
	ID             string         `json:"id"`
	Wallet         string         `json:"wallet"`
	Balance        string         `json:"balance"`
	BalanceDecimal string         `json:"balance_decimal,omitempty"`
	Entries        []AccountEntry `json:"entries"`
}

// AccountEntry is one line of an account's history.
type AccountEntry struct {
	TxID          money.TxID `json:"txid,omitzero"`
	Direction     string     `json:"direction"`
	Amount        string     `json:"amount"`
	AmountDecimal string     `json:"amount_decimal,omitempty"`
	Reference     string     `json:"reference,omitempty"`
	Time          time.Time  `json:"time"`
}

// FromAccount converts an account and its history.
func FromAccount(a roles.Account, es []roles.AccountEntry, cur *money.Currency) Account {
	out := Account{ID: a.ID, Wallet: a.Wallet, Balance: FormatAmount(a.Balance), BalanceDecimal: decimal(cur, a.Balance), Entries: make([]AccountEntry, len(es))}
	for i, e := range es {
		out.Entries[i] = AccountEntry{TxID: e.TxID, Direction: e.Direction, Amount: FormatAmount(e.Amount), AmountDecimal: decimal(cur, e.Amount), Reference: e.Reference, Time: e.Time}
	}
	return out
}

// ToAccount converts back an account and its history.
func (a Account) ToAccount() (roles.Account, []roles.AccountEntry, error) {
	bal, err := ParseMinor(a.Balance)
	if err != nil {
		return roles.Account{}, nil, badResponse("account balance", err)
	}
	es := make([]roles.AccountEntry, len(a.Entries))
	for i, e := range a.Entries {
		amt, err := ParseMinor(e.Amount)
		if err != nil {
			return roles.Account{}, nil, badResponse("account entry amount", err)
		}
		es[i] = roles.AccountEntry{TxID: e.TxID, Direction: e.Direction, Amount: amt, Reference: e.Reference, Time: e.Time}
	}
	return roles.Account{ID: a.ID, Wallet: a.Wallet, Balance: bal}, es, nil
}

// Wallet is a custodial wallet.
type Wallet struct {
	ID             string    `json:"id"`
	Owner          string    `json:"owner"`
	Lock           string    `json:"lock,omitempty"`
	Balance        string    `json:"balance"`
	BalanceDecimal string    `json:"balance_decimal,omitempty"`
	Notes          int       `json:"notes"`
	Created        time.Time `json:"created"`
	// Pending is held by payments in flight (see roles.Wallet.Pending);
	// absent from old servers, read as 0.
	Pending        string `json:"pending,omitempty"`
	PendingDecimal string `json:"pending_decimal,omitempty"`
	// Reserved is locked in the wallet's active reservations (see
	// roles.Wallet.Reserved); absent when 0.
	Reserved        string `json:"reserved,omitempty"`
	ReservedDecimal string `json:"reserved_decimal,omitempty"`
	// The wallet's policy tier and state (see roles.Wallet); absent for
	// the treasury and from old servers.
	Tier                int    `json:"tier"`
	TierName            string `json:"tier_name,omitempty"`
	State               string `json:"state,omitempty"`
	HoldingLimit        string `json:"holding_limit,omitempty"`
	HoldingLimitDecimal string `json:"holding_limit_decimal,omitempty"`
	Account             string `json:"account,omitempty"`
}

// Entry is one line of a wallet's history.
type Entry struct {
	TxID          money.TxID `json:"txid"`
	Direction     string     `json:"direction"`
	Amount        string     `json:"amount"`
	AmountDecimal string     `json:"amount_decimal,omitempty"`
	Counterparty  string     `json:"counterparty,omitempty"`
	Reference     string     `json:"reference,omitempty"`
	Batch         uint64     `json:"batch"`
	Time          time.Time  `json:"time"`

	RefundOf money.TxID `json:"refund_of,omitzero"` // the payment a refund refunds
}

// History is GET /v1/intermediaries/{name}/wallets/{id}/history.
type History struct {
	Entries []Entry `json:"entries"`
}

// PaymentRequest is POST /v1/intermediaries/{name}/payments. The
// idempotency key may come here or in the Idempotency-Key header
// (IdempotencyKeyHeader); see roles.Payment.
type PaymentRequest struct {
	From           string `json:"from"`
	To             string `json:"to"`
	Amount         string `json:"amount"`
	Reference      string `json:"reference,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`

	// RefundOf makes the payment a refund of that payment (see
	// roles.Payment.RefundOf); To may then be empty.
	RefundOf money.TxID `json:"refund_of,omitzero"`
}

// IdempotencyKeyHeader is the standard request header that carries a
// payment's idempotency key, as an alternative to the body field.
const IdempotencyKeyHeader = "Idempotency-Key"

// PaymentResult is a committed payment.
type PaymentResult struct {
	TxID          money.TxID    `json:"txid"`
	Receipt       roles.Receipt `json:"receipt"`
	From          string        `json:"from"`
	To            string        `json:"to"`
	Amount        string        `json:"amount"`
	AmountDecimal string        `json:"amount_decimal,omitempty"`
}

// LockResponse is GET /v1/intermediaries/{name}/wallets/{id}/lock.
type LockResponse struct {
	Lock string `json:"lock"`
	// With ?amount=, the part of it to pay to OverflowLock instead (the
	// waterfall into the wallet's linked deposit account); absent when 0.
	Overflow     string `json:"overflow,omitempty"`
	OverflowLock string `json:"overflow_lock,omitempty"`
	// With ?amount=, the hold placed on the wallet's incoming capacity
	// for this payment, to pass back in the delivery's memo; absent when
	// nothing is held (no holding limit).
	Hold string `json:"hold,omitempty"`
}

// Memo is what the payer's intermediary tells the payee's about a
// delivered payment: payer and payee wallets and the reference.
type Memo struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Reference string `json:"reference,omitempty"`
	Hold      string `json:"hold,omitempty"`
	Request   string `json:"request,omitempty"`

	RefundOf money.TxID `json:"refund_of,omitzero"` // the payment a refund refunds
}

// HoldReleaseResponse answers DELETE
// /v1/intermediaries/{name}/wallets/{id}/holds/{hold}.
type HoldReleaseResponse struct {
	Status string `json:"status"` // "released"
}

// DeliveryRequest is POST /v1/intermediaries/{name}/deliveries: a
// TxRequest with an optional memo (a body without one is the old format).
type DeliveryRequest struct {
	Tx   string `json:"tx"`
	Memo *Memo  `json:"memo,omitempty"`
}

// DeliveryBatchRequest is POST /v1/intermediaries/{name}/deliveries/batch.
type DeliveryBatchRequest struct {
	Deliveries []DeliveryRequest `json:"deliveries"`
}

// DeliveryResult is one delivery's outcome: status "delivered", or error.
type DeliveryResult struct {
	Status string `json:"status,omitempty"`
	Error  *Error `json:"error,omitempty"`
}

// DeliveryBatchResponse answers a batch of deliveries, in request order.
type DeliveryBatchResponse struct {
	Results []DeliveryResult `json:"results"`
}

// FromMemo converts a memo; nil stays nil.
func FromMemo(m *roles.Memo) *Memo {
	if m == nil {
		return nil
	}
	return &Memo{From: m.From, To: m.To, Reference: m.Reference, Hold: m.Hold, Request: m.Request, RefundOf: m.RefundOf}
}

// ToMemo converts back a memo; nil stays nil.
func (m *Memo) ToMemo() *roles.Memo {
	if m == nil {
		return nil
	}
	return &roles.Memo{From: m.From, To: m.To, Reference: m.Reference, Hold: m.Hold, Request: m.Request, RefundOf: m.RefundOf}
}

// DeliveryResponse answers a delivery.
type DeliveryResponse struct {
	Status string `json:"status"`
}

// RedeemRequest is POST /v1/intermediaries/{name}/redeems. The
// idempotency key may come here or in the Idempotency-Key header, as for a
// payment; see roles.RedeemRequest.
type RedeemRequest struct {
	Amount         string `json:"amount"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// --- amounts ---

// FormatAmount renders minor units as the API's amount string.
func FormatAmount(v uint64) string { return strconv.FormatUint(v, 10) }

// ParseMinor reads an amount string of minor units: digits only, no sign,
// no point, no exponent, at most 2^64-1.
func ParseMinor(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("amount: empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("amount %q: want digits of minor units", s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, money.ErrOverflow)
	}
	return v, nil
}

// decimal formats v with cur when cur is known, else "".
func decimal(cur *money.Currency, v uint64) string {
	if cur == nil {
		return ""
	}
	return cur.Format(v)
}

// --- binary fields ---

// EncodeTx is the API form of a transaction: standard base64 of its
// canonical binary encoding.
func EncodeTx(tx *money.Tx) (string, error) {
	b, err := tx.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("encode tx: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DecodeTx reads a transaction from its API form. Every failure is an
// *errcode.Error with code Malformed.
func DecodeTx(s string) (*money.Tx, error) {
	if s == "" {
		return nil, errcode.New(errcode.Malformed, "tx: empty")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errcode.New(errcode.Malformed, "tx: bad base64: %v", err)
	}
	tx := new(money.Tx)
	if err := tx.UnmarshalBinary(b); err != nil {
		return nil, errcode.New(errcode.Malformed, "tx: %v", err)
	}
	return tx, nil
}

// ParseLock reads "ed25519:<64 hex digits>", the form Lock.String writes.
func ParseLock(s string) (money.Lock, error) {
	rest, ok := strings.CutPrefix(s, "ed25519:")
	if !ok {
		return money.Lock{}, fmt.Errorf("lock %q: want ed25519:<hex key>", s)
	}
	if len(rest) != 64 {
		return money.Lock{}, fmt.Errorf("lock %q: want 64 hex digits", s)
	}
	var key [32]byte
	if _, err := hex.Decode(key[:], []byte(rest)); err != nil {
		return money.Lock{}, fmt.Errorf("lock %q: %w", s, err)
	}
	return money.KeyLock(key), nil
}

// ParseSig reads a 128-digit hex signature.
func ParseSig(s string) (money.Sig, error) {
	var sig money.Sig
	if len(s) != 2*len(sig) {
		return sig, fmt.Errorf("signature: want %d hex digits, got %d", 2*len(sig), len(s))
	}
	if _, err := hex.Decode(sig[:], []byte(s)); err != nil {
		return sig, fmt.Errorf("signature: %w", err)
	}
	return sig, nil
}

// --- strict decoding ---

// DecodeStrict reads exactly one JSON object from r into v, rejecting
// unknown fields, other top-level values (null, arrays) and anything after
// the object. Failures are Malformed *errcode.Errors (an oversize body
// included, as reported by http.MaxBytesReader).
//
// The body is read into a pooled buffer (a payment's request is read on
// every customer payment), and a FastDecoder reads its common shape
// without reflection; anything else is decoded as before.
func DecodeStrict(r io.Reader, v any) error {
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(r); err != nil {
		return malformedJSON(err)
	}
	if fd, ok := v.(FastDecoder); ok && fd.DecodeFast(buf.Bytes()) {
		return nil
	}
	return DecodeStrictBytes(buf.Bytes(), v)
}

// bodyPool holds the buffers DecodeStrict reads bodies into; one larger
// than maxPooledBody (a big batch) is left to the collector instead.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 64 << 10

// DecodeStrictBytes is DecodeStrict over a byte slice.
func DecodeStrictBytes(b []byte, v any) error {
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 {
		return errcode.New(errcode.Malformed, "body: empty, want a JSON object")
	}
	if trimmed[0] != '{' {
		return errcode.New(errcode.Malformed, "body: want a JSON object")
	}
	if err := checkUTF8(trimmed); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformedJSON(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return malformedJSON(err)
	default:
		return errcode.New(errcode.Malformed, "body: unexpected data after the JSON object")
	}
}

// checkUTF8 rejects what encoding/json would silently rewrite to U+FFFD:
// bytes that are not UTF-8, and \u escapes of unpaired UTF-16 surrogates.
// A backslash occurs in valid JSON only inside a string, so every escape
// is found by scanning for it; invalid JSON fails later in the decoder.
func checkUTF8(b []byte) error {
	if !utf8.Valid(b) {
		return errcode.New(errcode.Malformed, "body: invalid UTF-8")
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 < len(b) && b[i+1] != 'u' {
			i++ // a one-character escape, possibly \\
			continue
		}
		r, ok := hexRune(b, i+2)
		switch {
		case !ok:
			// a bad escape: the decoder rejects it
		case r >= 0xD800 && r < 0xDC00:
			if i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
				return errcode.New(errcode.Malformed, "body: unpaired UTF-16 surrogate escape")
			}
			if lo, ok := hexRune(b, i+8); !ok || lo < 0xDC00 || lo > 0xDFFF {
				return errcode.New(errcode.Malformed, "body: unpaired UTF-16 surrogate escape")
			}
			i += 11 // both escapes
		case r >= 0xDC00 && r <= 0xDFFF:
			return errcode.New(errcode.Malformed, "body: unpaired UTF-16 surrogate escape")
		default:
			i += 5
		}
	}
	return nil
}

// hexRune reads four hex digits at b[i:].
func hexRune(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

func malformedJSON(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errcode.New(errcode.Malformed, "body: larger than %d bytes", tooBig.Limit)
	}
	if errors.Is(err, io.EOF) {
		return errcode.New(errcode.Malformed, "body: empty, want a JSON object")
	}
	// A read that failed says nothing about the JSON, and its text names
	// the server's addresses: say what happened instead.
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return errcode.New(errcode.Malformed, "body: not received within the server's read timeout")
		}
		return errcode.New(errcode.Malformed, "body: read failed")
	}
	return errcode.New(errcode.Malformed, "body: %v", err)
}

// --- roles -> wire (server side) ---

// FromInfo converts ledger info.
func FromInfo(in roles.LedgerInfo) Info {
	return Info{
		Network: Network{
			ID:       in.Network.ID,
			Currency: Currency{Code: in.Network.Currency.Code, Exponent: in.Network.Currency.Exponent},
		},
		MintKeys:    nonNilKeys(in.MintKeys),
		MintQuorum:  in.MintQuorum,
		RedeemKeys:  nonNilKeys(in.RedeemKeys),
		Shards:      in.Shards,
		KeySets:     in.KeySets,
		Groups:      in.Groups,
		Coordinator: in.Coordinator,
	}
}

func nonNilKeys(k []crypto.PublicKey) []crypto.PublicKey {
	if k == nil {
		return []crypto.PublicKey{}
	}
	return k
}

// FromHeader converts a batch header; cur may be nil.
func FromHeader(h money.BatchHeader, cur *money.Currency) Header {
	out := h.Minted - h.Redeemed
	return Header{
		Seq: h.Seq, Prev: h.Prev, TxRoot: h.TxRoot, TxCount: h.TxCount,
		Minted: FormatAmount(h.Minted), Redeemed: FormatAmount(h.Redeemed), Outstanding: FormatAmount(out),
		MintedDecimal: decimal(cur, h.Minted), RedeemedDecimal: decimal(cur, h.Redeemed), OutstandingDecimal: decimal(cur, out),
	}
}

// FromHeaders converts a run of headers.
func FromHeaders(hs []money.BatchHeader, cur *money.Currency) Headers {
	out := Headers{Headers: make([]Header, len(hs))}
	for i := range hs {
		out.Headers[i] = FromHeader(hs[i], cur)
	}
	return out
}

// FromTxInfo converts an inclusion report.
func FromTxInfo(t roles.TxInfo, cur *money.Currency) TxInfo {
	proof := t.Proof
	if proof == nil {
		proof = []money.Hash{}
	}
	return TxInfo{TxID: t.TxID, Status: t.Status, Kind: t.Kind, Header: FromHeader(t.Header, cur), Index: t.Index, Proof: proof}
}

// FromNoteInfo converts a note report.
func FromNoteInfo(n roles.NoteInfo, cur *money.Currency) NoteInfo {
	out := NoteInfo{ID: n.ID, Status: n.Status}
	if n.Value != 0 {
		out.Value = FormatAmount(n.Value)
		out.ValueDecimal = decimal(cur, n.Value)
	}
	return out
}

// FromLedgerSupply converts the ledger's supply view.
func FromLedgerSupply(s roles.LedgerSupply, cur *money.Currency) Supply {
	out := Supply{
		Minted: FormatAmount(s.Minted), Redeemed: FormatAmount(s.Redeemed), Outstanding: FormatAmount(s.Outstanding),
		MintedDecimal: decimal(cur, s.Minted), RedeemedDecimal: decimal(cur, s.Redeemed), OutstandingDecimal: decimal(cur, s.Outstanding),
		Unspent: s.Unspent, Batches: s.Batches,
	}
	if cur != nil {
		out.Currency = &Currency{Code: cur.Code, Exponent: cur.Exponent}
	}
	return out
}

// FromSupply converts the issuer's supply view, reserves included.
func FromSupply(s roles.Supply) Supply {
	cur := &s.Currency
	if cur.Code == "" {
		cur = nil
	}
	out := FromLedgerSupply(s.LedgerSupply, cur)
	out.Currency = &Currency{Code: s.Currency.Code, Exponent: s.Currency.Exponent}
	rs := make([]Reserve, len(s.Reserves))
	for i, r := range s.Reserves {
		rs[i] = Reserve{Intermediary: r.Intermediary, Balance: FormatAmount(r.Balance), BalanceDecimal: decimal(cur, r.Balance)}
	}
	out.Reserves = &rs
	return out
}

// FromMint converts a mint proposal.
func FromMint(m roles.Mint, cur *money.Currency) (Mint, error) {
	out := Mint{
		ID: m.ID, To: m.To, Amount: FormatAmount(m.Amount), AmountDecimal: decimal(cur, m.Amount),
		Status: m.Status, Approvals: make([]KeySig, len(m.Approvals)), Approvers: nonNilKeys(m.Approvers),
		Quorum: m.Quorum, Receipt: m.Receipt, Reason: m.Reason, Created: m.Created,
	}
	for i, a := range m.Approvals {
		out.Approvals[i] = KeySig{Key: crypto.PublicKey(a.Key), Signature: hex.EncodeToString(a.Sig[:])}
	}
	if m.Tx != nil {
		s, err := EncodeTx(m.Tx)
		if err != nil {
			return Mint{}, err
		}
		out.Tx = s
	}
	return out, nil
}

// FromRedemption converts a redemption.
func FromRedemption(r roles.Redemption, cur *money.Currency) Redemption {
	return Redemption{Intermediary: r.Intermediary, Amount: FormatAmount(r.Amount), AmountDecimal: decimal(cur, r.Amount), Receipt: r.Receipt}
}

// FromWallet converts a wallet.
func FromWallet(w roles.Wallet, cur *money.Currency) Wallet {
	out := Wallet{
		ID: w.ID, Owner: w.Owner, Balance: FormatAmount(w.Balance), BalanceDecimal: decimal(cur, w.Balance),
		Notes: w.Notes, Created: w.Created,
		Pending: FormatAmount(w.Pending), PendingDecimal: decimal(cur, w.Pending),
		Tier: w.Tier, TierName: w.TierName, State: w.State, Account: w.Account,
	}
	if w.HoldingLimit != 0 {
		out.HoldingLimit, out.HoldingLimitDecimal = FormatAmount(w.HoldingLimit), decimal(cur, w.HoldingLimit)
	}
	if w.Reserved != 0 {
		out.Reserved, out.ReservedDecimal = FormatAmount(w.Reserved), decimal(cur, w.Reserved)
	}
	if w.Lock.Kind != 0 {
		out.Lock = w.Lock.String()
	}
	return out
}

// FromHistory converts a wallet's history.
func FromHistory(es []roles.Entry, cur *money.Currency) History {
	out := History{Entries: make([]Entry, len(es))}
	for i, e := range es {
		out.Entries[i] = Entry{
			TxID: e.TxID, Direction: e.Direction, Amount: FormatAmount(e.Amount), AmountDecimal: decimal(cur, e.Amount),
			Counterparty: e.Counterparty, Reference: e.Reference, Batch: e.Batch, Time: e.Time, RefundOf: e.RefundOf,
		}
	}
	return out
}

// FromPaymentResult converts a committed payment.
func FromPaymentResult(p roles.PaymentResult, cur *money.Currency) PaymentResult {
	return PaymentResult{
		TxID: p.TxID, Receipt: p.Receipt, From: p.From, To: p.To,
		Amount: FormatAmount(p.Amount), AmountDecimal: decimal(cur, p.Amount),
	}
}

// --- wire -> roles (client side) ---

// badResponse marks a response the client cannot read: the server broke
// the contract, so the code is Internal.
func badResponse(what string, err error) error {
	return errcode.New(errcode.Internal, "response %s: %v", what, err)
}

// ToInfo converts back to ledger info.
func (w Info) ToInfo() roles.LedgerInfo {
	return roles.LedgerInfo{
		Network:     money.Network{ID: w.Network.ID, Currency: money.Currency{Code: w.Network.Currency.Code, Exponent: w.Network.Currency.Exponent}},
		MintKeys:    nilIfEmpty(w.MintKeys),
		MintQuorum:  w.MintQuorum,
		RedeemKeys:  nilIfEmpty(w.RedeemKeys),
		Shards:      w.Shards,
		KeySets:     w.KeySets,
		Groups:      w.Groups,
		Coordinator: w.Coordinator,
	}
}

// nilIfEmpty keeps "no items" as nil on the Go side, as services return it.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// ToHeader converts back to a batch header.
func (w Header) ToHeader() (money.BatchHeader, error) {
	m, err := ParseMinor(w.Minted)
	if err != nil {
		return money.BatchHeader{}, badResponse("header minted", err)
	}
	r, err := ParseMinor(w.Redeemed)
	if err != nil {
		return money.BatchHeader{}, badResponse("header redeemed", err)
	}
	return money.BatchHeader{Seq: w.Seq, Prev: w.Prev, TxRoot: w.TxRoot, TxCount: w.TxCount, Minted: m, Redeemed: r}, nil
}

// FromBatch converts a batch served in full; cur may be nil.
func FromBatch(b roles.BatchContents, cur *money.Currency) Batch {
	out := Batch{Header: FromHeader(b.Header, cur), Transactions: make([]string, len(b.Txs)), TxIDs: b.IDs}
	for i, tx := range b.Txs {
		out.Transactions[i] = base64.StdEncoding.EncodeToString(tx)
	}
	if b.KeySet != nil {
		out.KeySet = base64.StdEncoding.EncodeToString(b.KeySet)
	}
	return out
}

// ToBatch converts back a batch served in full. It checks the base64 only:
// the transactions' bytes are returned as served, for the caller (an
// auditor) to decode and judge one by one.
func (w Batch) ToBatch() (roles.BatchContents, error) {
	h, err := w.Header.ToHeader()
	if err != nil {
		return roles.BatchContents{}, err
	}
	out := roles.BatchContents{Header: h, Txs: make([][]byte, len(w.Transactions)), IDs: w.TxIDs}
	for i, s := range w.Transactions {
		if out.Txs[i], err = base64.StdEncoding.Strict().DecodeString(s); err != nil {
			return roles.BatchContents{}, badResponse(fmt.Sprintf("transactions[%d]", i), err)
		}
	}
	if w.KeySet != "" {
		if out.KeySet, err = base64.StdEncoding.Strict().DecodeString(w.KeySet); err != nil {
			return roles.BatchContents{}, badResponse("key_set", err)
		}
	}
	return out, nil
}

// ToHeaders converts back a run of headers.
func (w Headers) ToHeaders() ([]money.BatchHeader, error) {
	out := make([]money.BatchHeader, len(w.Headers))
	for i, h := range w.Headers {
		var err error
		if out[i], err = h.ToHeader(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ToTxInfo converts back an inclusion report.
func (w TxInfo) ToTxInfo() (roles.TxInfo, error) {
	h, err := w.Header.ToHeader()
	if err != nil {
		return roles.TxInfo{}, err
	}
	return roles.TxInfo{TxID: w.TxID, Status: w.Status, Kind: w.Kind, Header: h, Index: w.Index, Proof: nilIfEmpty(w.Proof)}, nil
}

// ToNoteInfo converts back a note report.
func (w NoteInfo) ToNoteInfo() (roles.NoteInfo, error) {
	out := roles.NoteInfo{ID: w.ID, Status: w.Status}
	if w.Value != "" {
		v, err := ParseMinor(w.Value)
		if err != nil {
			return roles.NoteInfo{}, badResponse("note value", err)
		}
		out.Value = v
	}
	return out, nil
}

// ToLedgerSupply converts back the ledger's supply view.
func (w Supply) ToLedgerSupply() (roles.LedgerSupply, error) {
	var s roles.LedgerSupply
	for _, f := range []struct {
		dst  *uint64
		src  string
		name string
	}{{&s.Minted, w.Minted, "minted"}, {&s.Redeemed, w.Redeemed, "redeemed"}, {&s.Outstanding, w.Outstanding, "outstanding"}} {
		v, err := ParseMinor(f.src)
		if err != nil {
			return s, badResponse("supply "+f.name, err)
		}
		*f.dst = v
	}
	s.Unspent, s.Batches = w.Unspent, w.Batches
	return s, nil
}

// ToSupply converts back the issuer's supply view. A response without
// reserves came from a ledger-only server: NotFound.
func (w Supply) ToSupply() (roles.Supply, error) {
	if w.Reserves == nil {
		return roles.Supply{}, errcode.New(errcode.NotFound, "this server does not serve the issuer's supply (no reserves)")
	}
	ls, err := w.ToLedgerSupply()
	if err != nil {
		return roles.Supply{}, err
	}
	out := roles.Supply{LedgerSupply: ls, Reserves: make([]roles.Reserve, len(*w.Reserves))}
	if w.Currency != nil {
		out.Currency = money.Currency{Code: w.Currency.Code, Exponent: w.Currency.Exponent}
	}
	for i, r := range *w.Reserves {
		b, err := ParseMinor(r.Balance)
		if err != nil {
			return roles.Supply{}, badResponse("reserve balance", err)
		}
		out.Reserves[i] = roles.Reserve{Intermediary: r.Intermediary, Balance: b}
	}
	return out, nil
}

// ToMint converts back a mint proposal.
func (w Mint) ToMint() (roles.Mint, error) {
	amt, err := ParseMinor(w.Amount)
	if err != nil {
		return roles.Mint{}, badResponse("mint amount", err)
	}
	m := roles.Mint{
		ID: w.ID, To: w.To, Amount: amt, Status: w.Status, Approvers: nilIfEmpty(w.Approvers),
		Quorum: w.Quorum, Receipt: w.Receipt, Reason: w.Reason, Created: w.Created,
	}
	if len(w.Approvals) > 0 {
		m.Approvals = make([]money.KeySig, len(w.Approvals))
		for i, a := range w.Approvals {
			sig, err := ParseSig(a.Signature)
			if err != nil {
				return roles.Mint{}, badResponse("mint approval", err)
			}
			m.Approvals[i] = money.KeySig{Key: a.Key, Sig: sig}
		}
	}
	if w.Tx != "" {
		tx, err := DecodeTx(w.Tx)
		if err != nil {
			return roles.Mint{}, badResponse("mint tx", err)
		}
		m.Tx = tx
	}
	return m, nil
}

// ToRedemption converts back a redemption.
func (w Redemption) ToRedemption() (roles.Redemption, error) {
	amt, err := ParseMinor(w.Amount)
	if err != nil {
		return roles.Redemption{}, badResponse("redemption amount", err)
	}
	return roles.Redemption{Intermediary: w.Intermediary, Amount: amt, Receipt: w.Receipt}, nil
}

// ToWallet converts back a wallet.
func (w Wallet) ToWallet() (roles.Wallet, error) {
	bal, err := ParseMinor(w.Balance)
	if err != nil {
		return roles.Wallet{}, badResponse("wallet balance", err)
	}
	out := roles.Wallet{ID: w.ID, Owner: w.Owner, Balance: bal, Notes: w.Notes, Created: w.Created,
		Tier: w.Tier, TierName: w.TierName, State: w.State, Account: w.Account}
	if w.HoldingLimit != "" {
		if out.HoldingLimit, err = ParseMinor(w.HoldingLimit); err != nil {
			return roles.Wallet{}, badResponse("wallet holding limit", err)
		}
	}
	if w.Pending != "" {
		if out.Pending, err = ParseMinor(w.Pending); err != nil {
			return roles.Wallet{}, badResponse("wallet pending", err)
		}
	}
	if w.Reserved != "" {
		if out.Reserved, err = ParseMinor(w.Reserved); err != nil {
			return roles.Wallet{}, badResponse("wallet reserved", err)
		}
	}
	if w.Lock != "" {
		if out.Lock, err = ParseLock(w.Lock); err != nil {
			return roles.Wallet{}, badResponse("wallet lock", err)
		}
	}
	return out, nil
}

// ToEntries converts back a wallet's history.
func (w History) ToEntries() ([]roles.Entry, error) {
	out := make([]roles.Entry, len(w.Entries))
	for i, e := range w.Entries {
		amt, err := ParseMinor(e.Amount)
		if err != nil {
			return nil, badResponse("history amount", err)
		}
		out[i] = roles.Entry{
			TxID: e.TxID, Direction: e.Direction, Amount: amt, Counterparty: e.Counterparty,
			Reference: e.Reference, Batch: e.Batch, Time: e.Time, RefundOf: e.RefundOf,
		}
	}
	return out, nil
}

// ToPaymentResult converts back a committed payment.
func (w PaymentResult) ToPaymentResult() (roles.PaymentResult, error) {
	amt, err := ParseMinor(w.Amount)
	if err != nil {
		return roles.PaymentResult{}, badResponse("payment amount", err)
	}
	return roles.PaymentResult{TxID: w.TxID, Receipt: w.Receipt, From: w.From, To: w.To, Amount: amt}, nil
}

// --- policy and the holding-limit registry ---

// Policy documents travel in their own JSON form (package policy), the
// form whose canonical bytes officers sign, so anyone can hash what they
// receive; its amounts are JSON integers of minor units (never fractions;
// Go decodes them into uint64 exactly), the one place the API does not
// write amounts as strings. GET /v1/policy answers a policy.Signed.

// PolicyRequest is POST /v1/issuer/policies: the proposed version.
type PolicyRequest struct {
	Policy policy.Policy `json:"policy"`
}

// PolicyProposal is a proposed policy version with its approvals.
type PolicyProposal struct {
	ID        money.Hash        `json:"id"`
	Status    string            `json:"status"`
	Policy    policy.Policy     `json:"policy"`
	Approvals []policy.Approval `json:"approvals"`
	Quorum    int               `json:"quorum"`
	Created   time.Time         `json:"created"`
}

// PolicyProposals is GET /v1/issuer/policies.
type PolicyProposals struct {
	Proposals []PolicyProposal `json:"proposals"`
}

// FromSigned is the policy in force as GET /v1/policy answers it.
func FromSigned(s policy.Signed) policy.Signed {
	if s.Approvals == nil {
		s.Approvals = []policy.Approval{}
	}
	return s
}

// FromPolicyProposal converts a policy proposal.
func FromPolicyProposal(p roles.PolicyProposal) PolicyProposal {
	out := PolicyProposal{ID: p.ID, Status: p.Status, Policy: p.Policy, Approvals: p.Approvals, Quorum: p.Quorum, Created: p.Created}
	if out.Approvals == nil {
		out.Approvals = []policy.Approval{}
	}
	return out
}

// ToPolicyProposal converts back a policy proposal.
func (w PolicyProposal) ToPolicyProposal() roles.PolicyProposal {
	return roles.PolicyProposal{ID: w.ID, Status: w.Status, Policy: w.Policy, Approvals: nilIfEmpty(w.Approvals), Quorum: w.Quorum, Created: w.Created}
}

// ReservationRequest is PUT /v1/registry/reservations/{person}/{wallet}:
// the wallet's share of the person's holding limit and the limit of its
// tier, each minor units or a decimal; 0 is allowed (no share; no limit).
type ReservationRequest struct {
	Share string `json:"share"`
	Limit string `json:"limit"`
}

// Reservation is one wallet's share of a person's holding limit. Used is
// set in the answer to a PUT: the person's total across intermediaries.
type Reservation struct {
	Person       string `json:"person"`
	Wallet       string `json:"wallet"`
	Share        string `json:"share"`
	ShareDecimal string `json:"share_decimal,omitempty"`
	Limit        string `json:"limit"`
	LimitDecimal string `json:"limit_decimal,omitempty"`
	Used         string `json:"used,omitempty"`
	UsedDecimal  string `json:"used_decimal,omitempty"`
}

// Reservations is GET /v1/registry/reservations: the caller's.
type Reservations struct {
	Reservations []Reservation `json:"reservations"`
}

// ReleaseResponse answers DELETE /v1/registry/reservations/{person}/{wallet}.
type ReleaseResponse struct {
	Status string `json:"status"` // "released", also when there was nothing to release
}

// FromReservation converts a reservation; cur may be nil.
func FromReservation(r roles.Reservation, cur *money.Currency) Reservation {
	out := Reservation{
		Person: r.Person, Wallet: r.Wallet,
		Share: FormatAmount(r.Share), ShareDecimal: decimal(cur, r.Share),
		Limit: FormatAmount(r.Limit), LimitDecimal: decimal(cur, r.Limit),
	}
	if r.Used != 0 {
		out.Used, out.UsedDecimal = FormatAmount(r.Used), decimal(cur, r.Used)
	}
	return out
}

// ToReservation converts back a reservation.
func (w Reservation) ToReservation() (roles.Reservation, error) {
	out := roles.Reservation{Person: w.Person, Wallet: w.Wallet}
	var err error
	if out.Share, err = ParseMinor(w.Share); err != nil {
		return roles.Reservation{}, badResponse("reservation share", err)
	}
	if out.Limit, err = ParseMinor(w.Limit); err != nil {
		return roles.Reservation{}, badResponse("reservation limit", err)
	}
	if w.Used != "" {
		if out.Used, err = ParseMinor(w.Used); err != nil {
			return roles.Reservation{}, badResponse("reservation used", err)
		}
	}
	return out, nil
}
