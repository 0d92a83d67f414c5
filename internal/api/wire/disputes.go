package wire

import (
	"time"

	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Dispute is a dispute (roles.Dispute), amounts as strings of minor units
// with their decimal form beside them. It is also the body with which one
// intermediary hands a dispute to the other (PUT .../disputes/{id}).
type Dispute struct {
	ID                  string     `json:"id"`
	TxID                money.TxID `json:"txid"`
	Payer               string     `json:"payer"`
	Merchant            string     `json:"merchant"`
	Amount              string     `json:"amount"`
	AmountDecimal       string     `json:"amount_decimal,omitempty"`
	Reason              string     `json:"reason"`
	Evidence            string     `json:"evidence,omitempty"`
	State               string     `json:"state"`
	Resolution          string     `json:"resolution,omitempty"`
	Refund              money.TxID `json:"refund,omitzero"`
	RefundAmount        string     `json:"refund_amount,omitempty"`
	RefundAmountDecimal string     `json:"refund_amount_decimal,omitempty"`
	Opened              time.Time  `json:"opened"`
	Updated             time.Time  `json:"updated"`
}

// Disputes is GET /v1/intermediaries/{name}/disputes?wallet=.
type Disputes struct {
	Disputes []Dispute `json:"disputes"`
}

// OpenDisputeRequest is POST /v1/intermediaries/{name}/disputes.
type OpenDisputeRequest struct {
	Wallet   string     `json:"wallet"`
	TxID     money.TxID `json:"txid"`
	Reason   string     `json:"reason"`
	Evidence string     `json:"evidence,omitempty"`
}

// RejectDisputeRequest is POST /v1/intermediaries/{name}/disputes/{id}/reject.
type RejectDisputeRequest struct {
	Reason string `json:"reason"`
}

// RefundDisputeRequest is POST /v1/intermediaries/{name}/disputes/{id}/refund;
// an empty Amount refunds all that is left of the payment.
type RefundDisputeRequest struct {
	Amount    string `json:"amount,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// FromDispute converts a dispute.
func FromDispute(d roles.Dispute, cur *money.Currency) Dispute {
	out := Dispute{ID: d.ID, TxID: d.TxID, Payer: d.Payer, Merchant: d.Merchant,
		Amount: FormatAmount(d.Amount), AmountDecimal: decimal(cur, d.Amount), Reason: d.Reason, Evidence: d.Evidence,
		State: string(d.State), Resolution: d.Resolution, Refund: d.Refund, Opened: d.Opened, Updated: d.Updated}
	if d.RefundAmount != 0 {
		out.RefundAmount, out.RefundAmountDecimal = FormatAmount(d.RefundAmount), decimal(cur, d.RefundAmount)
	}
	return out
}

// FromDisputes converts a list of disputes.
func FromDisputes(ds []roles.Dispute, cur *money.Currency) Disputes {
	out := Disputes{Disputes: make([]Dispute, len(ds))}
	for i, d := range ds {
		out.Disputes[i] = FromDispute(d, cur)
	}
	return out
}

// ToDispute converts back a dispute: what a server answered, or what a
// peer handed over (then an error is the caller's to classify).
func (w Dispute) ToDispute() (roles.Dispute, error) {
	amt, err := ParseMinor(w.Amount)
	if err != nil {
		return roles.Dispute{}, err
	}
	d := roles.Dispute{ID: w.ID, TxID: w.TxID, Payer: w.Payer, Merchant: w.Merchant, Amount: amt, Reason: w.Reason,
		Evidence: w.Evidence, State: roles.DisputeState(w.State), Resolution: w.Resolution, Refund: w.Refund,
		Opened: w.Opened, Updated: w.Updated}
	if w.RefundAmount != "" {
		if d.RefundAmount, err = ParseMinor(w.RefundAmount); err != nil {
			return roles.Dispute{}, err
		}
	}
	return d, nil
}

// ToDisputes converts back a list of disputes.
func (w Disputes) ToDisputes() ([]roles.Dispute, error) {
	out := make([]roles.Dispute, len(w.Disputes))
	for i, d := range w.Disputes {
		var err error
		if out[i], err = d.ToDispute(); err != nil {
			return nil, badResponse("dispute", err)
		}
	}
	return out, nil
}
