package iso20022

import (
	"context"
	"encoding/xml"
	"fmt"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// --- pain.013.001.08: creditor payment activation request (request to pay)

// Pain013Doc is a creditor's (a merchant's) request that a wallet holder
// pay it.
type Pain013Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pain.013.001.08 Document"`
	Msg     Pain013Message `xml:"CdtrPmtActvtnReq"`
}

// Pain013Message is CreditorPaymentActivationRequestV08.
type Pain013Message struct {
	GrpHdr GrpHdr95    `xml:"GrpHdr"` // GroupHeader78: the same fields Specie uses
	PmtInf []RTPPmtInf `xml:"PmtInf"`
}

// RTPPmtInf is PaymentInstruction35: requests to one debtor.
type RTPPmtInf struct {
	PmtInfID    string      `xml:"PmtInfId,omitempty"`
	PmtMtd      string      `xml:"PmtMtd"`
	ReqdExctnDt DateChoice  `xml:"ReqdExctnDt"`
	XpryDt      *DateChoice `xml:"XpryDt,omitempty"`
	Dbtr        Party       `xml:"Dbtr"`
	DbtrAcct    *Account    `xml:"DbtrAcct,omitempty"`
	DbtrAgt     Agent       `xml:"DbtrAgt"`
	CdtTrfTx    []RTPTx     `xml:"CdtTrfTx"`
}

// RTPTx is CreditTransferTransaction42: one requested payment.
type RTPTx struct {
	PmtID    PmtID    `xml:"PmtId"`
	Amt      InstdAmt `xml:"Amt"`
	ChrgBr   string   `xml:"ChrgBr"`
	CdtrAgt  Agent    `xml:"CdtrAgt"`
	Cdtr     Party    `xml:"Cdtr"`
	CdtrAcct *Account `xml:"CdtrAcct,omitempty"`
	RmtInf   *RmtInf  `xml:"RmtInf,omitempty"`
}

// --- pain.014.001.08: creditor payment activation request status report ---

// Pain014Doc reports a request to pay's status: pending (PDNG) while the
// payer decides, then paid (ACSC) or refused (RJCT).
type Pain014Doc struct {
	XMLName xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pain.014.001.08 Document"`
	Msg     Pain014Message `xml:"CdtrPmtActvtnReqStsRpt"`
}

// Pain014Message is CreditorPaymentActivationRequestStatusReportV08.
type Pain014Message struct {
	GrpHdr struct {
		MsgID    string `xml:"MsgId"`
		CreDtTm  string `xml:"CreDtTm"`
		InitgPty Party  `xml:"InitgPty"`
	} `xml:"GrpHdr"`
	OrgnlGrpInfAndSts OrgnlGrp17    `xml:"OrgnlGrpInfAndSts"`
	OrgnlPmtInfAndSts []OrgnlPmtInf `xml:"OrgnlPmtInfAndSts,omitempty"`
}

// The pain.014 status of a request in each state of the intermediaries'
// request-to-pay (roles.RequestState), with the reason for a final refusal.
var requestStatus = map[roles.RequestState][2]string{
	roles.RequestPending:   {StatusPending, ""},
	roles.RequestAccepted:  {StatusAccepted, ""},
	roles.RequestPaid:      {StatusSettled, ""},
	roles.RequestDeclined:  {StatusRejected, reasonByPayer},
	roles.RequestCancelled: {StatusRejected, reasonCancelled},
	roles.RequestExpired:   {StatusRejected, reasonExpired},
}

// Reasons of a refused request to pay.
const (
	reasonByPayer   = "CUST" // RequestedByCustomer: the payer declined
	reasonCancelled = "DS02" // OrderCancelled: the payee withdrew it
	reasonExpired   = "NARR" // expired unpaid (explained in the text)
)

// defaultRequestLife is how long a request without XpryDt may be paid.
const defaultRequestLife = 24 * time.Hour

// requests is role's request-to-pay: the intermediaries' own
// (roles.Requests), which the gateway drives, never a copy.
func (g *Gateway) requests(role string) (roles.Requests, error) {
	r, ok := g.cfg.Intermediaries[role].(roles.Requests)
	if !ok {
		return nil, errcode.New(errcode.NotFound, "%s runs no request-to-pay", role)
	}
	return r, nil
}

// accountRef is an account's wallet ID, or its alias (which the
// intermediary's request-to-pay resolves itself).
func accountRef(a *Account) string {
	if a == nil {
		return ""
	}
	if a.Prxy != nil && a.Prxy.ID != "" {
		return a.Prxy.ID
	}
	return a.Number()
}

// expiry reads XpryDt: a date means the end of that day (UTC).
func expiry(d *DateChoice, now time.Time) time.Time {
	if d != nil {
		if t, err := time.Parse(time.RFC3339Nano, d.DtTm); err == nil {
			return t
		}
		if t, err := time.Parse("2006-01-02", d.Dt); err == nil {
			return t.Add(24*time.Hour - time.Second)
		}
	}
	return now.Add(defaultRequestLife)
}

// requestToPay applies a pain.013 at the payee's intermediary: each
// requested payment to one of its wallets (by ID or alias) from a wallet
// here or at another intermediary becomes a payment request of the
// intermediaries' request-to-pay; the pain.014 answers PDNG with the
// request's ID in AcctSvcrRef, or RJCT with the reason.
func (g *Gateway) requestToPay(ctx context.Context, role string, h hdr, hash string, doc []byte, out *outcome) error {
	var m Pain013Doc
	if err := Decode(doc, Pain013, &m); err != nil {
		return errcode.New(errcode.Internal, "decode validated pain.013: %v", err)
	}
	rq, err := g.requests(role)
	if err != nil {
		return err
	}
	ctx = roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary})
	var txs []txResult
	seen := map[string]bool{}
	now := g.cfg.Now()
	for _, pi := range m.Msg.PmtInf {
		payer := accountRef(pi.DbtrAcct)
		for _, tx := range pi.CdtTrfTx {
			r := txResult{instrID: tx.PmtID.InstrID, e2e: tx.PmtID.EndToEndID, uetr: tx.PmtID.UETR, pmtInf: pi.PmtInfID}
			payee := accountRef(tx.CdtrAcct)
			pk := payKey(tx.PmtID, "rtp/"+payee)
			amount, rej := ParseAmount(g.cfg.Currency, tx.Amt.InstdAmt)
			used, err := g.usedPayment(role, pk, out)
			if err != nil {
				return err
			}
			switch {
			case seen[pk] || used:
				rej = reject(ReasonDuplicate, "request "+tx.PmtID.EndToEndID+" was already received")
			case rej != nil:
			case payer == "" || payee == "":
				rej = reject(ReasonAccount, "a request needs the debtor's and the creditor's accounts")
			}
			if rej == nil {
				// Keyed like a payment: a pain.013 resent after a crash that
				// came between the request and the answer finds its request.
				pr, err := rq.CreateRequest(ctx, roles.RequestSpec{Payee: payee, Payer: payer, Amount: amount,
					Reference: reference(tx.PmtID.EndToEndID, tx.RmtInf), Expires: expiry(pi.XpryDt, now),
					IdempotencyKey: idemKey(role, h.msgID, pk)})
				if err != nil {
					code, ok := reasonOf(err)
					if !ok {
						return err
					}
					rej = reject(code, err.Error())
				} else {
					r.status, r.ref = StatusPending, pr.ID
				}
			}
			if rej != nil {
				r.status, r.reason, r.text = StatusRejected, rej.Code, rej.Text
			} else { // only what was applied: a refused request may come again
				out.pmtKeys = append(out.pmtKeys, pk)
			}
			seen[pk] = true
			txs = append(txs, r)
		}
	}
	a, err := g.statusAnswer(role, Pain013, h, hash, txs, groupStatus(txs, StatusPending), "", "")
	if err != nil {
		return err
	}
	out.answer = a
	return nil
}

// pain014 is a request-to-pay status report.
func (g *Gateway) pain014(id, now, msg string, h hdr, txs []txResult, grpSts, grpReason, grpText string) *Pain014Doc {
	p2 := g.pain002(id, now, msg, h, txs, grpSts, grpReason, grpText)
	r := &Pain014Doc{}
	r.Msg.GrpHdr.MsgID, r.Msg.GrpHdr.CreDtTm = id, now
	r.Msg.GrpHdr.InitgPty = Party{Nm: "Specie request-to-pay"}
	r.Msg.OrgnlGrpInfAndSts = p2.Msg.OrgnlGrpInfAndSts
	r.Msg.OrgnlPmtInfAndSts = p2.Msg.OrgnlPmtInfAndSts
	return r
}

// statusOf is the pain.014 of request pr as it stands, or with fail set,
// of a payment attempt refused with that reason (the request stays as it
// is).
func (g *Gateway) statusOf(role string, pr roles.PaymentRequest, fail *Rejection) (Answer, error) {
	st, ok := requestStatus[pr.State]
	if !ok {
		st = [2]string{StatusPending, ""}
	}
	tr := txResult{e2e: cut(pr.ID, 35), ref: cut(pr.ID, 35), status: st[0], reason: st[1]}
	if st[1] != "" {
		tr.text = "request " + pr.ID + " is " + string(pr.State)
	}
	key := fmt.Sprintf("%s/%d", pr.State, pr.Version)
	if fail != nil {
		tr.status, tr.reason, tr.text = StatusRejected, fail.Code, fail.Text
		key += "/" + fail.Code
	}
	id := answerID(Pain014, role, pr.ID, key)
	doc, err := Encode(g.pain014(id, isoTime(g.cfg.Now()), Pain013, hdr{msgID: cut(pr.ID, 35)}, []txResult{tr}, tr.status, "", ""))
	if err != nil {
		return Answer{}, errcode.New(errcode.Internal, "%v", err)
	}
	return Answer{Kind: Pain014, MsgID: id, XML: doc}, nil
}

// Decide is the payer's decision on request id, at the payer's
// intermediary role: accept pays it through the request-to-pay
// (roles.Requests.AcceptRequest: exactly once, limits and screening apply),
// refuse declines it. The answer is the pain.014 of the request's new
// state, also kept among role's produced messages. A payment the payer's
// intermediary refuses (insufficient funds, a limit) is answered by a
// pain.014 rejecting that attempt with its reason, and the request stays
// payable. A decision the request's state no longer allows is a conflict.
func (g *Gateway) Decide(ctx context.Context, role, id string, accept bool) (Answer, error) {
	if err := g.authorize(ctx, role); err != nil {
		return Answer{}, err
	}
	rq, err := g.requests(role)
	if err != nil {
		return Answer{}, err
	}
	ctx = roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary})
	pr, err := rq.Request(ctx, id)
	if err != nil {
		return Answer{}, err
	}
	if accept {
		pr, err = rq.AcceptRequest(ctx, id, pr.Payer, 0)
	} else {
		pr, err = rq.DeclineRequest(ctx, id, pr.Payer)
	}
	if err != nil {
		if errcode.Is(err, errcode.Conflict) || errcode.Is(err, errcode.NotFound) || errcode.Is(err, errcode.Malformed) {
			return Answer{}, err
		}
		code, ok := reasonOf(err)
		if !ok {
			return Answer{}, err
		}
		cur, rerr := rq.Request(ctx, id)
		if rerr != nil {
			return Answer{}, rerr
		}
		return g.statusOf(role, cur, reject(code, err.Error()))
	}
	a, err := g.statusOf(role, pr, nil)
	if err != nil {
		return Answer{}, err
	}
	b := g.db.NewBatch()
	if err := g.putProduced(b, role, Produced{MsgID: a.MsgID, Kind: Pain014, Created: g.cfg.Now(), XML: a.XML}); err != nil {
		b.Discard()
		return Answer{}, err
	}
	if err := b.Commit(true); err != nil {
		return Answer{}, storeErr(err, "record the status of %s", id)
	}
	return a, nil
}

// RequestStatus is the pain.014 of request id as role's intermediary
// knows it now (the payee's, which owns it, or the payer's copy): how a
// creditor follows its request as it changes.
func (g *Gateway) RequestStatus(ctx context.Context, role, id string) (Answer, error) {
	if err := g.authorize(ctx, role); err != nil {
		return Answer{}, err
	}
	rq, err := g.requests(role)
	if err != nil {
		return Answer{}, err
	}
	pr, err := rq.Request(roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary}), id)
	if err != nil {
		return Answer{}, err
	}
	return g.statusOf(role, pr, nil)
}
