package iso20022

import "encoding/xml"

// --- pain.001.001.10: customer credit transfer initiation -----------------

// Pain001Doc is a customer's (a business's) batch of payments from its wallet:
// to wallets here or elsewhere, or out to bank accounts.
type Pain001Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.10 Document"`
	Msg     Pain001Message `xml:"CstmrCdtTrfInitn"`
}

// Pain001Message is CustomerCreditTransferInitiationV10.
type Pain001Message struct {
	GrpHdr GrpHdr95   `xml:"GrpHdr"`
	PmtInf []PmtInf34 `xml:"PmtInf"`
}

// GrpHdr95 is the initiation's group header.
type GrpHdr95 struct {
	MsgID    string `xml:"MsgId"`
	CreDtTm  string `xml:"CreDtTm"`
	NbOfTxs  string `xml:"NbOfTxs"`
	CtrlSum  string `xml:"CtrlSum,omitempty"`
	InitgPty Party  `xml:"InitgPty"`
}

// PmtInf34 is PaymentInstruction34: payments from one debtor account.
type PmtInf34 struct {
	PmtInfID    string     `xml:"PmtInfId"`
	PmtMtd      string     `xml:"PmtMtd"` // TRF
	NbOfTxs     string     `xml:"NbOfTxs,omitempty"`
	CtrlSum     string     `xml:"CtrlSum,omitempty"`
	ReqdExctnDt DateChoice `xml:"ReqdExctnDt"`
	Dbtr        Party      `xml:"Dbtr"`
	DbtrAcct    Account    `xml:"DbtrAcct"`
	DbtrAgt     Agent      `xml:"DbtrAgt"`
	CdtTrfTxInf []CdtTrf40 `xml:"CdtTrfTxInf"`
}

// InstdAmt is AmountType4Choice with the instructed amount.
type InstdAmt struct {
	InstdAmt Amt `xml:"InstdAmt"`
}

// CdtTrf40 is CreditTransferTransaction40: one payment of the batch.
type CdtTrf40 struct {
	PmtID    PmtID    `xml:"PmtId"` // PaymentIdentification6: no TxId
	Amt      InstdAmt `xml:"Amt"`
	CdtrAgt  *Agent   `xml:"CdtrAgt,omitempty"`
	Cdtr     *Party   `xml:"Cdtr,omitempty"`
	CdtrAcct *Account `xml:"CdtrAcct,omitempty"`
	RmtInf   *RmtInf  `xml:"RmtInf,omitempty"`
}

// --- pain.002.001.11: customer payment status report ----------------------

// Pain002Doc answers a pain.001: a status per payment and for the group.
type Pain002Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pain.002.001.11 Document"`
	Msg     Pain002Message `xml:"CstmrPmtStsRpt"`
}

// Pain002Message is CustomerPaymentStatusReportV11.
type Pain002Message struct {
	GrpHdr            GrpHdr91      `xml:"GrpHdr"`
	OrgnlGrpInfAndSts OrgnlGrp17    `xml:"OrgnlGrpInfAndSts"`
	OrgnlPmtInfAndSts []OrgnlPmtInf `xml:"OrgnlPmtInfAndSts,omitempty"`
}

// OrgnlPmtInf is OriginalPaymentInstruction38: one payment instruction's
// status and its payments'.
type OrgnlPmtInf struct {
	OrgnlPmtInfID string      `xml:"OrgnlPmtInfId"`
	OrgnlNbOfTxs  string      `xml:"OrgnlNbOfTxs,omitempty"`
	PmtInfSts     string      `xml:"PmtInfSts,omitempty"`
	StsRsnInf     []StsRsnInf `xml:"StsRsnInf,omitempty"`
	TxInfAndSts   []TxSts     `xml:"TxInfAndSts,omitempty"`
}
