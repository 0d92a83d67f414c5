package roles

import (
	"context"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/money"
)

// Reservations (issue 10, part 5): a wallet reserves funds for a payee
// until an expiry (a hotel, a fuel pump). The payer's intermediary spends
// the wallet's notes into one escrowed note (money.LockEscrow) that the
// payer's and the payee's intermediaries can spend together at any time
// and the payer's alone only after the expiry batch, so the core, not
// either intermediary, guarantees the terms. The payee captures up to the
// amount once (the rest goes back) or voids; past the expiry the payer's
// intermediary refunds everything. See docs/architecture.md,
// "Reservations at the intermediaries".

// Reservation states.
const (
	// ReservationPending: the reserving transaction is built and sent,
	// its outcome not known yet (the ledger did not answer).
	ReservationPending = "pending"
	// ReservationActive: the funds are locked for the payee.
	ReservationActive = "active"
	// ReservationSettling: a capture, void or refund is signed and sent,
	// its outcome not known yet.
	ReservationSettling = "settling"
	ReservationCaptured = "captured" // the payee took Captured, the rest went back
	ReservationVoided   = "voided"   // the payee released everything
	ReservationRefunded = "refunded" // the expiry passed: everything went back
	// ReservationFailed: the reserving transaction never committed;
	// nothing was reserved.
	ReservationFailed = "failed"
)

// FundsReservation is one reservation of funds for a payee (not a
// Reservation, which is a share of the registry's holding limit) as an intermediary sees it: Side says
// whether it holds the payer's wallet ("payer") or the payee's ("payee").
type FundsReservation struct {
	// ID is "<payer's intermediary>.<suffix>": the payer's intermediary
	// keeps the reservation's authoritative record.
	ID        string `json:"id"`
	Side      string `json:"side"`
	Payer     string `json:"payer"` // wallet
	Payee     string `json:"payee"` // wallet
	Amount    uint64 `json:"amount"`
	Captured  uint64 `json:"captured"` // what the payee took (captured state)
	Reference string `json:"reference,omitempty"`
	State     string `json:"state"`
	// Expiry is the batch number after which the payer's intermediary
	// may refund alone; ExpiresAt is the wall-clock time it was computed
	// from.
	Expiry    uint64       `json:"expiry_batch"`
	ExpiresAt time.Time    `json:"expires_at"`
	CreateTx  money.TxID   `json:"create_txid,omitzero"`
	Note      money.NoteID `json:"note,omitzero"`        // the escrowed note
	SettleTx  money.TxID   `json:"settle_txid,omitzero"` // the capture, void or refund
	Batch     uint64       `json:"settle_batch,omitempty"`
	Created   time.Time    `json:"created"`
}

// ReservationRequest asks the payer's intermediary to reserve Amount of
// wallet From for wallet To (here or at another intermediary) for
// ExpiresIn. Key, optional, names the reservation ("<intermediary>.<key>")
// and makes the request safe to retry: the same key with the same request
// answers the same reservation, with another request is a conflict.
type ReservationRequest struct {
	From      string        `json:"from"`
	To        string        `json:"to"`
	Amount    uint64        `json:"amount"`
	ExpiresIn time.Duration `json:"expires_in"`
	Reference string        `json:"reference,omitempty"`
	Key       string        `json:"key,omitempty"`
}

// Reserver is implemented by intermediaries (and their clients) that hold
// reservations for their customers; only the intermediary's own
// credential may call it.
type Reserver interface {
	// Reserve locks funds of a wallet here for a payee (payer's side).
	Reserve(ctx context.Context, r ReservationRequest) (FundsReservation, error)
	// Capture takes amount (1 to the reserved amount) for the payee and
	// returns the rest to the payer, once (payee's side). Capturing again
	// with the same amount answers the same outcome; anything else after
	// a capture, void or refund is errcode.Conflict.
	Capture(ctx context.Context, id string, amount uint64) (FundsReservation, error)
	// Void releases everything to the payer (payee's side), once.
	Void(ctx context.Context, id string) (FundsReservation, error)
	// Refund returns everything to the payer once the expiry batch has
	// passed (payer's side): errcode.Conflict before.
	Refund(ctx context.Context, id string) (FundsReservation, error)
	// GetReservation reports one reservation; errcode.NotFound if unknown here.
	GetReservation(ctx context.Context, id string) (FundsReservation, error)
	// WalletReservations lists the reservations of wallet, oldest first.
	WalletReservations(ctx context.Context, wallet string) ([]FundsReservation, error)
}

// ReservationPeer is what the payer's and the payee's intermediaries ask
// each other about a reservation; implemented in process and by the
// client over HTTP, like deliveries.
type ReservationPeer interface {
	// OfferReservation (payer's to payee's) announces a reservation for a
	// payee wallet; the payee's intermediary records it and answers a
	// fresh key of its own for the escrow, and the lock that pays the
	// payee. Offering the same reservation again answers the same terms.
	OfferReservation(ctx context.Context, o ReservationOffer) (ReservationTerms, error)
	// ConfirmReservation (payer's to payee's) hands over a committed
	// transaction of the reservation: the one that reserved the funds,
	// which the payee's intermediary checks on the ledger and against the
	// terms before it treats the funds as reserved, or the one that
	// settled it (a refund, or a capture or void whose answer the payee's
	// side may have missed). Confirming twice changes nothing. A nil tx
	// withdraws an offer whose reservation was never made (refused, or its
	// transaction never committed): the payee's side forgets it.
	ConfirmReservation(ctx context.Context, id string, tx *money.Tx) error
	// SettleReservation (payee's to payer's) asks for a capture of Amount
	// (0: a void) signed by the payee's key; the payer's intermediary
	// builds the same transaction from its own record, checks the
	// signature, co-signs, submits and answers the reservation's outcome,
	// which may be an earlier one (a capture, void or refund that settled
	// it first).
	SettleReservation(ctx context.Context, s ReservationSettle) (ReservationSettled, error)
	// ExpireReservation (payer's to payee's) asks for the void of a
	// reservation past its expiry time, which the payee's intermediary
	// makes (through SettleReservation) once its own clock agrees; the
	// payer's refunds alone only after the expiry batch, which on a quiet
	// ledger comes much later. A reservation settled already is left as
	// it is; errcode.Conflict before the expiry time.
	ExpireReservation(ctx context.Context, id string) error
}

// ReservationOffer is the terms the payer's intermediary proposes.
type ReservationOffer struct {
	ID        string           `json:"id"`
	Payer     string           `json:"payer"`
	Payee     string           `json:"payee"`
	Amount    uint64           `json:"amount"`
	Expiry    uint64           `json:"expiry_batch"`
	ExpiresAt time.Time        `json:"expires_at"`
	PayerKey  crypto.PublicKey `json:"payer_key"`
	PayerLock money.Lock       `json:"payer_lock"`
	Reference string           `json:"reference,omitempty"`
}

// ReservationTerms is the payee's intermediary's answer to an offer.
type ReservationTerms struct {
	PayeeKey  crypto.PublicKey `json:"payee_key"`
	PayeeLock money.Lock       `json:"payee_lock"`
}

// ReservationSettle asks the payer's intermediary to co-sign a capture
// (Amount > 0) or a void (Amount 0).
type ReservationSettle struct {
	ID       string    `json:"id"`
	Amount   uint64    `json:"amount"`
	PayeeSig money.Sig `json:"payee_sig"`
}

// ReservationSettled is the reservation's outcome at the payer's
// intermediary: its state, what was captured, and the settling
// transaction with its receipt once committed.
type ReservationSettled struct {
	State    string    `json:"state"`
	Captured uint64    `json:"captured"`
	Tx       *money.Tx `json:"-"`
	Receipt  Receipt   `json:"receipt"`
}
