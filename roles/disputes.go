package roles

import (
	"context"
	"time"

	"github.com/specie/specie/money"
)

// DisputeState is where a dispute stands. Both intermediaries show it:
// the payer's, where it was opened, and the merchant's, which resolves
// it.
type DisputeState string

// Dispute states. A dispute opens at the payer's intermediary (open), is
// with the merchant once the merchant's intermediary has acknowledged it
// (with_merchant; at once when both wallets are at one intermediary), and
// ends refunded (the merchant refunded the payment; Dispute.Refund names
// the refund) or rejected (Dispute.Resolution says why).
const (
	DisputeOpen         DisputeState = "open"
	DisputeWithMerchant DisputeState = "with_merchant"
	DisputeRefunded     DisputeState = "refunded"
	DisputeRejected     DisputeState = "rejected"
)

// Final reports whether the dispute has ended (refunded or rejected).
func (s DisputeState) Final() bool { return s == DisputeRefunded || s == DisputeRejected }

// Dispute is a payer's complaint about one payment it made, and its
// outcome. Its ID names the payer's intermediary ("<intermediary>.d...").
type Dispute struct {
	ID       string       `json:"id"`
	TxID     money.TxID   `json:"txid"`     // the disputed payment
	Payer    string       `json:"payer"`    // the wallet that paid and disputes
	Merchant string       `json:"merchant"` // the wallet that was paid
	Amount   uint64       `json:"amount"`   // of the disputed payment
	Reason   string       `json:"reason"`
	Evidence string       `json:"evidence,omitempty"` // the payer's evidence, as text
	State    DisputeState `json:"state"`
	// Resolution is the merchant's reason for a rejection, or the
	// reference of its refund.
	Resolution   string     `json:"resolution,omitempty"`
	Refund       money.TxID `json:"refund,omitzero"`         // the refund that resolved it
	RefundAmount uint64     `json:"refund_amount,omitempty"` // how much it refunded
	Opened       time.Time  `json:"opened"`
	Updated      time.Time  `json:"updated"`
}

// DisputeRequest is what a payer's intermediary opens a dispute with.
type DisputeRequest struct {
	Wallet   string     `json:"wallet"` // the payer's wallet, here
	TxID     money.TxID `json:"txid"`   // a payment it made
	Reason   string     `json:"reason"`
	Evidence string     `json:"evidence,omitempty"`
}

// Dispute field limits, in bytes.
const (
	MaxDisputeReason   = 512
	MaxDisputeEvidence = 4096
)

// DisputeDesk is an intermediary's side of disputes, used with its own
// credential: the payer's intermediary opens them for its customers, the
// merchant's resolves them, and both list and show them with their
// state. Implemented by intermediaries that handle disputes, and by their
// clients.
type DisputeDesk interface {
	// OpenDispute opens a dispute on a payment the wallet made
	// (errcode.NotFound if it made none with that txid; errcode.Conflict
	// if the payment is disputed already) and hands it to the merchant's
	// intermediary, retrying in the background until it acknowledges.
	OpenDispute(ctx context.Context, r DisputeRequest) (Dispute, error)
	// Disputes lists the disputes wallet is a side of, oldest first.
	Disputes(ctx context.Context, wallet string) ([]Dispute, error)
	// Dispute reports one dispute; errcode.NotFound if unknown here.
	Dispute(ctx context.Context, id string) (Dispute, error)
	// RejectDispute ends a dispute with the merchant unrefunded, with the
	// merchant's reason. Only the merchant's intermediary resolves.
	RejectDispute(ctx context.Context, id, reason string) (Dispute, error)
	// RefundDispute ends a dispute with the merchant by refunding amount
	// of the payment (0: all of it that is left to refund) to the payer.
	// The refund is made once however often it is asked, even across
	// crashes; asking again answers the refunded dispute.
	RefundDispute(ctx context.Context, id string, amount uint64, reference string) (Dispute, error)
}

// DisputeExchanger is implemented by intermediaries (and their clients)
// that exchange disputes: the payer's intermediary hands a dispute it
// opened to the merchant's, and the merchant's hands back its
// resolution. The receiver stores (or updates) the dispute and answers
// it as it now stands; handing over the same dispute again changes
// nothing.
type DisputeExchanger interface {
	ExchangeDispute(ctx context.Context, d Dispute) (Dispute, error)
}
