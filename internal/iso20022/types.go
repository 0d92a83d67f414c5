package iso20022

import "time"

// The building blocks below have the same element names and order in
// every message version the gateway speaks (their XSD type names differ
// by version number only in the parts Specie does not use), so one Go
// type serves each. Field order is the schemas' sequence order: encoding/xml
// writes fields in declaration order.

// Amt is an amount with its currency (ActiveCurrencyAndAmount and
// ActiveOrHistoricCurrencyAndAmount): a decimal string, never a float.
type Amt struct {
	Ccy   string `xml:"Ccy,attr"`
	Value string `xml:",chardata"`
}

// FinInstnID identifies a financial institution, by BIC for Specie.
type FinInstnID struct {
	BICFI string `xml:"BICFI,omitempty"`
	Nm    string `xml:"Nm,omitempty"`
}

// Agent is BranchAndFinancialInstitutionIdentification6.
type Agent struct {
	FinInstnID FinInstnID `xml:"FinInstnId"`
}

// agentBIC is an agent identified by BIC; nil for "".
func agentBIC(bic string) *Agent {
	if bic == "" {
		return nil
	}
	return &Agent{FinInstnID: FinInstnID{BICFI: bic}}
}

// BIC is the agent's BIC, "" when a is nil or has none.
func (a *Agent) BIC() string {
	if a == nil {
		return ""
	}
	return a.FinInstnID.BICFI
}

// PostalAddress is the part of PostalAddress24 a bank usually fills.
type PostalAddress struct {
	StrtNm  string   `xml:"StrtNm,omitempty"`
	BldgNb  string   `xml:"BldgNb,omitempty"`
	PstCd   string   `xml:"PstCd,omitempty"`
	TwnNm   string   `xml:"TwnNm,omitempty"`
	Ctry    string   `xml:"Ctry,omitempty"`
	AdrLine []string `xml:"AdrLine,omitempty"`
}

// Party is PartyIdentification135: a customer, by name (and address).
type Party struct {
	Nm      string         `xml:"Nm,omitempty"`
	PstlAdr *PostalAddress `xml:"PstlAdr,omitempty"`
}

// OtherAcctID is GenericAccountIdentification1: an account number that is
// not an IBAN, such as a Specie wallet ID.
type OtherAcctID struct {
	ID string `xml:"Id"`
}

// AcctID is AccountIdentification4Choice: an IBAN or another number.
type AcctID struct {
	IBAN string       `xml:"IBAN,omitempty"`
	Othr *OtherAcctID `xml:"Othr,omitempty"`
}

// Proxy is ProxyAccountIdentification1: an alias (phone number, email)
// standing for the account.
type Proxy struct {
	ID string `xml:"Id"`
}

// Account is CashAccount38 (and, with Ownr and Svcr, CashAccount39).
type Account struct {
	ID   AcctID `xml:"Id"`
	Ccy  string `xml:"Ccy,omitempty"`
	Nm   string `xml:"Nm,omitempty"`
	Prxy *Proxy `xml:"Prxy,omitempty"`
}

// Number is the account's identifier: the IBAN or the other number.
func (a *Account) Number() string {
	if a == nil {
		return ""
	}
	if a.ID.IBAN != "" {
		return a.ID.IBAN
	}
	if a.ID.Othr != nil {
		return a.ID.Othr.ID
	}
	return ""
}

// walletAccount is the account of a Specie wallet or reserve account.
func otherAccount(id string) *Account { return &Account{ID: AcctID{Othr: &OtherAcctID{ID: id}}} }

// SttlmInf is SettlementInstruction7, the settlement method only.
type SttlmInf struct {
	SttlmMtd string `xml:"SttlmMtd"` // CLRG, INDA, INGA, COVE
}

// PmtID is PaymentIdentification13 (and 6, which lacks TxId).
type PmtID struct {
	InstrID    string `xml:"InstrId,omitempty"`
	EndToEndID string `xml:"EndToEndId"`
	TxID       string `xml:"TxId,omitempty"`
	UETR       string `xml:"UETR,omitempty"`
}

// RmtInf is RemittanceInformation16 (unstructured lines only).
type RmtInf struct {
	Ustrd []string `xml:"Ustrd,omitempty"`
}

// Reason is a reason choice (StatusReason6Choice, ReturnReason5Choice,
// CancellationStatusReason3Choice, CancellationReason33Choice): an ISO
// external code.
type Reason struct {
	Cd string `xml:"Cd,omitempty"`
}

// StsRsnInf is StatusReasonInformation12 (and the return and cancellation
// reason information of the same shape): a code and up to a few lines of
// explanation, each at most 105 characters.
type StsRsnInf struct {
	Rsn      *Reason  `xml:"Rsn,omitempty"`
	AddtlInf []string `xml:"AddtlInf,omitempty"`
}

// DateChoice is DateAndDateTime2Choice.
type DateChoice struct {
	Dt   string `xml:"Dt,omitempty"`
	DtTm string `xml:"DtTm,omitempty"`
}

// isoTime renders an ISODateTime in UTC.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// isoDate renders an ISODate.
func isoDate(t time.Time) string { return t.UTC().Format("2006-01-02") }

// reasonInfo builds a status reason with an explanation cut into lines of
// at most 105 characters (Max105Text), at most three lines.
func reasonInfo(code, text string) []StsRsnInf {
	if code == "" {
		return nil
	}
	return []StsRsnInf{{Rsn: &Reason{Cd: code}, AddtlInf: lines105(text)}}
}

func lines105(s string) []string {
	var out []string
	r := []rune(s)
	for len(r) > 0 && len(out) < 3 {
		n := min(len(r), 105)
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return out
}
