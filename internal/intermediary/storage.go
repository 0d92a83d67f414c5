package intermediary

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Key layout of the intermediary's store. Wallet IDs never contain a zero
// byte, so "<prefix><wallet>\x00" is a prefix that matches one wallet only.
//
//	w/<wallet>                          walletRec (JSON)
//	l/<lock kind><lock key>             wallet id: which wallet a lock pays
//	n/<wallet>\x00<txid><index>         noteRec (binary): a note the wallet holds (written unspent; a pending record reserves it, notes.go)
//	d/<txid><index>                     wallet id: output already credited (never removed)
//	h/<wallet>\x00<nanos><txid><dir>    roles.Entry (binary, records.go)
//	p/<txid>                            pendingRec (binary, records.go): a spend submitted, outcome not yet applied
//	o/<txid>                            outboxRec (binary, records.go): a committed tx a peer has not yet accepted
//	i/<idempotency key>                 idemRec (binary, records.go): a payment's key, request fingerprint and outcome (removed after the retention)
//	x/<created nanos u64 BE><idem key>  empty: expiry index of idempotency records, oldest first
const (
	pWallet  = "w/"
	pLock    = "l/"
	pNote    = "n/"
	pDone    = "d/"
	pHistory = "h/"
	pPending = "p/"
	pOutbox  = "o/"
	pIdem    = "i/"

	pIdemExpiry = "x/"
)

func walletKey(id string) []byte { return append([]byte(pWallet), id...) }

func lockKey(l money.Lock) []byte {
	k := lockSetKey(l)
	return append([]byte(pLock), k[:]...)
}

// lockSetKey is lockKey(l) without its prefix, as in.ownLocks holds it.
func lockSetKey(l money.Lock) [33]byte {
	var k [33]byte
	k[0] = l.Kind
	copy(k[1:], l.Key[:])
	return k
}

func notePrefix(wallet string) []byte {
	k := make([]byte, 0, len(pNote)+len(wallet)+1+36)
	k = append(k, pNote...)
	k = append(k, wallet...)
	return append(k, 0)
}

func noteKey(wallet string, id money.TxID, index uint32) []byte {
	k := notePrefix(wallet)
	k = append(k, id[:]...)
	return binary.BigEndian.AppendUint32(k, index)
}

func doneKey(id money.TxID, index uint32) []byte {
	k := make([]byte, 0, len(pDone)+36)
	k = append(k, pDone...)
	k = append(k, id[:]...)
	return binary.BigEndian.AppendUint32(k, index)
}

func historyPrefix(wallet string) []byte {
	k := make([]byte, 0, len(pHistory)+len(wallet)+1+41)
	k = append(k, pHistory...)
	k = append(k, wallet...)
	return append(k, 0)
}

func historyKey(wallet string, nanos int64, id money.TxID, dir string) []byte {
	k := historyPrefix(wallet)
	k = binary.BigEndian.AppendUint64(k, uint64(nanos))
	k = append(k, id[:]...)
	return append(k, dir[0])
}

func pendingKey(id money.TxID) []byte { return append([]byte(pPending), id[:]...) }

func outboxKey(id money.TxID) []byte { return append([]byte(pOutbox), id[:]...) }

func idemKey(key string) []byte { return append([]byte(pIdem), key...) }

// idemExpiryKey indexes the idempotency record of key created at nanos
// (not negative: the clock is after 1970).
func idemExpiryKey(nanos int64, key string) []byte {
	k := make([]byte, 0, len(pIdemExpiry)+8+len(key))
	k = append(k, pIdemExpiry...)
	k = binary.BigEndian.AppendUint64(k, uint64(nanos))
	return append(k, key...)
}

// walletRec is a custodial wallet as stored. The seed is the wallet's
// private key: custody means the intermediary holds it.
type walletRec struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Created time.Time `json:"created"`
	Seed    []byte    `json:"seed"`
}

// Note states.
const (
	stateUnspent  byte = 1
	stateReserved byte = 2 // an input of a spend whose outcome is not yet applied
)

// noteRec is a note a wallet holds. While reserved it names the pending
// transaction that spends it.
type noteRec struct {
	Note  money.Note
	State byte
	For   money.TxID // the pending txid when reserved
}

const noteRecSize = 8 + 1 + 32 + 1 + 32

func (r *noteRec) encode() []byte {
	b := make([]byte, 0, noteRecSize)
	b = binary.BigEndian.AppendUint64(b, r.Note.Value)
	b = append(b, r.Note.Lock.Kind)
	b = append(b, r.Note.Lock.Key[:]...)
	b = append(b, r.State)
	return append(b, r.For[:]...)
}

// decodeNote reads a note record; key is its store key, which carries the
// note's txid and index.
func decodeNote(key, v []byte) (noteRec, error) {
	var r noteRec
	if len(v) != noteRecSize || len(key) < 36 {
		return r, fmt.Errorf("note record: %d bytes", len(v))
	}
	tail := key[len(key)-36:]
	copy(r.Note.TxID[:], tail[:32])
	r.Note.Index = binary.BigEndian.Uint32(tail[32:])
	r.Note.Value = binary.BigEndian.Uint64(v)
	r.Note.Lock.Kind = v[8]
	copy(r.Note.Lock.Key[:], v[9:41])
	r.State = v[41]
	copy(r.For[:], v[42:])
	return r, nil
}

// Pending kinds.
const (
	kindPay    = "pay"
	kindRedeem = "redeem"
)

// pendingRec is a spend whose inputs are reserved: written before the
// transaction leaves the intermediary, removed in the same batch that applies
// its outcome, so a crash at any point leaves enough to finish the job.
type pendingRec struct {
	Kind      string    `json:"kind"`
	From      string    `json:"from"`
	To        string    `json:"to,omitempty"`   // recipient wallet id
	Peer      string    `json:"peer,omitempty"` // recipient's intermediary, when not this one
	Amount    uint64    `json:"amount"`
	Reference string    `json:"reference,omitempty"`
	IdemKey   string    `json:"idempotency_key,omitempty"` // the payment's idempotency key, whose idemRec settles with it
	Tx        []byte    `json:"tx"`                        // canonical encoding
	Created   time.Time `json:"created"`
	// The waterfall (waterfall.go): FromAccount of Amount is drawn from
	// the payer's deposit account PayerAccount (the intermediary pays it
	// from its treasury, whose notes are inputs too), and ToAccount of it
	// goes to the payee's deposit account PayeeAccount here (paid to the
	// treasury). The wallets' parts are the rest.
	PayerAccount string `json:"payer_account,omitempty"`
	FromAccount  uint64 `json:"from_account,omitempty"`
	PayeeAccount string `json:"payee_account,omitempty"`
	ToAccount    uint64 `json:"to_account,omitempty"`
	// Hold is the hold the payee's intermediary placed for the payment
	// (ReceivePlan.Hold, holds.go), delivered with it in the memo.
	Hold string `json:"hold,omitempty"`
	// RefundOf is the payment this one refunds (refund.go), if any.
	RefundOf money.TxID `json:"refund_of,omitzero"`

	screen *verdict // the payment's screening, in memory only (screen.go)
	// The delivery to Peer tried before the payer's apply (send), in
	// memory only: tried, and its error (nil: the peer has it, so the
	// apply writes no outbox entry).
	deliveryTried bool
	deliveryErr   error
}

// Idempotency record states.
const (
	idemPending   = "pending"   // spend reserved, outcome not yet known; TxID set
	idemCommitted = "committed" // Receipt set
	idemRejected  = "rejected"  // Code and Message set; TxID set if a transaction was built
)

// idemRec remembers a payment made with an idempotency key: a fingerprint
// of its request, so a retry can be told from a different payment, and its
// outcome, so a retry gets the same answer. Written pending in the batch
// that reserves the notes and settled in the batch that applies the
// outcome; deleted when the ledger has certainly not committed the spend.
type idemRec struct {
	Fingerprint string        `json:"fingerprint"` // hex SHA-256 of from, to, amount, reference
	State       string        `json:"state"`
	TxID        money.TxID    `json:"txid,omitzero"`
	Receipt     roles.Receipt `json:"receipt,omitzero"`
	Code        errcode.Code  `json:"code,omitempty"`
	Message     string        `json:"message,omitempty"`
	Status      int           `json:"status,omitempty"` // HTTP status override of the rejection, if any
	Created     time.Time     `json:"created"`
}

// outboxRec is a committed transaction still to be delivered to a peer,
// with the payment's memo (payer, payee, reference) for the payee's
// history, and the payee's hold for it, if any (holds.go). Records
// written before memos (or holds) existed have none.
type outboxRec struct {
	Peer     string    `json:"peer"`
	Tx       []byte    `json:"tx"`
	From     string    `json:"from,omitempty"`
	To       string    `json:"to,omitempty"`
	Ref      string    `json:"reference,omitempty"`
	Hold     string    `json:"hold,omitempty"`
	Request  string    `json:"request,omitempty"` // the payment request it pays (requests.go), named in the memo
	Attempts int       `json:"attempts"`
	Created  time.Time `json:"created"`
	LastErr  string    `json:"last_error,omitempty"`

	// RefundOf is the payment this one refunds, for the payee's history.
	RefundOf money.TxID `json:"refund_of,omitzero"`
}

// getRec reads a record; found is false when the key is absent.
func getRec(db *store.DB, key []byte, v any) (found bool, err error) {
	var decErr error
	err = db.View(key, func(b []byte) { decErr = decodeRec(b, v) })
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if decErr != nil {
		return false, decErr
	}
	return true, nil
}

// recBytes encodes a record: pendingRec, idemRec, history entries and
// outboxRec in their binary form (records.go), the others as JSON.
func recBytes(v any) ([]byte, error) {
	switch r := v.(type) {
	case pendingRec:
		return r.encode()
	case *pendingRec:
		return r.encode()
	case idemRec:
		return r.encode()
	case *idemRec:
		return r.encode()
	case roles.Entry:
		return encodeEntry(&r)
	case *roles.Entry:
		return encodeEntry(r)
	case outboxRec:
		return r.encode()
	case *outboxRec:
		return r.encode()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// decodeRec decodes a record written by recBytes (or, for the binary
// records, the JSON of stores written before their binary form).
func decodeRec(b []byte, v any) error {
	switch r := v.(type) {
	case *pendingRec:
		return decodePending(b, r)
	case *idemRec:
		return decodeIdem(b, r)
	case *roles.Entry:
		return decodeEntry(b, r)
	case *outboxRec:
		return decodeOutbox(b, r)
	}
	return decodeJSON(b, v)
}

func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}
