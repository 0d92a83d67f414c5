package iso20022

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/issuer"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

func asRejection(err error, r **Rejection) bool { return errors.As(err, r) }

// fundReserves applies a pacs.009 from the settlement system: each
// transfer whose debtor is an intermediary's BIC (the bank moving central
// bank money from its settlement account) and whose creditor is the
// central bank credits that intermediary's reserve account, exactly once
// per MsgId and payment identification.
func (g *Gateway) fundReserves(ctx context.Context, h hdr, hash string, doc []byte, out *outcome) error {
	var m Pacs009Doc
	if err := Decode(doc, Pacs009, &m); err != nil {
		return errcode.New(errcode.Internal, "decode validated pacs.009: %v", err)
	}
	ctx = roles.WithCaller(ctx, roles.Principal{Name: RoleIssuer, Role: roles.RoleIssuer})
	var txs []txResult
	seen := map[string]bool{}
	for _, tx := range m.Msg.CdtTrfTxInf {
		r := txResult{instrID: tx.PmtID.InstrID, e2e: tx.PmtID.EndToEndID, txID: tx.PmtID.TxID, uetr: tx.PmtID.UETR}
		pk := payKey(tx.PmtID, tx.Dbtr.BIC())
		rej := func(code, text string) {
			r.status, r.reason, r.text = StatusRejected, code, text
		}
		amount, bad := ParseAmount(g.cfg.Currency, tx.IntrBkSttlmAmt)
		name, known := g.bySIC[tx.Dbtr.BIC()]
		used, err := g.usedPayment(RoleIssuer, pk, out)
		if err != nil {
			return err
		}
		switch {
		case seen[pk] || used:
			rej(ReasonDuplicate, "payment "+tx.PmtID.EndToEndID+" was already received")
		case bad != nil:
			rej(bad.Code, bad.Text)
		case !known:
			rej(ReasonAccount, "no intermediary with BIC "+tx.Dbtr.BIC()+" holds a reserve account")
		case g.cfg.BIC != "" && tx.Cdtr.BIC() != g.cfg.BIC:
			rej(ReasonAccount, "creditor "+tx.Cdtr.BIC()+" is not the central bank "+g.cfg.BIC)
		default:
			e, err := g.cfg.Issuer.CreditReserve(ctx, h.msgID+"/"+pk, name, amount)
			if err != nil {
				code, ok := reasonOf(err)
				if !ok {
					return err
				}
				rej(code, err.Error())
				break
			}
			r.status, r.ref = StatusSettled, "reserve-"+strconv.FormatInt(e.Time.UnixNano(), 10)
		}
		seen[pk] = true
		if r.status == StatusSettled { // only what was applied: a refused payment may come again
			out.pmtKeys = append(out.pmtKeys, pk)
		}
		txs = append(txs, r)
	}
	a, err := g.statusAnswer(RoleIssuer, Pacs009, h, hash, txs, groupStatus(txs, StatusSettled), "", "")
	if err != nil {
		return err
	}
	out.answer = a
	return nil
}

// redemptionMessage is the pacs.009 that pays a redeemed amount from the
// central bank to the intermediary's settlement account.
func (g *Gateway) redemptionMessage(e issuer.ReserveEntry) (Produced, error) {
	id := answerID(Pacs009, RoleIssuer, e.Ref)
	bic := g.cfg.BICs[e.Intermediary]
	acct := g.cfg.SettlementAccounts[e.Intermediary]
	if acct == "" {
		acct = "RTGS-" + bic
	}
	amt := FormatAmount(g.cfg.Currency, e.Amount)
	m := &Pacs009Doc{}
	m.Msg.GrpHdr = GrpHdr93{MsgID: id, CreDtTm: isoTime(e.Time), NbOfTxs: "1", TtlIntrBkSttlmAmt: &amt,
		IntrBkSttlmDt: isoDate(e.Time), SttlmInf: SttlmInf{SttlmMtd: "CLRG"}}
	m.Msg.CdtTrfTxInf = []CdtTrf44{{
		PmtID:          PmtID{InstrID: id, EndToEndID: "REDEEM-" + e.Ref[:24], TxID: e.Ref[:35]},
		IntrBkSttlmAmt: amt,
		IntrBkSttlmDt:  isoDate(e.Time),
		Dbtr:           *agentOr(g.cfg.BIC, "Central bank"),
		Cdtr:           *agentOr(bic, e.Intermediary),
		CdtrAcct:       otherAccount(acct),
		RmtInf:         &RmtInf{Ustrd: []string{"Redemption of digital currency, ledger transaction " + e.Ref[:64]}},
	}}
	b, err := Encode(m)
	if err != nil {
		return Produced{}, err
	}
	return Produced{MsgID: id, Kind: Pacs009, Created: e.Time, XML: b}, nil
}

// agentOr is an agent by BIC, or by name when it has none.
func agentOr(bic, name string) *Agent {
	if bic != "" {
		return agentBIC(bic)
	}
	return &Agent{FinInstnID: FinInstnID{Nm: name}}
}

// produceRedemptions writes, once, the outgoing pacs.009 of every redeem
// in the reserve journals between from and to.
func (g *Gateway) produceRedemptions(ctx context.Context, from, to time.Time) error {
	if g.cfg.Issuer == nil {
		return nil
	}
	ctx = roles.WithCaller(ctx, roles.Principal{Name: RoleIssuer, Role: roles.RoleIssuer})
	b := g.db.NewBatch()
	for name := range g.cfg.BICs {
		_, _, es, err := g.cfg.Issuer.ReserveJournal(ctx, name, from, to)
		if errcode.Is(err, errcode.NotFound) {
			continue
		}
		if err != nil {
			b.Discard()
			return err
		}
		for _, e := range es {
			if e.Kind != issuer.ReserveRedeem {
				continue
			}
			p, err := g.redemptionMessage(e)
			if err != nil {
				b.Discard()
				return errcode.New(errcode.Internal, "%v", err)
			}
			if err := g.putProduced(b, RoleIssuer, p); err != nil {
				b.Discard()
				return err
			}
		}
	}
	if err := b.Commit(true); err != nil {
		return storeErr(err, "record redemption messages")
	}
	return nil
}

// FundingMessage is the pacs.009 a settlement system sends to credit
// amount to the central bank (centralBIC) for the intermediary bankBIC's
// reserve account: what the devnet's stand-in for an RTGS (`specie
// iso20022 fund`) and the tests send.
func FundingMessage(cur money.Currency, msgID, bankBIC, centralBIC string, amount uint64, at time.Time) ([]byte, error) {
	amt := FormatAmount(cur, amount)
	m := &Pacs009Doc{}
	m.Msg.GrpHdr = GrpHdr93{MsgID: msgID, CreDtTm: isoTime(at), NbOfTxs: "1", TtlIntrBkSttlmAmt: &amt,
		IntrBkSttlmDt: isoDate(at), SttlmInf: SttlmInf{SttlmMtd: "CLRG"}}
	m.Msg.CdtTrfTxInf = []CdtTrf44{{
		PmtID:          PmtID{InstrID: msgID, EndToEndID: msgID, TxID: msgID},
		IntrBkSttlmAmt: amt,
		IntrBkSttlmDt:  isoDate(at),
		Dbtr:           *agentBIC(bankBIC),
		DbtrAcct:       otherAccount("RTGS-" + bankBIC),
		Cdtr:           *agentBIC(centralBIC),
		RmtInf:         &RmtInf{Ustrd: []string{"Reserve funding for digital currency"}},
	}}
	return Encode(m)
}

// GroupStatus reads a status report's (pacs.002, pain.002, pain.014) group
// status and its first reason code, if any.
func GroupStatus(doc []byte) (status, reason string, err error) {
	msg, err := Detect(doc)
	if err != nil {
		return "", "", err
	}
	var g OrgnlGrp17
	switch msg {
	case Pacs002:
		var d Pacs002Doc
		err = Decode(doc, msg, &d)
		g = d.Msg.OrgnlGrpInfAndSts
	case Pain002:
		var d Pain002Doc
		err = Decode(doc, msg, &d)
		g = d.Msg.OrgnlGrpInfAndSts
	case Pain014:
		var d Pain014Doc
		err = Decode(doc, msg, &d)
		g = d.Msg.OrgnlGrpInfAndSts
	default:
		return "", "", formatErr(0, "%s is not a status report", msg)
	}
	if err != nil {
		return "", "", err
	}
	if len(g.StsRsnInf) > 0 && g.StsRsnInf[0].Rsn != nil {
		reason = g.StsRsnInf[0].Rsn.Cd
	}
	return g.GrpSts, reason, nil
}
