package wire

import (
	"fmt"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Reservations of funds (roles.Reserver, roles.ReservationPeer) on the wire:
// amounts as strings of minor units with their decimal form beside them,
// keys, locks and signatures in hex, transactions in base64.

// FundsReservationRequest is POST /v1/intermediaries/{name}/reservations.
// ExpiresIn is a duration such as "15m" or "72h".
type FundsReservationRequest struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Amount    string `json:"amount"`
	ExpiresIn string `json:"expires_in"`
	Reference string `json:"reference,omitempty"`
	Key       string `json:"key,omitempty"`
}

// FundsReservation is one reservation as an intermediary sees it.
type FundsReservation struct {
	ID              string        `json:"id"`
	Side            string        `json:"side"`
	Payer           string        `json:"payer"`
	Payee           string        `json:"payee"`
	Amount          string        `json:"amount"`
	AmountDecimal   string        `json:"amount_decimal,omitempty"`
	Captured        string        `json:"captured"`
	CapturedDecimal string        `json:"captured_decimal,omitempty"`
	Reference       string        `json:"reference,omitempty"`
	State           string        `json:"state"`
	ExpiryBatch     uint64        `json:"expiry_batch"`
	ExpiresAt       time.Time     `json:"expires_at"`
	CreateTxID      *money.TxID   `json:"create_txid,omitempty"`
	Note            *money.NoteID `json:"note,omitempty"`
	SettleTxID      *money.TxID   `json:"settle_txid,omitempty"`
	SettleBatch     uint64        `json:"settle_batch,omitempty"`
	Created         time.Time     `json:"created"`
}

// FundsReservations is GET /v1/intermediaries/{name}/reservations?wallet=.
type FundsReservations struct {
	Reservations []FundsReservation `json:"reservations"`
}

// CaptureRequest is POST /v1/intermediaries/{name}/reservations/{id}/capture.
type CaptureRequest struct {
	Amount string `json:"amount"`
}

// ReservationOffer is POST /v1/intermediaries/{name}/reservations/offers
// (roles.ReservationOffer), from the payer's intermediary.
type ReservationOffer struct {
	ID          string    `json:"id"`
	Payer       string    `json:"payer"`
	Payee       string    `json:"payee"`
	Amount      string    `json:"amount"`
	ExpiryBatch uint64    `json:"expiry_batch"`
	ExpiresAt   time.Time `json:"expires_at"`
	PayerKey    string    `json:"payer_key"`
	PayerLock   string    `json:"payer_lock"`
	Reference   string    `json:"reference,omitempty"`
}

// ReservationTerms answers an offer.
type ReservationTerms struct {
	PayeeKey  string `json:"payee_key"`
	PayeeLock string `json:"payee_lock"`
}

// ReservationSettle is POST .../reservations/{id}/settle, from the
// payee's intermediary: amount "0" is a void.
type ReservationSettle struct {
	Amount   string `json:"amount"`
	PayeeSig string `json:"payee_sig"`
}

// ReservationSettled answers a settle: the reservation's outcome at the
// payer's intermediary, with the settling transaction once committed.
type ReservationSettled struct {
	State    string         `json:"state"`
	Captured string         `json:"captured"`
	Tx       string         `json:"tx,omitempty"`
	Receipt  *roles.Receipt `json:"receipt,omitempty"`
}

// ReservationConfirm is POST .../reservations/{id}/confirm: a committed
// transaction of the reservation, or withdrawn (and no tx) for an offer
// whose reservation was never made.
type ReservationConfirm struct {
	Tx        string `json:"tx,omitempty"`
	Withdrawn bool   `json:"withdrawn,omitempty"`
}

// ToTx reads a confirmation: its transaction, nil when withdrawn.
func (w ReservationConfirm) ToTx() (*money.Tx, error) {
	switch {
	case w.Withdrawn && w.Tx == "":
		return nil, nil
	case w.Withdrawn || w.Tx == "":
		return nil, errcode.New(errcode.Malformed, "want either tx or withdrawn")
	}
	return DecodeTx(w.Tx)
}

// ReservationConfirmed answers POST .../reservations/{id}/confirm and
// .../expire.
type ReservationConfirmed struct {
	Status string `json:"status"` // "confirmed", "expired"
}

// FromFundsReservation converts a reservation.
func FromFundsReservation(r roles.FundsReservation, cur *money.Currency) FundsReservation {
	out := FundsReservation{ID: r.ID, Side: r.Side, Payer: r.Payer, Payee: r.Payee,
		Amount: FormatAmount(r.Amount), AmountDecimal: decimal(cur, r.Amount),
		Captured: FormatAmount(r.Captured), CapturedDecimal: decimal(cur, r.Captured),
		Reference: r.Reference, State: r.State, ExpiryBatch: r.Expiry, ExpiresAt: r.ExpiresAt,
		SettleBatch: r.Batch, Created: r.Created}
	if r.CreateTx != (money.TxID{}) {
		id := r.CreateTx
		out.CreateTxID = &id
	}
	if r.Note != (money.NoteID{}) {
		n := r.Note
		out.Note = &n
	}
	if r.SettleTx != (money.TxID{}) {
		id := r.SettleTx
		out.SettleTxID = &id
	}
	return out
}

// FromFundsReservations converts a list of reservations.
func FromFundsReservations(rs []roles.FundsReservation, cur *money.Currency) FundsReservations {
	out := FundsReservations{Reservations: make([]FundsReservation, len(rs))}
	for i, r := range rs {
		out.Reservations[i] = FromFundsReservation(r, cur)
	}
	return out
}

// ToFundsReservation converts back a reservation.
func (w FundsReservation) ToFundsReservation() (roles.FundsReservation, error) {
	out := roles.FundsReservation{ID: w.ID, Side: w.Side, Payer: w.Payer, Payee: w.Payee, Reference: w.Reference,
		State: w.State, Expiry: w.ExpiryBatch, ExpiresAt: w.ExpiresAt, Batch: w.SettleBatch, Created: w.Created}
	var err error
	if out.Amount, err = ParseMinor(w.Amount); err != nil {
		return out, badResponse("reservation amount", err)
	}
	if out.Captured, err = ParseMinor(w.Captured); err != nil {
		return out, badResponse("reservation captured", err)
	}
	if w.CreateTxID != nil {
		out.CreateTx = *w.CreateTxID
	}
	if w.Note != nil {
		out.Note = *w.Note
	}
	if w.SettleTxID != nil {
		out.SettleTx = *w.SettleTxID
	}
	return out, nil
}

// ToFundsReservations converts back a list.
func (w FundsReservations) ToFundsReservations() ([]roles.FundsReservation, error) {
	out := make([]roles.FundsReservation, len(w.Reservations))
	for i, r := range w.Reservations {
		var err error
		if out[i], err = r.ToFundsReservation(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FromReservationOffer converts an offer.
func FromReservationOffer(o roles.ReservationOffer) ReservationOffer {
	return ReservationOffer{ID: o.ID, Payer: o.Payer, Payee: o.Payee, Amount: FormatAmount(o.Amount), ExpiryBatch: o.Expiry,
		ExpiresAt: o.ExpiresAt, PayerKey: o.PayerKey.String(), PayerLock: o.PayerLock.String(), Reference: o.Reference}
}

// ToReservationOffer reads an offer (outside bytes: every field checked).
func (w ReservationOffer) ToReservationOffer() (roles.ReservationOffer, error) {
	out := roles.ReservationOffer{ID: w.ID, Payer: w.Payer, Payee: w.Payee, Expiry: w.ExpiryBatch, ExpiresAt: w.ExpiresAt, Reference: w.Reference}
	var err error
	if out.Amount, err = ParseMinor(w.Amount); err != nil {
		return out, fmt.Errorf("amount: %w", err)
	}
	if out.PayerKey, err = crypto.ParsePublicKey(w.PayerKey); err != nil {
		return out, fmt.Errorf("payer_key: %w", err)
	}
	if out.PayerLock, err = ParseLock(w.PayerLock); err != nil {
		return out, fmt.Errorf("payer_lock: %w", err)
	}
	return out, nil
}

// FromReservationTerms converts terms.
func FromReservationTerms(t roles.ReservationTerms) ReservationTerms {
	return ReservationTerms{PayeeKey: t.PayeeKey.String(), PayeeLock: t.PayeeLock.String()}
}

// ToReservationTerms reads terms.
func (w ReservationTerms) ToReservationTerms() (roles.ReservationTerms, error) {
	var out roles.ReservationTerms
	var err error
	if out.PayeeKey, err = crypto.ParsePublicKey(w.PayeeKey); err != nil {
		return out, badResponse("payee_key", err)
	}
	if out.PayeeLock, err = ParseLock(w.PayeeLock); err != nil {
		return out, badResponse("payee_lock", err)
	}
	return out, nil
}

// ToReservationSettle reads a settle request for reservation id.
func (w ReservationSettle) ToReservationSettle(id string) (roles.ReservationSettle, error) {
	out := roles.ReservationSettle{ID: id}
	var err error
	if out.Amount, err = ParseMinor(w.Amount); err != nil {
		return out, fmt.Errorf("amount: %w", err)
	}
	if out.PayeeSig, err = ParseSig(w.PayeeSig); err != nil {
		return out, fmt.Errorf("payee_sig: %w", err)
	}
	return out, nil
}

// FromReservationSettled converts an outcome.
func FromReservationSettled(s roles.ReservationSettled) (ReservationSettled, error) {
	out := ReservationSettled{State: s.State, Captured: FormatAmount(s.Captured)}
	if s.Tx != nil {
		var err error
		if out.Tx, err = EncodeTx(s.Tx); err != nil {
			return out, err
		}
		r := s.Receipt
		out.Receipt = &r
	}
	return out, nil
}

// ToReservationSettled converts back an outcome.
func (w ReservationSettled) ToReservationSettled() (roles.ReservationSettled, error) {
	out := roles.ReservationSettled{State: w.State}
	var err error
	if out.Captured, err = ParseMinor(w.Captured); err != nil {
		return out, badResponse("captured", err)
	}
	if w.Tx != "" {
		if out.Tx, err = DecodeTx(w.Tx); err != nil {
			return out, badResponse("tx", err)
		}
	}
	if w.Receipt != nil {
		out.Receipt = *w.Receipt
	}
	return out, nil
}
