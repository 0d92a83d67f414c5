package iso20022

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/roles"
)

// --- camt.056.001.09: FI to FI payment cancellation request (a recall) ----

// Camt056Doc asks to cancel (recall) payments already sent: for Specie,
// deposits a pacs.008 credited to wallets.
type Camt056Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:camt.056.001.09 Document"`
	Msg     Camt056Message `xml:"FIToFIPmtCxlReq"`
}

// Camt056Message is FIToFIPaymentCancellationRequestV09.
type Camt056Message struct {
	Assgnmt Assignment   `xml:"Assgnmt"`
	Case    *Case        `xml:"Case,omitempty"`
	Undrlyg []Underlying `xml:"Undrlyg"`
}

// PartyOrAgent is Party40Choice, an agent for Specie.
type PartyOrAgent struct {
	Agt *Agent `xml:"Agt,omitempty"`
	Pty *Party `xml:"Pty,omitempty"`
}

// Assignment is CaseAssignment5: who asks whom, under which identification.
type Assignment struct {
	ID      string       `xml:"Id"`
	Assgnr  PartyOrAgent `xml:"Assgnr"`
	Assgne  PartyOrAgent `xml:"Assgne"`
	CreDtTm string       `xml:"CreDtTm"`
}

// Case is Case5.
type Case struct {
	ID    string       `xml:"Id"`
	Cretr PartyOrAgent `xml:"Cretr"`
}

// Underlying is UnderlyingTransaction26: the payments to cancel.
type Underlying struct {
	OrgnlGrpInfAndCxl *OrgnlGrpInf `xml:"OrgnlGrpInfAndCxl,omitempty"`
	TxInf             []CxlTx      `xml:"TxInf"`
}

// CxlTx is PaymentTransaction120: one payment to cancel.
type CxlTx struct {
	CxlID               string       `xml:"CxlId,omitempty"`
	OrgnlGrpInf         *OrgnlGrpInf `xml:"OrgnlGrpInf,omitempty"`
	OrgnlInstrID        string       `xml:"OrgnlInstrId,omitempty"`
	OrgnlEndToEndID     string       `xml:"OrgnlEndToEndId,omitempty"`
	OrgnlTxID           string       `xml:"OrgnlTxId,omitempty"`
	OrgnlUETR           string       `xml:"OrgnlUETR,omitempty"`
	OrgnlIntrBkSttlmAmt *Amt         `xml:"OrgnlIntrBkSttlmAmt,omitempty"`
	CxlRsnInf           []StsRsnInf  `xml:"CxlRsnInf,omitempty"`
}

// --- camt.029.001.10: resolution of investigation --------------------------

// Camt029Doc answers a camt.056: each cancellation accepted (ACCR, the
// money goes back by pacs.004) or rejected (RJCR) with its reason.
type Camt029Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:camt.029.001.10 Document"`
	Msg     Camt029Message `xml:"RsltnOfInvstgtn"`
}

// Camt029Message is ResolutionOfInvestigationV10.
type Camt029Message struct {
	Assgnmt   Assignment `xml:"Assgnmt"`
	RslvdCase *Case      `xml:"RslvdCase,omitempty"`
	Sts       struct {
		Conf string `xml:"Conf"` // CNCL cancelled, RJCR rejected
	} `xml:"Sts"`
	CxlDtls []CxlDetails `xml:"CxlDtls,omitempty"`
}

// CxlDetails is UnderlyingTransaction25.
type CxlDetails struct {
	OrgnlGrpInfAndSts *OrgnlGrpCxl `xml:"OrgnlGrpInfAndSts,omitempty"`
	TxInfAndSts       []CxlTxSts   `xml:"TxInfAndSts,omitempty"`
}

// OrgnlGrpCxl is OriginalGroupHeader14: the group's cancellation status.
type OrgnlGrpCxl struct {
	OrgnlMsgID   string      `xml:"OrgnlMsgId"`
	OrgnlMsgNmID string      `xml:"OrgnlMsgNmId"`
	GrpCxlSts    string      `xml:"GrpCxlSts,omitempty"`
	CxlStsRsnInf []StsRsnInf `xml:"CxlStsRsnInf,omitempty"`
}

// CxlTxSts is PaymentTransaction127: one payment's cancellation status.
type CxlTxSts struct {
	CxlStsID        string       `xml:"CxlStsId,omitempty"`
	OrgnlGrpInf     *OrgnlGrpInf `xml:"OrgnlGrpInf,omitempty"`
	OrgnlInstrID    string       `xml:"OrgnlInstrId,omitempty"`
	OrgnlEndToEndID string       `xml:"OrgnlEndToEndId,omitempty"`
	OrgnlTxID       string       `xml:"OrgnlTxId,omitempty"`
	OrgnlUETR       string       `xml:"OrgnlUETR,omitempty"`
	TxCxlSts        string       `xml:"TxCxlSts,omitempty"` // ACCR, RJCR
	CxlStsRsnInf    []StsRsnInf  `xml:"CxlStsRsnInf,omitempty"`
}

// Cancellation statuses.
const (
	CancelAccepted = "ACCR"
	CancelRejected = "RJCR"
)

// recall applies a camt.056 at intermediary role: each deposit it names
// (by original MsgId and EndToEndId) that is still in its wallet is paid
// back to the treasury and returned by pacs.004 (ACCR); one already spent
// (AM04), unknown (NOOR) or already returned (ARDT) is refused (RJCR).
func (g *Gateway) recall(ctx context.Context, role string, h hdr, hash string, doc []byte, out *outcome) error {
	var m Camt056Doc
	if err := Decode(doc, Camt056, &m); err != nil {
		return errcode.New(errcode.Internal, "decode validated camt.056: %v", err)
	}
	in := g.cfg.Intermediaries[role]
	ctx = roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary})
	out.sets = map[string][]byte{}
	var txs []txResult
	var returns []RtrTx
	for _, u := range m.Msg.Undrlyg {
		for _, tx := range u.TxInf {
			og := tx.OrgnlGrpInf
			if og == nil {
				og = u.OrgnlGrpInfAndCxl
			}
			r := txResult{instrID: tx.OrgnlInstrID, e2e: tx.OrgnlEndToEndID, txID: tx.OrgnlTxID, uetr: tx.OrgnlUETR}
			rej := func(code, text string) { r.status, r.reason, r.text = CancelRejected, code, text }
			if og == nil {
				rej(ReasonNoOriginal, "no original message identification")
				txs = append(txs, r)
				continue
			}
			r.origMsg = og.OrgnlMsgID
			ck := gkey(prefCredit, role, og.OrgnlMsgID, tx.OrgnlEndToEndID)
			c, err := g.credit(ck)
			if err != nil {
				return err
			}
			switch {
			case c == nil:
				rej(ReasonNoOriginal, "no payment "+tx.OrgnlEndToEndID+" of message "+og.OrgnlMsgID+" was credited here")
			case c.Returned || out.sets[string(ck)] != nil:
				rej(ReasonReturned, "payment "+tx.OrgnlEndToEndID+" was already returned")
			default:
				_, err := in.Pay(ctx, roles.Payment{From: c.Wallet, To: role + roles.TreasurySuffix, Amount: c.Amount,
					Reference: "recall of E2E " + tx.OrgnlEndToEndID, IdempotencyKey: idemKey(role, h.msgID, "recall/"+og.OrgnlMsgID+"/"+tx.OrgnlEndToEndID)})
				if err != nil {
					code, ok := reasonOf(err)
					if !ok {
						return err
					}
					if code == ReasonFunds {
						rej(code, "the credit to "+c.Wallet+" has been spent")
					} else {
						rej(code, err.Error())
					}
					break
				}
				r.status = CancelAccepted
				c.Returned = true
				v, err := json.Marshal(c)
				if err != nil {
					return errcode.New(errcode.Internal, "encode credit: %v", err)
				}
				out.sets[string(ck)] = v
				why := reject("FOCR", "following the cancellation request "+h.msgID)
				amt := FormatAmount(g.cfg.Currency, c.Amount)
				returns = append(returns, g.returnOf(og.OrgnlMsgID, og.OrgnlMsgNmID, PmtID{EndToEndID: tx.OrgnlEndToEndID, TxID: tx.OrgnlTxID, UETR: c.UETR}, amt, why))
			}
			txs = append(txs, r)
		}
	}
	a, err := g.statusAnswer(role, Camt056, h, hash, txs, "", "", "")
	if err != nil {
		return err
	}
	out.answer = a
	if len(returns) > 0 {
		p, err := g.returnMessage(role, h.msgID, returns)
		if err != nil {
			return err
		}
		out.produced = append(out.produced, p)
	}
	return nil
}

// credit reads a deposit record; nil if none.
func (g *Gateway) credit(k []byte) (*credit, error) {
	v, err := g.db.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err, "read credit")
	}
	c := new(credit)
	if err := json.Unmarshal(v, c); err != nil {
		return nil, errcode.New(errcode.Internal, "decode credit: %v", err)
	}
	return c, nil
}

// camt029 is the resolution of a camt.056: per payment when there are
// payments, for the group when the whole request is refused.
func (g *Gateway) camt029(id, now, role string, h hdr, txs []txResult, grpReason, grpText string) *Camt029Doc {
	r := &Camt029Doc{}
	me := PartyOrAgent{Agt: agentOr(g.cfg.BICs[role], role)}
	r.Msg.Assgnmt = Assignment{ID: id, Assgnr: me, Assgne: me, CreDtTm: now}
	r.Msg.RslvdCase = &Case{ID: orNotProvided(h.msgID), Cretr: me}
	r.Msg.Sts.Conf = CancelRejected
	for _, t := range txs {
		if t.status == CancelAccepted {
			r.Msg.Sts.Conf = "CNCL"
		}
	}
	if grpReason != "" {
		r.Msg.CxlDtls = []CxlDetails{{OrgnlGrpInfAndSts: &OrgnlGrpCxl{OrgnlMsgID: orNotProvided(h.msgID), OrgnlMsgNmID: Camt056,
			GrpCxlSts: CancelRejected, CxlStsRsnInf: reasonInfo(grpReason, grpText)}}}
		return r
	}
	d := CxlDetails{}
	for _, t := range txs {
		s := CxlTxSts{OrgnlInstrID: t.instrID, OrgnlEndToEndID: t.e2e, OrgnlTxID: t.txID, OrgnlUETR: t.uetr,
			TxCxlSts: t.status, CxlStsRsnInf: reasonInfo(t.reason, t.text)}
		if t.origMsg != "" {
			s.OrgnlGrpInf = &OrgnlGrpInf{OrgnlMsgID: t.origMsg, OrgnlMsgNmID: Pacs008}
		}
		d.TxInfAndSts = append(d.TxInfAndSts, s)
	}
	r.Msg.CxlDtls = []CxlDetails{d}
	return r
}
