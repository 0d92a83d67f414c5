package iso20022

import (
	"context"
	"strconv"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

func itoa(n int) string { return strconv.Itoa(n) }

// isWallet says whether an account number is a Specie wallet ID: the name
// of an intermediary the gateway knows, a dot, and more.
func (g *Gateway) isWallet(n string) bool {
	name := roles.IntermediaryOf(n)
	if name == "" || len(name) >= len(n) {
		return false
	}
	_, ok := g.cfg.BICs[name]
	if !ok {
		_, ok = g.cfg.Intermediaries[name]
	}
	return ok
}

// initiate applies a pain.001 at intermediary role: each payment of each
// instruction is paid from the debtor wallet, to a wallet (here or at
// another intermediary, by ID or alias) or, for any other account, out of
// Specie: the wallet pays the treasury and an outgoing pacs.008 to the
// creditor's bank is produced. Answered by a pain.002 with a status per
// payment, per instruction and for the group.
func (g *Gateway) initiate(ctx context.Context, role string, h hdr, hash string, doc []byte, out *outcome) error {
	var m Pain001Doc
	if err := Decode(doc, Pain001, &m); err != nil {
		return errcode.New(errcode.Internal, "decode validated pain.001: %v", err)
	}
	in := g.cfg.Intermediaries[role]
	ctx = roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary})
	var txs []txResult
	var payouts []CdtTrf43
	seen := map[string]bool{}
	for _, pi := range m.Msg.PmtInf {
		from := pi.DbtrAcct.Number()
		for _, tx := range pi.CdtTrfTxInf {
			r := txResult{instrID: tx.PmtID.InstrID, e2e: tx.PmtID.EndToEndID, uetr: tx.PmtID.UETR, pmtInf: pi.PmtInfID}
			pk := payKey(tx.PmtID, from)
			amount, rej := ParseAmount(g.cfg.Currency, tx.Amt.InstdAmt)
			used, err := g.usedPayment(role, pk, out)
			if err != nil {
				return err
			}
			switch {
			case seen[pk] || used:
				rej = reject(ReasonDuplicate, "payment "+tx.PmtID.EndToEndID+" was already initiated")
			case rej != nil:
			case roles.IntermediaryOf(from) != role || !g.isWallet(from):
				rej = reject(ReasonAccount, "debtor account "+from+" is not a wallet at "+role)
			}
			to, payout := "", false
			if rej == nil {
				switch {
				case tx.CdtrAcct != nil && tx.CdtrAcct.Prxy != nil:
					if to, rej, err = g.creditorWallet(ctx, role, tx.CdtrAcct); err != nil {
						return err
					}
				case tx.CdtrAcct != nil && g.isWallet(tx.CdtrAcct.Number()):
					to = tx.CdtrAcct.Number()
				case tx.CdtrAcct != nil && tx.CdtrAcct.Number() != "" && tx.CdtrAgt.BIC() != "":
					to, payout = role+roles.TreasurySuffix, true
				default:
					rej = reject(ReasonAccount, "a payment out of Specie needs the creditor's account and its bank's BIC")
				}
			}
			if rej == nil {
				res, err := in.Pay(ctx, roles.Payment{From: from, To: to, Amount: amount,
					Reference: reference(tx.PmtID.EndToEndID, tx.RmtInf), IdempotencyKey: idemKey(role, h.msgID, pk)})
				if err != nil {
					code, ok := reasonOf(err)
					if !ok {
						return err
					}
					rej = reject(code, err.Error())
				} else {
					r.status, r.ref = StatusSettled, res.TxID.String()[:35]
					if payout {
						payouts = append(payouts, g.payoutTx(role, pi, tx))
					}
				}
			}
			if rej != nil {
				r.status, r.reason, r.text = StatusRejected, rej.Code, rej.Text
			}
			if rej == nil { // only what was applied: a refused payment may come again
				out.pmtKeys = append(out.pmtKeys, pk)
			}
			seen[pk] = true
			txs = append(txs, r)
		}
	}
	a, err := g.statusAnswer(role, Pain001, h, hash, txs, groupStatus(txs, StatusSettled), "", "")
	if err != nil {
		return err
	}
	out.answer = a
	if len(payouts) > 0 {
		p, err := g.payoutMessage(role, h.msgID, payouts)
		if err != nil {
			return err
		}
		out.produced = append(out.produced, p)
	}
	return nil
}

// payoutTx is the interbank leg of a pay-out: from the intermediary (the
// debtor's agent) to the creditor's bank.
func (g *Gateway) payoutTx(role string, pi PmtInf34, tx CdtTrf40) CdtTrf43 {
	cdtr := Party{}
	if tx.Cdtr != nil {
		cdtr = *tx.Cdtr
	}
	return CdtTrf43{
		PmtID:          PmtID{InstrID: tx.PmtID.InstrID, EndToEndID: tx.PmtID.EndToEndID, TxID: tx.PmtID.EndToEndID, UETR: tx.PmtID.UETR},
		IntrBkSttlmAmt: tx.Amt.InstdAmt,
		IntrBkSttlmDt:  isoDate(g.cfg.Now()),
		ChrgBr:         "SLEV",
		Dbtr:           pi.Dbtr,
		DbtrAcct:       otherAccount(pi.DbtrAcct.Number()),
		DbtrAgt:        *agentOr(g.cfg.BICs[role], role),
		CdtrAgt:        *tx.CdtrAgt,
		Cdtr:           cdtr,
		CdtrAcct:       tx.CdtrAcct,
		RmtInf:         tx.RmtInf,
	}
}

// payoutMessage is the outgoing pacs.008 of a message's pay-outs.
func (g *Gateway) payoutMessage(role, msgID string, txs []CdtTrf43) (Produced, error) {
	id := answerID(Pacs008, role, msgID)
	now := g.cfg.Now()
	var total uint64
	for _, t := range txs {
		v, _ := ParseAmount(g.cfg.Currency, t.IntrBkSttlmAmt)
		total += v
	}
	amt := FormatAmount(g.cfg.Currency, total)
	m := &Pacs008Doc{}
	m.Msg.GrpHdr = GrpHdr93{MsgID: id, CreDtTm: isoTime(now), NbOfTxs: itoa(len(txs)), TtlIntrBkSttlmAmt: &amt,
		IntrBkSttlmDt: isoDate(now), SttlmInf: SttlmInf{SttlmMtd: "CLRG"}, InstgAgt: agentBIC(g.cfg.BICs[role])}
	m.Msg.CdtTrfTxInf = txs
	b, err := Encode(m)
	if err != nil {
		return Produced{}, errcode.New(errcode.Internal, "%v", err)
	}
	return Produced{MsgID: id, Kind: Pacs008, Created: now, XML: b}, nil
}

// pain002 is the pain.001's status report, grouped by instruction.
func (g *Gateway) pain002(id, now, msg string, h hdr, txs []txResult, grpSts, grpReason, grpText string) *Pain002Doc {
	r := &Pain002Doc{}
	r.Msg.GrpHdr = GrpHdr91{MsgID: id, CreDtTm: now}
	r.Msg.OrgnlGrpInfAndSts = OrgnlGrp17{OrgnlMsgID: orNotProvided(h.msgID), OrgnlMsgNmID: orNotProvided(msg),
		OrgnlCreDtTm: h.creDtTm, OrgnlNbOfTxs: h.nbOfTxs, GrpSts: grpSts, StsRsnInf: reasonInfo(grpReason, grpText)}
	idx := map[string]int{}
	groups := map[string][]txResult{}
	var order []string
	for _, t := range txs {
		if _, ok := idx[t.pmtInf]; !ok {
			idx[t.pmtInf] = len(order)
			order = append(order, t.pmtInf)
		}
		groups[t.pmtInf] = append(groups[t.pmtInf], t)
	}
	for _, pid := range order {
		ts := groups[pid]
		o := OrgnlPmtInf{OrgnlPmtInfID: orNotProvided(pid), OrgnlNbOfTxs: itoa(len(ts)), PmtInfSts: groupStatus(ts, StatusSettled)}
		for _, t := range ts {
			o.TxInfAndSts = append(o.TxInfAndSts, TxSts{OrgnlInstrID: t.instrID, OrgnlEndToEndID: t.e2e, OrgnlUETR: t.uetr,
				TxSts: t.status, StsRsnInf: reasonInfo(t.reason, t.text), AcctSvcrRef: t.ref})
		}
		r.Msg.OrgnlPmtInfAndSts = append(r.Msg.OrgnlPmtInfAndSts, o)
	}
	return r
}
