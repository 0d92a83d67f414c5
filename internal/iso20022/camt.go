package iso20022

import "encoding/xml"

// --- camt.053.001.08: bank to customer statement --------------------------

// Camt053Doc is an end-of-day statement of a wallet or a reserve account.
type Camt053Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08 Document"`
	Msg     Camt053Message `xml:"BkToCstmrStmt"`
}

// Camt053Message is BankToCustomerStatementV08.
type Camt053Message struct {
	GrpHdr GrpHdr81    `xml:"GrpHdr"`
	Stmt   []Statement `xml:"Stmt"`
}

// GrpHdr81 is the group header of statements and notifications.
type GrpHdr81 struct {
	MsgID   string `xml:"MsgId"`
	CreDtTm string `xml:"CreDtTm"`
}

// Period is DateTimePeriod1.
type Period struct {
	FrDtTm string `xml:"FrDtTm"`
	ToDtTm string `xml:"ToDtTm"`
}

// StmtAccount is CashAccount39: the account reported, with its servicer.
type StmtAccount struct {
	ID   AcctID `xml:"Id"`
	Ccy  string `xml:"Ccy,omitempty"`
	Nm   string `xml:"Nm,omitempty"`
	Svcr *Agent `xml:"Svcr,omitempty"`
}

// Statement is AccountStatement9.
type Statement struct {
	ID           string      `xml:"Id"`
	ElctrncSeqNb string      `xml:"ElctrncSeqNb,omitempty"`
	CreDtTm      string      `xml:"CreDtTm,omitempty"`
	FrToDt       *Period     `xml:"FrToDt,omitempty"`
	Acct         StmtAccount `xml:"Acct"`
	Bal          []Balance   `xml:"Bal"`
	TxsSummry    *TxsSummry  `xml:"TxsSummry,omitempty"`
	Ntry         []Entry     `xml:"Ntry,omitempty"`
}

// BalanceType is BalanceType13 with a code: OPBD (opening booked) or CLBD
// (closing booked).
type BalanceType struct {
	CdOrPrtry struct {
		Cd string `xml:"Cd"`
	} `xml:"CdOrPrtry"`
}

// Balance is CashBalance8.
type Balance struct {
	Tp        BalanceType `xml:"Tp"`
	Amt       Amt         `xml:"Amt"`
	CdtDbtInd string      `xml:"CdtDbtInd"`
	Dt        DateChoice  `xml:"Dt"`
}

// TxsSummry is TotalTransactions6 with the credit and debit totals.
type TxsSummry struct {
	TtlNtries    *NumSum `xml:"TtlNtries,omitempty"`
	TtlCdtNtries *NumSum `xml:"TtlCdtNtries,omitempty"`
	TtlDbtNtries *NumSum `xml:"TtlDbtNtries,omitempty"`
}

// NumSum is NumberAndSumOfTransactions1 (and 4, of which Specie uses the
// same two fields).
type NumSum struct {
	NbOfNtries string `xml:"NbOfNtries"`
	Sum        string `xml:"Sum"`
}

// Entry is ReportEntry10: one booked movement.
type Entry struct {
	NtryRef     string        `xml:"NtryRef,omitempty"`
	Amt         Amt           `xml:"Amt"`
	CdtDbtInd   string        `xml:"CdtDbtInd"` // CRDT, DBIT
	Sts         EntryStatus   `xml:"Sts"`
	BookgDt     *DateChoice   `xml:"BookgDt,omitempty"`
	ValDt       *DateChoice   `xml:"ValDt,omitempty"`
	AcctSvcrRef string        `xml:"AcctSvcrRef,omitempty"`
	BkTxCd      BkTxCd        `xml:"BkTxCd"`
	NtryDtls    []EntryDetail `xml:"NtryDtls,omitempty"`
}

// EntryStatus is EntryStatus1Choice; Specie books everything it reports (BOOK).
type EntryStatus struct {
	Cd string `xml:"Cd"`
}

// BkTxCd is BankTransactionCodeStructure4 with the ISO domain code.
type BkTxCd struct {
	Domn *BkTxDomain `xml:"Domn,omitempty"`
}

// BkTxDomain is BankTransactionCodeStructure5.
type BkTxDomain struct {
	Cd   string `xml:"Cd"` // PMNT
	Fmly struct {
		Cd        string `xml:"Cd"`        // RCDT received, ICDT issued credit transfers
		SubFmlyCd string `xml:"SubFmlyCd"` // DMCT domestic credit transfer, ...
	} `xml:"Fmly"`
}

// EntryDetail is EntryDetails9.
type EntryDetail struct {
	TxDtls []TxDetail `xml:"TxDtls"`
}

// TxDetail is EntryTransaction10: the references of the payment booked.
type TxDetail struct {
	Refs       *TxRefs `xml:"Refs,omitempty"`
	Amt        *Amt    `xml:"Amt,omitempty"`
	CdtDbtInd  string  `xml:"CdtDbtInd,omitempty"`
	RmtInf     *RmtInf `xml:"RmtInf,omitempty"`
	AddtlTxInf string  `xml:"AddtlTxInf,omitempty"`
}

// TxRefs is TransactionReferences6.
type TxRefs struct {
	MsgID       string `xml:"MsgId,omitempty"`
	AcctSvcrRef string `xml:"AcctSvcrRef,omitempty"`
	EndToEndID  string `xml:"EndToEndId,omitempty"`
	TxID        string `xml:"TxId,omitempty"`
}

// --- camt.054.001.08: debit/credit notification ---------------------------

// Camt054Doc notifies the owner of an account of booked entries.
type Camt054Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:camt.054.001.08 Document"`
	Msg     Camt054Message `xml:"BkToCstmrDbtCdtNtfctn"`
}

// Camt054Message is BankToCustomerDebitCreditNotificationV08.
type Camt054Message struct {
	GrpHdr GrpHdr81       `xml:"GrpHdr"`
	Ntfctn []Notification `xml:"Ntfctn"`
}

// Notification is AccountNotification17.
type Notification struct {
	ID      string      `xml:"Id"`
	CreDtTm string      `xml:"CreDtTm,omitempty"`
	Acct    StmtAccount `xml:"Acct"`
	Ntry    []Entry     `xml:"Ntry,omitempty"`
}
