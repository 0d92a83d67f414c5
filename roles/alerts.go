package roles

import (
	"context"
	"time"

	"github.com/specie/specie/money"
)

// AlertState is where a screening alert stands: it opens, and compliance
// staff close it as dismissed (a false positive) or reported (filed with
// the financial intelligence unit). A closed alert is never reopened, so
// its record is the audit trail of that decision.
type AlertState string

// Alert states.
const (
	AlertOpen      AlertState = "open"
	AlertDismissed AlertState = "dismissed"
	AlertReported  AlertState = "reported"
)

// Known reports whether s is one of the states above.
func (s AlertState) Known() bool {
	return s == AlertOpen || s == AlertDismissed || s == AlertReported
}

// Alert is what an intermediary's fraud and AML screening raised about one
// wallet: which rule tripped (policy.Rule), on which side of the payment,
// and the evidence, the payments that tripped it.
type Alert struct {
	ID     string `json:"id"`
	Rule   string `json:"rule"`   // velocity, structuring, large_value, listed
	Action string `json:"action"` // the rule's action in the policy: alert, or block for a payment that arrived committed (a delivery) and could not be stopped
	Side   string `json:"side"`   // payer or payee: whose intermediary raised it
	Wallet string `json:"wallet"` // the screened wallet, of this intermediary
	// Message says in words why the rule tripped.
	Message  string          `json:"message"`
	Evidence []AlertEvidence `json:"evidence"` // the payment that tripped the rule first, then the others in the window
	State    AlertState      `json:"state"`
	Created  time.Time       `json:"created"`
	// Closed, ClosedBy and Reason are set once staff close it.
	Closed   time.Time `json:"closed,omitzero"`
	ClosedBy string    `json:"closed_by,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// AlertEvidence is one payment behind an alert.
type AlertEvidence struct {
	TxID   money.TxID `json:"txid,omitzero"`
	From   string     `json:"from,omitempty"`
	To     string     `json:"to,omitempty"`
	Amount uint64     `json:"amount"`
	Time   time.Time  `json:"time"`
}

// AlertDesk is implemented by intermediaries (and their clients) whose
// compliance staff review screening alerts. Only the intermediary's own
// credential may call it.
type AlertDesk interface {
	// Alerts lists the alerts in state, or all of them for "", oldest
	// first.
	Alerts(ctx context.Context, state AlertState) ([]Alert, error)
	// Alert returns one alert; errcode.NotFound when there is none.
	Alert(ctx context.Context, id string) (Alert, error)
	// CloseAlert closes an open alert as dismissed or reported, saying who
	// did it and why: malformed for another state or no reason, not_found
	// for an unknown id, conflict when it is already closed.
	CloseAlert(ctx context.Context, id string, c AlertClose) (Alert, error)
}

// AlertClose is a decision on an alert.
type AlertClose struct {
	State  AlertState `json:"state"`
	Reason string     `json:"reason"`
	By     string     `json:"by,omitempty"` // the staff member; the caller's name when empty
}
