package roles

import (
	"context"
	"time"

	"github.com/specie/specie/money"
)

// RequestState is where a payment request stands. A request is pending
// until the payer accepts (accepted: its payment is on its way and the
// payee may no longer cancel it), declines, or it expires; the payee may
// cancel it while pending. Paid, declined, cancelled and expired are final:
// such a request is never paid (again).
type RequestState string

// Request states.
const (
	RequestPending   RequestState = "pending"
	RequestAccepted  RequestState = "accepted" // the payer's intermediary is paying it
	RequestPaid      RequestState = "paid"
	RequestDeclined  RequestState = "declined"
	RequestCancelled RequestState = "cancelled"
	RequestExpired   RequestState = "expired"
)

// Final reports whether s is a state a request never leaves.
func (s RequestState) Final() bool {
	return s == RequestPaid || s == RequestDeclined || s == RequestCancelled || s == RequestExpired
}

// PaymentRequest is a payee's request that a payer pay it
// (request-to-pay). The payee's intermediary owns it (its ID starts with
// that intermediary's name, like a wallet ID); when the payer's wallet is
// at another intermediary, that one keeps a copy to show the payer, and
// the two tell each other of every change.
type PaymentRequest struct {
	ID    string `json:"id"`    // "<payee's intermediary>.rq<random>"
	Payee string `json:"payee"` // the wallet paid
	Payer string `json:"payer"` // the wallet asked to pay
	// Amount is what the payer is asked to pay; 0 is an open amount, which
	// the payer names on accepting.
	Amount    uint64       `json:"amount"`
	Reference string       `json:"reference,omitempty"` // the payee's reference, carried by the payment
	Expires   time.Time    `json:"expires"`             // after this it cannot be paid
	State     RequestState `json:"state"`
	// Paid is the amount paid and TxID the paying transaction, once the
	// request is paid.
	Paid    uint64     `json:"paid,omitempty"`
	TxID    money.TxID `json:"txid,omitzero"`
	Created time.Time  `json:"created"`
	Updated time.Time  `json:"updated"`
	// Version counts the owner's changes, so a copy elsewhere keeps the
	// newest it was told of.
	Version uint64 `json:"version"`
}

// RequestSpec asks the payee's intermediary to create a payment request.
// Payee and Payer are wallet IDs or aliases (a phone number, an email
// address), which the payee's intermediary resolves to wallet IDs through
// the alias directory before the request is made; Amount 0 asks for an
// open amount; Expires must be in the future.
type RequestSpec struct {
	Payee     string    `json:"payee"`
	Payer     string    `json:"payer"`
	Amount    uint64    `json:"amount"`
	Reference string    `json:"reference,omitempty"`
	Expires   time.Time `json:"expires"`
	// IdempotencyKey, when set, makes a resent create (after a lost
	// answer or a crash) return the request the first one made instead
	// of a second request: the key names one request of the payee's, and
	// reusing it for another payer, amount or reference is a conflict.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// RequestRole selects the requests of a wallet as payee, as payer, or
// (RequestEither) both.
type RequestRole string

// Request roles of a wallet.
const (
	RequestEither  RequestRole = ""
	RequestAsPayee RequestRole = "payee"
	RequestAsPayer RequestRole = "payer"
)

// Requests is implemented by intermediaries (and their clients) that run
// request-to-pay for their customers, who reach it with the
// intermediary's own credential, as they reach their wallets.
type Requests interface {
	// CreateRequest makes a request at the payee's intermediary and, when
	// the payer is elsewhere, hands it to the payer's (retrying in the
	// background until it is taken).
	CreateRequest(ctx context.Context, s RequestSpec) (PaymentRequest, error)
	// WalletRequests lists the requests a wallet of this intermediary
	// makes (payee) or is asked to pay (payer), oldest first.
	WalletRequests(ctx context.Context, wallet string, role RequestRole) ([]PaymentRequest, error)
	// Request reports one request as this intermediary knows it.
	Request(ctx context.Context, id string) (PaymentRequest, error)
	// AcceptRequest pays the request from the payer's wallet, at the
	// payer's intermediary: exactly once, however often it is retried.
	// amount is required for an open request; for a fixed one it is 0 or
	// the requested amount. Accepting a request already paid by this
	// payer answers it, paid, and pays nothing.
	AcceptRequest(ctx context.Context, id, payer string, amount uint64) (PaymentRequest, error)
	// DeclineRequest refuses the request, at the payer's intermediary.
	DeclineRequest(ctx context.Context, id, payer string) (PaymentRequest, error)
	// CancelRequest withdraws the request, at the payee's intermediary.
	CancelRequest(ctx context.Context, id, payee string) (PaymentRequest, error)
}

// Actions of the payer's intermediary on a request it does not own.
const (
	AnswerClaim   = "claim"   // the payer accepts: the owner marks it accepted, so it is not cancelled under the payment
	AnswerRelease = "release" // the payment was refused (insufficient funds...): back to pending
	AnswerDecline = "decline" // the payer declines
)

// RequestAnswer is what the payer's intermediary tells the payee's about
// a request: AnswerClaim (with the amount to be paid), AnswerRelease or
// AnswerDecline by wallet Payer.
type RequestAnswer struct {
	ID     string `json:"id"`
	Payer  string `json:"payer"`
	Action string `json:"action"`
	Amount uint64 `json:"amount,omitempty"`
}

// RequestRelay is how the intermediaries of payee and payer keep a request
// in step: the owner (the payee's) offers it, and every change it makes,
// to the payer's; the payer's answers claim, release and decline to the
// owner. The payment itself travels as any payment does, its delivery's
// Memo naming the request, which the owner then marks paid.
type RequestRelay interface {
	// OfferRequest stores or refreshes the copy of a request for a payer
	// here; an older version than the copy's changes nothing.
	OfferRequest(ctx context.Context, r PaymentRequest) error
	// AnswerRequest applies a payer's answer at the owner and returns the
	// request as it now stands.
	AnswerRequest(ctx context.Context, a RequestAnswer) (PaymentRequest, error)
}
