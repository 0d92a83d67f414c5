package wire

import (
	"time"

	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Alert is a screening alert (roles.Alert), amounts as strings of minor
// units with their decimal form beside them.
type Alert struct {
	ID       string          `json:"id"`
	Rule     string          `json:"rule"`
	Action   string          `json:"action"`
	Side     string          `json:"side"`
	Wallet   string          `json:"wallet"`
	Message  string          `json:"message"`
	Evidence []AlertEvidence `json:"evidence"`
	State    string          `json:"state"`
	Created  time.Time       `json:"created"`
	Closed   *time.Time      `json:"closed,omitempty"`
	ClosedBy string          `json:"closed_by,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

// AlertEvidence is one payment behind an alert.
type AlertEvidence struct {
	TxID          *money.TxID `json:"txid,omitempty"`
	From          string      `json:"from,omitempty"`
	To            string      `json:"to,omitempty"`
	Amount        string      `json:"amount"`
	AmountDecimal string      `json:"amount_decimal,omitempty"`
	Time          time.Time   `json:"time"`
}

// Alerts is GET /v1/intermediaries/{name}/alerts.
type Alerts struct {
	Alerts []Alert `json:"alerts"`
}

// CloseAlertRequest is POST /v1/intermediaries/{name}/alerts/{id}/close.
type CloseAlertRequest struct {
	State  string `json:"state"`
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// FromAlert converts an alert.
func FromAlert(a roles.Alert, cur *money.Currency) Alert {
	out := Alert{ID: a.ID, Rule: a.Rule, Action: a.Action, Side: a.Side, Wallet: a.Wallet, Message: a.Message,
		Evidence: make([]AlertEvidence, len(a.Evidence)), State: string(a.State), Created: a.Created,
		ClosedBy: a.ClosedBy, Reason: a.Reason}
	if !a.Closed.IsZero() {
		c := a.Closed
		out.Closed = &c
	}
	for i, e := range a.Evidence {
		out.Evidence[i] = AlertEvidence{From: e.From, To: e.To, Amount: FormatAmount(e.Amount), AmountDecimal: decimal(cur, e.Amount), Time: e.Time}
		if e.TxID != (money.TxID{}) {
			id := e.TxID
			out.Evidence[i].TxID = &id
		}
	}
	return out
}

// FromAlerts converts a list of alerts.
func FromAlerts(as []roles.Alert, cur *money.Currency) Alerts {
	out := Alerts{Alerts: make([]Alert, len(as))}
	for i, a := range as {
		out.Alerts[i] = FromAlert(a, cur)
	}
	return out
}

// ToAlert converts back an alert.
func (w Alert) ToAlert() (roles.Alert, error) {
	out := roles.Alert{ID: w.ID, Rule: w.Rule, Action: w.Action, Side: w.Side, Wallet: w.Wallet, Message: w.Message,
		Evidence: make([]roles.AlertEvidence, len(w.Evidence)), State: roles.AlertState(w.State), Created: w.Created,
		ClosedBy: w.ClosedBy, Reason: w.Reason}
	if w.Closed != nil {
		out.Closed = *w.Closed
	}
	for i, e := range w.Evidence {
		amt, err := ParseMinor(e.Amount)
		if err != nil {
			return roles.Alert{}, badResponse("alert evidence amount", err)
		}
		out.Evidence[i] = roles.AlertEvidence{From: e.From, To: e.To, Amount: amt, Time: e.Time}
		if e.TxID != nil {
			out.Evidence[i].TxID = *e.TxID
		}
	}
	return out, nil
}

// ToAlerts converts back a list of alerts.
func (w Alerts) ToAlerts() ([]roles.Alert, error) {
	out := make([]roles.Alert, len(w.Alerts))
	for i, a := range w.Alerts {
		var err error
		if out[i], err = a.ToAlert(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
