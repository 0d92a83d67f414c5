package iso20022

import "encoding/xml"

// --- pacs.008.001.09: FI to FI customer credit transfer -------------------

// Pacs008Doc is a customer credit transfer between banks: deposits into
// wallets (in) and pay-outs from wallets to bank accounts (out).
type Pacs008Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09 Document"`
	Msg     Pacs008Message `xml:"FIToFICstmrCdtTrf"`
}

// Pacs008Message is FIToFICustomerCreditTransferV09.
type Pacs008Message struct {
	GrpHdr      GrpHdr93   `xml:"GrpHdr"`
	CdtTrfTxInf []CdtTrf43 `xml:"CdtTrfTxInf"`
}

// GrpHdr93 is the group header of pacs.008 and pacs.009.
type GrpHdr93 struct {
	MsgID             string   `xml:"MsgId"`
	CreDtTm           string   `xml:"CreDtTm"`
	NbOfTxs           string   `xml:"NbOfTxs"`
	TtlIntrBkSttlmAmt *Amt     `xml:"TtlIntrBkSttlmAmt,omitempty"`
	IntrBkSttlmDt     string   `xml:"IntrBkSttlmDt,omitempty"`
	SttlmInf          SttlmInf `xml:"SttlmInf"`
	InstgAgt          *Agent   `xml:"InstgAgt,omitempty"`
	InstdAgt          *Agent   `xml:"InstdAgt,omitempty"`
}

// CdtTrf43 is CreditTransferTransaction43: one customer payment.
type CdtTrf43 struct {
	PmtID          PmtID    `xml:"PmtId"`
	IntrBkSttlmAmt Amt      `xml:"IntrBkSttlmAmt"`
	IntrBkSttlmDt  string   `xml:"IntrBkSttlmDt,omitempty"`
	ChrgBr         string   `xml:"ChrgBr"` // DEBT, CRED, SHAR, SLEV
	InstgAgt       *Agent   `xml:"InstgAgt,omitempty"`
	InstdAgt       *Agent   `xml:"InstdAgt,omitempty"`
	Dbtr           Party    `xml:"Dbtr"`
	DbtrAcct       *Account `xml:"DbtrAcct,omitempty"`
	DbtrAgt        Agent    `xml:"DbtrAgt"`
	CdtrAgt        Agent    `xml:"CdtrAgt"`
	Cdtr           Party    `xml:"Cdtr"`
	CdtrAcct       *Account `xml:"CdtrAcct,omitempty"`
	RmtInf         *RmtInf  `xml:"RmtInf,omitempty"`
}

// --- pacs.009.001.09: financial institution credit transfer ---------------

// Pacs009Doc moves central bank money between institutions: reserve funding
// from the RTGS (in) and redemptions back to a settlement account (out).
type Pacs009Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pacs.009.001.09 Document"`
	Msg     Pacs009Message `xml:"FICdtTrf"`
}

// Pacs009Message is FinancialInstitutionCreditTransferV09.
type Pacs009Message struct {
	GrpHdr      GrpHdr93   `xml:"GrpHdr"`
	CdtTrfTxInf []CdtTrf44 `xml:"CdtTrfTxInf"`
}

// CdtTrf44 is CreditTransferTransaction44: one institution payment.
type CdtTrf44 struct {
	PmtID          PmtID    `xml:"PmtId"`
	IntrBkSttlmAmt Amt      `xml:"IntrBkSttlmAmt"`
	IntrBkSttlmDt  string   `xml:"IntrBkSttlmDt,omitempty"`
	InstgAgt       *Agent   `xml:"InstgAgt,omitempty"`
	InstdAgt       *Agent   `xml:"InstdAgt,omitempty"`
	Dbtr           Agent    `xml:"Dbtr"`
	DbtrAcct       *Account `xml:"DbtrAcct,omitempty"`
	Cdtr           Agent    `xml:"Cdtr"`
	CdtrAcct       *Account `xml:"CdtrAcct,omitempty"`
	RmtInf         *RmtInf  `xml:"RmtInf,omitempty"` // RemittanceInformation2: Ustrd only
}

// --- pacs.002.001.11: FI to FI payment status report ----------------------

// Pacs002Doc answers a pacs.008, pacs.009 or pacs.004: accepted (ACSC) or
// rejected (RJCT) with an ISO reason code, per message and per payment.
type Pacs002Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pacs.002.001.11 Document"`
	Msg     Pacs002Message `xml:"FIToFIPmtStsRpt"`
}

// Pacs002Message is FIToFIPaymentStatusReportV11.
type Pacs002Message struct {
	GrpHdr            GrpHdr91   `xml:"GrpHdr"`
	OrgnlGrpInfAndSts OrgnlGrp17 `xml:"OrgnlGrpInfAndSts"`
	TxInfAndSts       []TxSts    `xml:"TxInfAndSts,omitempty"`
}

// GrpHdr91 is the group header of a status report.
type GrpHdr91 struct {
	MsgID   string `xml:"MsgId"`
	CreDtTm string `xml:"CreDtTm"`
}

// OrgnlGrp17 is OriginalGroupHeader17: the message answered and its
// group status.
type OrgnlGrp17 struct {
	OrgnlMsgID   string      `xml:"OrgnlMsgId"`
	OrgnlMsgNmID string      `xml:"OrgnlMsgNmId"`
	OrgnlCreDtTm string      `xml:"OrgnlCreDtTm,omitempty"`
	OrgnlNbOfTxs string      `xml:"OrgnlNbOfTxs,omitempty"`
	GrpSts       string      `xml:"GrpSts,omitempty"`
	StsRsnInf    []StsRsnInf `xml:"StsRsnInf,omitempty"`
}

// TxSts is PaymentTransaction123 (pacs.002) and, without the agents,
// PaymentTransaction126 (pain.002): one payment's status.
type TxSts struct {
	OrgnlInstrID    string      `xml:"OrgnlInstrId,omitempty"`
	OrgnlEndToEndID string      `xml:"OrgnlEndToEndId,omitempty"`
	OrgnlTxID       string      `xml:"OrgnlTxId,omitempty"`
	OrgnlUETR       string      `xml:"OrgnlUETR,omitempty"`
	TxSts           string      `xml:"TxSts,omitempty"`
	StsRsnInf       []StsRsnInf `xml:"StsRsnInf,omitempty"`
	AcctSvcrRef     string      `xml:"AcctSvcrRef,omitempty"`
}

// --- pacs.004.001.10: payment return ---------------------------------------

// Pacs004Doc returns money already received: a deposit that could not be
// credited, or a recalled one.
type Pacs004Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pacs.004.001.10 Document"`
	Msg     Pacs004Message `xml:"PmtRtr"`
}

// Pacs004Message is PaymentReturnV10.
type Pacs004Message struct {
	GrpHdr GrpHdr90 `xml:"GrpHdr"`
	TxInf  []RtrTx  `xml:"TxInf"`
}

// GrpHdr90 is the group header of a return.
type GrpHdr90 struct {
	MsgID                 string   `xml:"MsgId"`
	CreDtTm               string   `xml:"CreDtTm"`
	NbOfTxs               string   `xml:"NbOfTxs"`
	TtlRtrdIntrBkSttlmAmt *Amt     `xml:"TtlRtrdIntrBkSttlmAmt,omitempty"`
	IntrBkSttlmDt         string   `xml:"IntrBkSttlmDt,omitempty"`
	SttlmInf              SttlmInf `xml:"SttlmInf"`
}

// OrgnlGrpInf is OriginalGroupInformation29: the message a payment came in.
type OrgnlGrpInf struct {
	OrgnlMsgID   string `xml:"OrgnlMsgId"`
	OrgnlMsgNmID string `xml:"OrgnlMsgNmId"`
}

// RtrTx is PaymentTransaction118: one returned payment.
type RtrTx struct {
	RtrID               string       `xml:"RtrId,omitempty"`
	OrgnlGrpInf         *OrgnlGrpInf `xml:"OrgnlGrpInf,omitempty"`
	OrgnlEndToEndID     string       `xml:"OrgnlEndToEndId,omitempty"`
	OrgnlTxID           string       `xml:"OrgnlTxId,omitempty"`
	OrgnlUETR           string       `xml:"OrgnlUETR,omitempty"`
	OrgnlIntrBkSttlmAmt *Amt         `xml:"OrgnlIntrBkSttlmAmt,omitempty"`
	RtrdIntrBkSttlmAmt  Amt          `xml:"RtrdIntrBkSttlmAmt"`
	IntrBkSttlmDt       string       `xml:"IntrBkSttlmDt,omitempty"`
	ChrgBr              string       `xml:"ChrgBr,omitempty"`
	RtrRsnInf           []StsRsnInf  `xml:"RtrRsnInf,omitempty"`
}
