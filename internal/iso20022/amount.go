package iso20022

import (
	"strings"

	"github.com/specie/specie/money"
)

// ISO external reason codes the gateway answers with (ExternalStatusReason1Code,
// ExternalReturnReason1Code, ExternalPaymentCancellationRejection1Code).
const (
	ReasonAccount     = "AC01" // IncorrectAccountNumber: no such wallet, BIC or reserve account
	ReasonClosed      = "AC04" // ClosedAccount
	ReasonBlocked     = "AC06" // BlockedAccount: a frozen wallet
	ReasonZero        = "AM01" // ZeroAmount
	ReasonNotAllowed  = "AM02" // NotAllowedAmount: over a holding or payment limit
	ReasonFunds       = "AM04" // InsufficientFunds
	ReasonAmount      = "AM12" // InvalidAmount: too many decimals, not a number, overflow
	ReasonCurrency    = "CURR" // IncorrectCurrency: not the network's currency
	ReasonDuplicate   = "DUPL" // DuplicatePayment: an identification already used for another payment
	ReasonFormat      = "FF01" // InvalidFileFormat: not XML, not the schema, a DTD
	ReasonRegulatory  = "RR04" // RegulatoryReason: screening refused it
	ReasonNotSpec     = "MS03" // NotSpecifiedReasonAgentGenerated: an outage or internal failure
	ReasonForbidden   = "AG01" // TransactionForbidden: the sender may not do this
	ReasonNoOriginal  = "NOOR" // camt.029: no original transaction received
	ReasonReturned    = "ARDT" // camt.029: already returned
	ReasonCustomerRef = "CUST" // camt.056: requested by the customer
)

// Statuses (ExternalPaymentTransactionStatus1Code, ExternalPaymentGroupStatus1Code).
const (
	StatusSettled  = "ACSC" // AcceptedSettlementCompleted
	StatusAccepted = "ACCP" // AcceptedCustomerProfile
	StatusPending  = "PDNG"
	StatusRejected = "RJCT"
	StatusPartial  = "PART" // some payments of the group accepted, some rejected
)

// Rejection is a decision not to apply a message or a payment, with its
// ISO reason code and a human explanation.
type Rejection struct {
	Code string
	Text string
}

// Error is the reason code and the explanation.
func (r *Rejection) Error() string { return r.Code + ": " + r.Text }

func reject(code, text string) *Rejection { return &Rejection{Code: code, Text: text} }

// ParseAmount converts an ISO decimal amount into minor units of cur,
// exactly: the currency must be cur's (CURR), the amount positive (AM01)
// with no more significant decimals than the currency has and no sign or
// exponent (AM12). Trailing zeros past the currency's decimals are exact
// and accepted ("12.500" is 1250 cents).
func ParseAmount(cur money.Currency, a Amt) (uint64, *Rejection) {
	if a.Ccy != cur.Code {
		return 0, reject(ReasonCurrency, "currency "+a.Ccy+" is not the network's "+cur.Code)
	}
	s := strings.TrimSpace(a.Value)
	if strings.HasPrefix(s, "-") {
		return 0, reject(ReasonAmount, "negative amount "+s)
	}
	whole, frac, dot := strings.Cut(s, ".")
	if dot {
		frac = strings.TrimRight(frac, "0")
		if len(frac) > int(cur.Exponent) {
			return 0, reject(ReasonAmount, "amount "+s+" has more decimals than "+cur.Code+" allows")
		}
		if whole == "" {
			whole = "0"
		}
	}
	// money.Parse reads a string without a point as minor units; ISO
	// amounts are always in major units, so there is always a point.
	norm := whole + "." + frac + strings.Repeat("0", int(cur.Exponent)-len(frac))
	if cur.Exponent == 0 {
		norm = whole
	}
	v, err := cur.Parse(norm)
	if err != nil {
		return 0, reject(ReasonAmount, "amount "+s+": "+err.Error())
	}
	if v == 0 {
		return 0, reject(ReasonZero, "amount is zero")
	}
	return v, nil
}

// FormatAmount renders minor units as an ISO amount of cur.
func FormatAmount(cur money.Currency, v uint64) Amt {
	return Amt{Ccy: cur.Code, Value: cur.Format(v)}
}
