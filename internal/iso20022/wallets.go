package iso20022

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/roles"
)

// credit is a deposit applied to a wallet by a pacs.008, kept so that a
// recall (camt.056) can find and return it.
type credit struct {
	Wallet   string `json:"wallet"`
	Amount   uint64 `json:"amount"`
	TxID     string `json:"txid"`
	DbtrAgt  string `json:"dbtr_agt"`
	UETR     string `json:"uetr,omitempty"`
	Returned bool   `json:"returned,omitempty"`
}

// idemKey is the intermediary idempotency key of the payment a message
// makes: derived from role, MsgId and payment key, so a retry after a
// crash between paying and recording the answer pays nothing twice.
func idemKey(role, msgID, pk string) string {
	s := sha256.Sum256([]byte(role + "\x00" + msgID + "\x00" + pk))
	return "iso20022-" + hex.EncodeToString(s[:16])
}

// reference is the payment reference shown in wallet history: the
// EndToEndId and the remittance information.
func reference(e2e string, rmt *RmtInf) string {
	r := "E2E " + e2e
	if rmt != nil && len(rmt.Ustrd) > 0 {
		r += ": " + strings.Join(rmt.Ustrd, " ")
	}
	if len(r) > 500 {
		r = r[:500]
	}
	return strings.ToValidUTF8(r, "?")
}

// creditorWallet finds the wallet a payment is for: the creditor account's
// number when it is a Specie wallet ID, or its alias (proxy), looked up
// through role's alias book (the central bank's alias directory behind
// it). A lookup that may succeed later (rate_limited, unavailable) is an
// error, not a rejection: the message is answered once it can be.
func (g *Gateway) creditorWallet(ctx context.Context, role string, acct *Account) (string, *Rejection, error) {
	if acct == nil {
		return "", reject(ReasonAccount, "no creditor account"), nil
	}
	// An alias (proxy) names the account when present; the schema still
	// asks for an account Id beside it, which is then a placeholder.
	if acct.Prxy != nil && acct.Prxy.ID != "" {
		book, ok := g.cfg.Intermediaries[role].(roles.AliasBook)
		if !ok {
			return "", reject(ReasonAccount, "alias "+acct.Prxy.ID+" cannot be resolved: "+role+" has no alias book"), nil
		}
		e, err := book.LookupAlias(ctx, acct.Prxy.ID)
		switch {
		case errcode.Is(err, errcode.RateLimited):
			return "", nil, errcode.New(errcode.Unavailable, "alias lookups are rate limited now; send the message again later: %v", err)
		case err != nil:
			code, ok := reasonOf(err)
			if !ok {
				return "", nil, err
			}
			return "", reject(code, "alias "+acct.Prxy.ID+": "+err.Error()), nil
		}
		return e.Wallet, nil, nil
	}
	n := acct.Number()
	if n == "" {
		return "", reject(ReasonAccount, "no creditor account number"), nil
	}
	return n, nil, nil
}

// deposit applies an incoming pacs.008 at intermediary role: each payment
// whose creditor account is one of its wallets is paid to that wallet
// from the intermediary's treasury, through the ordinary payment path
// (limits and screening apply). A payment that cannot be applied is
// rejected in the pacs.002 and returned with a pacs.004.
func (g *Gateway) deposit(ctx context.Context, role string, h hdr, hash string, doc []byte, out *outcome) error {
	var m Pacs008Doc
	if err := Decode(doc, Pacs008, &m); err != nil {
		return errcode.New(errcode.Internal, "decode validated pacs.008: %v", err)
	}
	in := g.cfg.Intermediaries[role]
	ctx = roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary})
	out.credits = map[string]credit{}
	var txs []txResult
	var returns []RtrTx
	seen := map[string]bool{}
	for _, tx := range m.Msg.CdtTrfTxInf {
		r := txResult{instrID: tx.PmtID.InstrID, e2e: tx.PmtID.EndToEndID, txID: tx.PmtID.TxID, uetr: tx.PmtID.UETR}
		pk := payKey(tx.PmtID, tx.DbtrAgt.BIC())
		amount, bad := ParseAmount(g.cfg.Currency, tx.IntrBkSttlmAmt)
		used, err := g.usedPayment(role, pk, out)
		if err != nil {
			return err
		}
		var rej *Rejection
		switch {
		case seen[pk] || used:
			rej = reject(ReasonDuplicate, "payment "+tx.PmtID.EndToEndID+" was already received")
		case bad != nil:
			rej = bad
		case g.cfg.BICs[role] != "" && tx.CdtrAgt.BIC() != g.cfg.BICs[role]:
			rej = reject("RC01", "creditor agent "+tx.CdtrAgt.BIC()+" is not "+role+" ("+g.cfg.BICs[role]+")")
		}
		var wallet string
		if rej == nil {
			if wallet, rej, err = g.creditorWallet(ctx, role, tx.CdtrAcct); err != nil {
				return err
			}
		}
		if rej == nil && roles.IntermediaryOf(wallet) != role {
			rej = reject(ReasonAccount, "account "+wallet+" is not a wallet at "+role)
		}
		if rej == nil {
			res, err := in.Pay(ctx, roles.Payment{From: role + roles.TreasurySuffix, To: wallet, Amount: amount,
				Reference: reference(tx.PmtID.EndToEndID, tx.RmtInf), IdempotencyKey: idemKey(role, h.msgID, pk)})
			if err != nil {
				code, ok := reasonOf(err)
				if !ok {
					return err
				}
				rej = reject(code, err.Error())
			} else {
				r.status, r.ref = StatusSettled, res.TxID.String()[:35]
				out.credits[tx.PmtID.EndToEndID] = credit{Wallet: wallet, Amount: amount, TxID: res.TxID.String(), DbtrAgt: tx.DbtrAgt.BIC(), UETR: tx.PmtID.UETR}
			}
		}
		if rej != nil {
			r.status, r.reason, r.text = StatusRejected, rej.Code, rej.Text
			if rej.Code != ReasonDuplicate && bad == nil {
				// Money that arrived and cannot be credited goes back.
				returns = append(returns, g.returnOf(h.msgID, Pacs008, tx.PmtID, tx.IntrBkSttlmAmt, rej))
			}
		}
		if rej == nil { // only what was applied: a refused payment may come again
			out.pmtKeys = append(out.pmtKeys, pk)
		}
		seen[pk] = true
		txs = append(txs, r)
	}
	a, err := g.statusAnswer(role, Pacs008, h, hash, txs, groupStatus(txs, StatusSettled), "", "")
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

// returnOf is one payment returned with its reason.
func (g *Gateway) returnOf(msgID, msgName string, id PmtID, amt Amt, why *Rejection) RtrTx {
	a := amt
	return RtrTx{
		RtrID:               answerID("RTR", msgID, id.EndToEndID),
		OrgnlGrpInf:         &OrgnlGrpInf{OrgnlMsgID: msgID, OrgnlMsgNmID: msgName},
		OrgnlEndToEndID:     id.EndToEndID,
		OrgnlTxID:           id.TxID,
		OrgnlUETR:           id.UETR,
		OrgnlIntrBkSttlmAmt: &a,
		RtrdIntrBkSttlmAmt:  amt,
		IntrBkSttlmDt:       isoDate(g.cfg.Now()),
		ChrgBr:              "SLEV",
		RtrRsnInf:           reasonInfo(why.Code, why.Text),
	}
}

// returnMessage is the pacs.004 returning txs of message msgID.
func (g *Gateway) returnMessage(role, msgID string, txs []RtrTx) (Produced, error) {
	id := answerID(Pacs004, role, msgID, txs[0].OrgnlEndToEndID)
	now := g.cfg.Now()
	m := &Pacs004Doc{}
	m.Msg.GrpHdr = GrpHdr90{MsgID: id, CreDtTm: isoTime(now), NbOfTxs: itoa(len(txs)), IntrBkSttlmDt: isoDate(now), SttlmInf: SttlmInf{SttlmMtd: "CLRG"}}
	m.Msg.TxInf = txs
	b, err := Encode(m)
	if err != nil {
		return Produced{}, errcode.New(errcode.Internal, "%v", err)
	}
	return Produced{MsgID: id, Kind: Pacs004, Created: now, XML: b}, nil
}
