package wire

import (
	"time"

	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// RequestToPay is a payment request (roles.PaymentRequest), amounts as
// strings of minor units with their decimal form beside them. Amount "0"
// is an open amount, which the payer names on accepting.
type RequestToPay struct {
	ID            string      `json:"id"`
	Payee         string      `json:"payee"`
	Payer         string      `json:"payer"`
	Amount        string      `json:"amount"`
	AmountDecimal string      `json:"amount_decimal,omitempty"`
	Reference     string      `json:"reference,omitempty"`
	Expires       time.Time   `json:"expires"`
	State         string      `json:"state"`
	Paid          string      `json:"paid,omitempty"`
	PaidDecimal   string      `json:"paid_decimal,omitempty"`
	TxID          *money.TxID `json:"txid,omitempty"`
	Created       time.Time   `json:"created"`
	Updated       time.Time   `json:"updated"`
	Version       uint64      `json:"version"`
}

// RequestsToPay is GET /v1/intermediaries/{name}/wallets/{id}/requests.
type RequestsToPay struct {
	Requests []RequestToPay `json:"requests"`
}

// CreateRequestToPay is POST /v1/intermediaries/{name}/requests. An
// absent (or "0") amount asks for an open amount.
type CreateRequestToPay struct {
	Payee          string    `json:"payee"`
	Payer          string    `json:"payer"`
	Amount         string    `json:"amount,omitempty"`
	Reference      string    `json:"reference,omitempty"`
	Expires        time.Time `json:"expires"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
}

// RequestAcceptance is POST .../requests/{rid}/accept: the paying wallet,
// and the amount for an open request.
type RequestAcceptance struct {
	Payer  string `json:"payer"`
	Amount string `json:"amount,omitempty"`
}

// RequestDecline is POST .../requests/{rid}/decline.
type RequestDecline struct {
	Payer string `json:"payer"`
}

// RequestCancel is POST .../requests/{rid}/cancel.
type RequestCancel struct {
	Payee string `json:"payee"`
}

// RequestAnswer is POST .../requests/{rid}/answer, between intermediaries
// (roles.RequestAnswer).
type RequestAnswer struct {
	Payer  string `json:"payer"`
	Action string `json:"action"`
	Amount string `json:"amount,omitempty"`
}

// RequestOfferResponse answers PUT .../requests/{rid}.
type RequestOfferResponse struct {
	Status string `json:"status"` // "stored"
}

// FromRequest converts a payment request.
func FromRequest(r roles.PaymentRequest, cur *money.Currency) RequestToPay {
	out := RequestToPay{ID: r.ID, Payee: r.Payee, Payer: r.Payer, Amount: FormatAmount(r.Amount), Reference: r.Reference,
		Expires: r.Expires, State: string(r.State), Created: r.Created, Updated: r.Updated, Version: r.Version}
	if r.Amount != 0 {
		out.AmountDecimal = decimal(cur, r.Amount)
	}
	if r.Paid != 0 {
		out.Paid, out.PaidDecimal = FormatAmount(r.Paid), decimal(cur, r.Paid)
	}
	if r.TxID != (money.TxID{}) {
		id := r.TxID
		out.TxID = &id
	}
	return out
}

// FromRequests converts a list of payment requests.
func FromRequests(rs []roles.PaymentRequest, cur *money.Currency) RequestsToPay {
	out := RequestsToPay{Requests: make([]RequestToPay, len(rs))}
	for i, r := range rs {
		out.Requests[i] = FromRequest(r, cur)
	}
	return out
}

// ToRequest converts back a payment request.
func (w RequestToPay) ToRequest() (roles.PaymentRequest, error) {
	out := roles.PaymentRequest{ID: w.ID, Payee: w.Payee, Payer: w.Payer, Reference: w.Reference, Expires: w.Expires,
		State: roles.RequestState(w.State), Created: w.Created, Updated: w.Updated, Version: w.Version}
	var err error
	if out.Amount, err = ParseMinor(w.Amount); err != nil {
		return roles.PaymentRequest{}, badResponse("request amount", err)
	}
	if w.Paid != "" {
		if out.Paid, err = ParseMinor(w.Paid); err != nil {
			return roles.PaymentRequest{}, badResponse("request paid", err)
		}
	}
	if w.TxID != nil {
		out.TxID = *w.TxID
	}
	return out, nil
}

// ToRequests converts back a list of payment requests.
func (w RequestsToPay) ToRequests() ([]roles.PaymentRequest, error) {
	out := make([]roles.PaymentRequest, len(w.Requests))
	for i, r := range w.Requests {
		var err error
		if out[i], err = r.ToRequest(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
