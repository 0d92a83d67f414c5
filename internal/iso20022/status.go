package iso20022

import (
	"context"
	"encoding/xml"
	"strconv"

	"github.com/specie/specie/errcode"
)

// hdr is what every message has: its identification, creation time and
// number of payments.
type hdr struct {
	msgID   string
	creDtTm string
	nbOfTxs string
}

// anyHeader reads the group header (or, for a camt.056, the assignment)
// of any message.
type anyHeader struct {
	Inner struct {
		GrpHdr struct {
			MsgID   string `xml:"MsgId"`
			CreDtTm string `xml:"CreDtTm"`
			NbOfTxs string `xml:"NbOfTxs"`
		} `xml:"GrpHdr"`
		Assgnmt struct {
			ID      string `xml:"Id"`
			CreDtTm string `xml:"CreDtTm"`
		} `xml:"Assgnmt"`
	} `xml:",any"`
}

func header(msg string, doc []byte) (hdr, error) {
	var a anyHeader
	if err := Decode(doc, msg, &a); err != nil {
		return hdr{}, err
	}
	h := hdr{msgID: a.Inner.GrpHdr.MsgID, creDtTm: a.Inner.GrpHdr.CreDtTm, nbOfTxs: a.Inner.GrpHdr.NbOfTxs}
	if msg == Camt056 {
		h.msgID, h.creDtTm = a.Inner.Assgnmt.ID, a.Inner.Assgnmt.CreDtTm
	}
	if h.msgID == "" || len(h.msgID) > 35 {
		return hdr{}, formatErr(0, "the message has no identification of 1 to 35 characters")
	}
	return h, nil
}

// txResult is one payment's status in an answer.
type txResult struct {
	instrID, e2e, txID, uetr string
	status                   string // StatusSettled, StatusRejected, StatusAccepted, StatusPending
	reason, text             string // ISO reason code and explanation when rejected
	ref                      string // the servicer's reference (the ledger txid), when settled
	pmtInf                   string // pain.001: the payment instruction it belongs to
	origMsg                  string // camt.056: the MsgId of the recalled payment's message
}

// groupStatus is ACSC (or accepted) when every payment went through, RJCT
// when none did, PART otherwise.
func groupStatus(txs []txResult, ok string) string {
	n := 0
	for _, t := range txs {
		if t.status != StatusRejected {
			n++
		}
	}
	switch {
	case n == len(txs):
		return ok
	case n == 0:
		return StatusRejected
	}
	return StatusPartial
}

// answerKind is the status message that answers msg.
func answerKind(msg string) string {
	switch msg {
	case Pain001:
		return Pain002
	case Pain013:
		return Pain014
	case Camt056:
		return Camt029
	}
	return Pacs002
}

// statusAnswer builds the status report of kind for the message msg/h.
// grpReason is set when the whole message is refused.
func (g *Gateway) statusAnswer(role, msg string, h hdr, hash string, txs []txResult, grpSts, grpReason, grpText string) (Answer, error) {
	kind := answerKind(msg)
	id := answerID(kind, role, h.msgID, hash)
	now := isoTime(g.cfg.Now())
	var v any
	switch kind {
	case Pain002:
		v = g.pain002(id, now, msg, h, txs, grpSts, grpReason, grpText)
	case Pain014:
		v = g.pain014(id, now, msg, h, txs, grpSts, grpReason, grpText)
	case Camt029:
		v = g.camt029(id, now, role, h, txs, grpReason, grpText)
	default:
		r := &Pacs002Doc{}
		r.Msg.GrpHdr = GrpHdr91{MsgID: id, CreDtTm: now}
		r.Msg.OrgnlGrpInfAndSts = OrgnlGrp17{OrgnlMsgID: orNotProvided(h.msgID), OrgnlMsgNmID: orNotProvided(msg),
			OrgnlCreDtTm: h.creDtTm, OrgnlNbOfTxs: h.nbOfTxs, GrpSts: grpSts, StsRsnInf: reasonInfo(grpReason, grpText)}
		for _, t := range txs {
			r.Msg.TxInfAndSts = append(r.Msg.TxInfAndSts, TxSts{OrgnlInstrID: t.instrID, OrgnlEndToEndID: t.e2e, OrgnlTxID: t.txID,
				OrgnlUETR: t.uetr, TxSts: t.status, StsRsnInf: reasonInfo(t.reason, t.text), AcctSvcrRef: t.ref})
		}
		v = r
	}
	b, err := Encode(v)
	if err != nil {
		return Answer{}, errcode.New(errcode.Internal, "%v", err)
	}
	return Answer{Kind: kind, MsgID: id, XML: b}, nil
}

func orNotProvided(s string) string {
	if s == "" {
		return "NOTPROVIDED"
	}
	return s
}

// unreadable answers a document that could not be read or does not
// conform: rejected with FF01 and the problem. It is not recorded (there
// may be no MsgId to record it under); answering it again changes nothing.
func (g *Gateway) unreadable(role, msg string, doc []byte, err error) (Answer, error) {
	h := hdr{}
	if msg != "" {
		// Best effort: name the message it claims to be.
		var a anyHeader
		if xml.Unmarshal(doc, &a) == nil && len(a.Inner.GrpHdr.MsgID) <= 35 {
			h.msgID = a.Inner.GrpHdr.MsgID
			if msg == Camt056 {
				h.msgID = a.Inner.Assgnmt.ID
			}
		}
	}
	if len(h.msgID) > 35 {
		h.msgID = ""
	}
	g.log.Info("unreadable message refused", "role", role, "message", msg, "err", err)
	sumHash := strconv.Itoa(len(doc)) + ":" + err.Error()
	return g.statusAnswer(role, msg, h, sumHash, nil, StatusRejected, ReasonFormat, err.Error())
}

// rejectAll refuses a whole message with one reason, without applying or
// recording anything.
func (g *Gateway) rejectAll(role, msg string, h hdr, hash, code, text string) (Answer, error) {
	return g.statusAnswer(role, msg, h, hash+":"+code, nil, StatusRejected, code, text)
}

// reasonOf maps a refusal by the issuer or an intermediary to an ISO
// reason code; ok is false for an outcome that is not known yet
// (unavailable, internal), which must not be answered as a rejection.
func reasonOf(err error) (code string, ok bool) {
	var r *Rejection
	if asRejection(err, &r) {
		return r.Code, true
	}
	switch errcode.Of(err) {
	case errcode.NotFound:
		return ReasonAccount, true
	case errcode.InsufficientFunds:
		return ReasonFunds, true
	case errcode.LimitExceeded:
		return ReasonNotAllowed, true
	case errcode.Blocked:
		return ReasonRegulatory, true
	case errcode.Unauthorized:
		return ReasonForbidden, true
	case errcode.Conflict:
		return ReasonDuplicate, true
	case errcode.Malformed:
		return ReasonAccount, true
	case errcode.Unavailable, errcode.Internal:
		return "", false
	}
	return ReasonNotSpec, true
}

// handle applies a decoded message, filling out.
func (g *Gateway) handle(ctx context.Context, role, msg string, h hdr, hash string, doc []byte, out *outcome) error {
	switch {
	case role == RoleIssuer && msg == Pacs009:
		return g.fundReserves(ctx, h, hash, doc, out)
	case role != RoleIssuer && msg == Pacs008:
		return g.deposit(ctx, role, h, hash, doc, out)
	case role != RoleIssuer && msg == Pain001:
		return g.initiate(ctx, role, h, hash, doc, out)
	case role != RoleIssuer && msg == Camt056:
		return g.recall(ctx, role, h, hash, doc, out)
	case role != RoleIssuer && msg == Pain013:
		return g.requestToPay(ctx, role, h, hash, doc, out)
	}
	a, err := g.statusAnswer(role, msg, h, hash, nil, StatusRejected, ReasonForbidden, msg+" is not a message "+role+" accepts")
	out.answer = a
	return err
}
