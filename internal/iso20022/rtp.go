package iso20022

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
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

// Request-to-pay statuses.
const (
	RequestPending = StatusPending
	RequestPaid    = StatusSettled
	RequestRefused = StatusRejected
	reasonByPayer  = "CUST" // RequestedByCustomer: the payer refused
)

// PaymentRequest is a request to pay held for a wallet holder.
//
// The request-to-pay of the intermediaries was not in main when this
// gateway was written, so the gateway keeps these itself (requestBook,
// in its own store); when it lands, requestBook is the seam to swap.
type PaymentRequest struct {
	ID        string    `json:"id"` // the gateway's reference, in the pain.014's AcctSvcrRef
	MsgID     string    `json:"msg_id"`
	PmtInfID  string    `json:"pmt_inf_id"`
	E2E       string    `json:"e2e"`
	UETR      string    `json:"uetr,omitempty"`
	From      string    `json:"from"` // the payer's wallet
	To        string    `json:"to"`   // the creditor's wallet
	Amount    uint64    `json:"amount"`
	Reference string    `json:"reference,omitempty"`
	Creditor  string    `json:"creditor,omitempty"`
	Status    string    `json:"status"`
	TxID      string    `json:"txid,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Created   time.Time `json:"created"`
}

// requestBook is where requests to pay live.
type requestBook interface {
	put(b *store.Batch, role string, r PaymentRequest) error
	get(role, id string) (*PaymentRequest, error)
}

// gatewayBook keeps requests in the gateway's store under
// q/<role> 0x00 <id>.
type gatewayBook struct{ db *store.DB }

const prefRequest = "q/"

func (k gatewayBook) put(b *store.Batch, role string, r PaymentRequest) error {
	v, err := json.Marshal(r)
	if err != nil {
		return errcode.New(errcode.Internal, "encode request: %v", err)
	}
	b.Set(gkey(prefRequest, role, r.ID), v)
	return nil
}

func (k gatewayBook) get(role, id string) (*PaymentRequest, error) {
	v, err := k.db.Get(gkey(prefRequest, role, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err, "read request %s", id)
	}
	r := new(PaymentRequest)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, errcode.New(errcode.Internal, "decode request %s: %v", id, err)
	}
	return r, nil
}

func (g *Gateway) book() requestBook { return gatewayBook{db: g.db} }

// requestToPay applies a pain.013 at the payer's intermediary: each
// requested payment from one of its wallets to a wallet (here or
// elsewhere) becomes a pending request; the pain.014 answers PDNG with
// the request's reference, or RJCT with the reason.
func (g *Gateway) requestToPay(ctx context.Context, role string, h hdr, hash string, doc []byte, out *outcome) error {
	var m Pain013Doc
	if err := Decode(doc, Pain013, &m); err != nil {
		return errcode.New(errcode.Internal, "decode validated pain.013: %v", err)
	}
	ctx = roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary})
	in := g.cfg.Intermediaries[role]
	out.sets = map[string][]byte{}
	var txs []txResult
	seen := map[string]bool{}
	for _, pi := range m.Msg.PmtInf {
		from := pi.DbtrAcct.Number()
		for _, tx := range pi.CdtTrfTx {
			r := txResult{instrID: tx.PmtID.InstrID, e2e: tx.PmtID.EndToEndID, uetr: tx.PmtID.UETR, pmtInf: pi.PmtInfID}
			pk := payKey(tx.PmtID, "rtp/"+from)
			amount, rej := ParseAmount(g.cfg.Currency, tx.Amt.InstdAmt)
			used, err := g.usedPayment(role, pk, out)
			if err != nil {
				return err
			}
			var to string
			switch {
			case seen[pk] || used:
				rej = reject(ReasonDuplicate, "request "+tx.PmtID.EndToEndID+" was already received")
			case rej != nil:
			case roles.IntermediaryOf(from) != role || !g.isWallet(from):
				rej = reject(ReasonAccount, "debtor account "+from+" is not a wallet at "+role)
			default:
				if to, rej, err = g.creditorWallet(ctx, role, tx.CdtrAcct); err != nil {
					return err
				}
				if rej == nil && !g.isWallet(to) {
					rej = reject(ReasonAccount, "creditor account "+to+" is not a Specie wallet")
				}
			}
			if rej == nil {
				if _, err := in.Wallet(ctx, from); err != nil {
					code, ok := reasonOf(err)
					if !ok {
						return err
					}
					rej = reject(code, err.Error())
				}
			}
			if rej != nil {
				r.status, r.reason, r.text = StatusRejected, rej.Code, rej.Text
			} else {
				req := PaymentRequest{ID: answerID("RTP", role, h.msgID, pk), MsgID: h.msgID, PmtInfID: pi.PmtInfID, E2E: tx.PmtID.EndToEndID,
					UETR: tx.PmtID.UETR, From: from, To: to, Amount: amount, Reference: reference(tx.PmtID.EndToEndID, tx.RmtInf),
					Creditor: tx.Cdtr.Nm, Status: RequestPending, Created: g.cfg.Now().UTC()}
				v, err := json.Marshal(req)
				if err != nil {
					return errcode.New(errcode.Internal, "encode request: %v", err)
				}
				out.sets[string(gkey(prefRequest, role, req.ID))] = v
				r.status, r.ref = RequestPending, req.ID
			}
			if rej == nil { // only what was applied: a refused payment may come again
				out.pmtKeys = append(out.pmtKeys, pk)
			}
			seen[pk] = true
			txs = append(txs, r)
		}
	}
	a, err := g.statusAnswer(role, Pain013, h, hash, txs, groupStatus(txs, RequestPending), "", "")
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

// Request reports a request to pay held for a wallet of role.
func (g *Gateway) Request(ctx context.Context, role, id string) (PaymentRequest, error) {
	if err := g.authorize(ctx, role); err != nil {
		return PaymentRequest{}, err
	}
	r, err := g.book().get(role, id)
	if err != nil {
		return PaymentRequest{}, err
	}
	if r == nil {
		return PaymentRequest{}, errcode.New(errcode.NotFound, "no request to pay %s at %s", id, role)
	}
	return *r, nil
}

// Decide records the payer's decision on a pending request: accept pays it
// (the ordinary payment path, limits and screening apply) and refuse
// refuses it. Either way a pain.014 with the new status is produced and
// returned. Deciding a decided request again returns its status report
// unchanged; the opposite decision is a conflict.
func (g *Gateway) Decide(ctx context.Context, role, id string, accept bool) (Answer, error) {
	if err := g.authorize(ctx, role); err != nil {
		return Answer{}, err
	}
	mu := g.lock(role, "rtp/"+id)
	mu.Lock()
	defer mu.Unlock()
	r, err := g.book().get(role, id)
	if err != nil {
		return Answer{}, err
	}
	if r == nil {
		return Answer{}, errcode.New(errcode.NotFound, "no request to pay %s at %s", id, role)
	}
	if r.Status != RequestPending {
		if (r.Status == RequestRefused && r.Reason == reasonByPayer) == accept {
			return Answer{}, errcode.New(errcode.Conflict, "request %s is already %s", id, r.Status)
		}
		p, err := g.produced(role, answerID(Pain014, role, id, RequestPending))
		if err != nil {
			return Answer{}, err
		}
		return Answer{Kind: Pain014, MsgID: p.MsgID, XML: p.XML}, nil
	}
	tr := txResult{e2e: r.E2E, uetr: r.UETR, pmtInf: r.PmtInfID, ref: r.ID}
	if accept {
		ictx := roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary})
		res, err := g.cfg.Intermediaries[role].Pay(ictx, roles.Payment{From: r.From, To: r.To, Amount: r.Amount,
			Reference: r.Reference, IdempotencyKey: idemKey(role, r.MsgID, "rtp/"+r.ID)})
		if err != nil {
			code, ok := reasonOf(err)
			if !ok {
				return Answer{}, err
			}
			r.Status, r.Reason = RequestRefused, code
			tr.status, tr.reason, tr.text = StatusRejected, code, err.Error()
		} else {
			r.Status, r.TxID = RequestPaid, res.TxID.String()
			tr.status = StatusSettled
		}
	} else {
		r.Status, r.Reason = RequestRefused, reasonByPayer
		tr.status, tr.reason, tr.text = StatusRejected, reasonByPayer, "refused by the payer"
	}
	now := g.cfg.Now()
	id14 := answerID(Pain014, role, id, RequestPending)
	doc, err := Encode(g.pain014(id14, isoTime(now), Pain013, hdr{msgID: r.MsgID}, []txResult{tr}, tr.status, "", ""))
	if err != nil {
		return Answer{}, errcode.New(errcode.Internal, "%v", err)
	}
	b := g.db.NewBatch()
	if err := g.book().put(b, role, *r); err != nil {
		b.Discard()
		return Answer{}, err
	}
	if err := g.putProduced(b, role, Produced{MsgID: id14, Kind: Pain014, Created: now, XML: doc}); err != nil {
		b.Discard()
		return Answer{}, err
	}
	if err := b.Commit(true); err != nil {
		return Answer{}, storeErr(err, "record decision on %s", id)
	}
	return Answer{Kind: Pain014, MsgID: id14, XML: doc}, nil
}
