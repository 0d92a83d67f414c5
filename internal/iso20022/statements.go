package iso20022

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/roles"
)

// booked is one movement of an account, whichever books it comes from
// (an intermediary's wallet history, the issuer's reserve journal).
type booked struct {
	ref          string // the ledger txid, or the funding reference
	credit       bool
	amount       uint64
	at           time.Time
	counterparty string
	info         string // the payment reference
	kind         string // for reserves: funding, mint, redeem
}

// ParseDay reads a statement date, YYYY-MM-DD, as that UTC day.
func ParseDay(s string) (time.Time, error) {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, errcode.New(errcode.Malformed, "date %q: want YYYY-MM-DD", s)
	}
	return d, nil
}

// accountDay reads account's movements on day (UTC) with its opening and
// closing booked balances: for the issuer an intermediary's reserve
// account, for an intermediary one of its wallets.
func (g *Gateway) accountDay(ctx context.Context, role, account string, day time.Time) (opening, closing uint64, es []booked, err error) {
	from, to := day, day.Add(24*time.Hour)
	if role == RoleIssuer {
		ctx = roles.WithCaller(ctx, roles.Principal{Name: RoleIssuer, Role: roles.RoleIssuer})
		opening, closing, js, err := g.cfg.Issuer.ReserveJournal(ctx, account, from, to)
		if err != nil {
			return 0, 0, nil, err
		}
		for _, e := range js {
			es = append(es, booked{ref: e.Ref, credit: e.Credit, amount: e.Amount, at: e.Time, info: "reserve " + e.Kind, kind: e.Kind})
		}
		return opening, closing, es, nil
	}
	in := g.cfg.Intermediaries[role]
	ctx = roles.WithCaller(ctx, roles.Principal{Name: role, Role: roles.RoleIntermediary})
	// The history and the balance are read separately; a payment landing
	// between the two reads would be counted in one and not the other, so
	// read until two balances agree around the history.
	for range 5 {
		w, err := in.Wallet(ctx, account)
		if err != nil {
			return 0, 0, nil, err
		}
		hist, err := in.History(ctx, account)
		if err != nil {
			return 0, 0, nil, err
		}
		w2, err := in.Wallet(ctx, account)
		if err != nil {
			return 0, 0, nil, err
		}
		if w.Balance+w.Pending != w2.Balance+w2.Pending {
			continue
		}
		// Unwind from the balance now: every entry from the start of the
		// day on is taken back to find the opening balance.
		bal := w.Balance + w.Pending
		es = es[:0]
		var after int64 // signed sum of movements at or after to
		var during int64
		for _, h := range hist {
			v := int64(h.Amount)
			if h.Direction != "in" {
				v = -v
			}
			switch {
			case h.Time.Before(from):
			case h.Time.Before(to):
				during += v
				es = append(es, booked{ref: h.TxID.String(), credit: h.Direction == "in", amount: h.Amount, at: h.Time, counterparty: h.Counterparty, info: h.Reference})
			default:
				after += v
			}
		}
		closing = uint64(int64(bal) - after)
		opening = uint64(int64(closing) - during)
		return opening, closing, es, nil
	}
	return 0, 0, nil, errcode.New(errcode.Unavailable, "wallet %s kept changing while its statement was read; try again", account)
}

// account is the reported account, serviced by role.
func (g *Gateway) stmtAccount(role, account string) StmtAccount {
	a := StmtAccount{ID: AcctID{Othr: &OtherAcctID{ID: account}}, Ccy: g.cfg.Currency.Code}
	if role == RoleIssuer {
		a.Svcr = agentOr(g.cfg.BIC, "Central bank")
	} else {
		a.Svcr = agentOr(g.cfg.BICs[role], role)
	}
	return a
}

// entryOf is the ISO entry of one movement.
func (g *Gateway) entryOf(e booked) Entry {
	ind, fam := "DBIT", "ICDT"
	if e.credit {
		ind, fam = "CRDT", "RCDT"
	}
	dom := &BkTxDomain{Cd: "PMNT"}
	dom.Fmly.Cd, dom.Fmly.SubFmlyCd = fam, "DMCT"
	ref := e.ref
	if len(ref) > 35 {
		ref = ref[:35]
	}
	amt := FormatAmount(g.cfg.Currency, e.amount)
	d := TxDetail{Refs: &TxRefs{AcctSvcrRef: ref}, Amt: &amt, CdtDbtInd: ind}
	if e.info != "" {
		d.RmtInf = &RmtInf{Ustrd: []string{cut(e.info, 140)}}
	}
	if e.counterparty != "" {
		d.AddtlTxInf = cut("counterparty "+e.counterparty, 500)
	}
	at := &DateChoice{DtTm: isoTime(e.at)}
	return Entry{NtryRef: ref, Amt: amt, CdtDbtInd: ind, Sts: EntryStatus{Cd: "BOOK"}, BookgDt: at, ValDt: at,
		AcctSvcrRef: ref, BkTxCd: BkTxCd{Domn: dom}, NtryDtls: []EntryDetail{{TxDtls: []TxDetail{d}}}}
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

func (g *Gateway) balance(code string, v uint64, day time.Time) Balance {
	b := Balance{Amt: FormatAmount(g.cfg.Currency, v), CdtDbtInd: "CRDT", Dt: DateChoice{Dt: isoDate(day)}}
	b.Tp.CdOrPrtry.Cd = code
	return b
}

// Statement is the camt.053 of account (a wallet of intermediary role, or
// for the issuer an intermediary's reserve account) for one UTC day: the
// opening and closing booked balances (OPBD, CLBD), equal to the books',
// and every entry between.
func (g *Gateway) Statement(ctx context.Context, role, account string, day time.Time) ([]byte, error) {
	if err := g.authorize(ctx, role); err != nil {
		return nil, err
	}
	opening, closing, es, err := g.accountDay(ctx, role, account, day)
	if err != nil {
		return nil, err
	}
	id := answerID(Camt053, role, account, isoDate(day))
	st := Statement{ID: id, CreDtTm: isoTime(g.cfg.Now()),
		FrToDt: &Period{FrDtTm: isoTime(day), ToDtTm: isoTime(day.Add(24*time.Hour - time.Millisecond))},
		Acct:   g.stmtAccount(role, account),
		Bal:    []Balance{g.balance("OPBD", opening, day), g.balance("CLBD", closing, day)}}
	var cn, dn int
	var cs, ds uint64
	for _, e := range es {
		st.Ntry = append(st.Ntry, g.entryOf(e))
		if e.credit {
			cn, cs = cn+1, cs+e.amount
		} else {
			dn, ds = dn+1, ds+e.amount
		}
	}
	st.TxsSummry = &TxsSummry{
		TtlNtries:    &NumSum{NbOfNtries: itoa(cn + dn), Sum: g.cfg.Currency.Format(cs + ds)},
		TtlCdtNtries: &NumSum{NbOfNtries: itoa(cn), Sum: g.cfg.Currency.Format(cs)},
		TtlDbtNtries: &NumSum{NbOfNtries: itoa(dn), Sum: g.cfg.Currency.Format(ds)},
	}
	m := &Camt053Doc{}
	m.Msg.GrpHdr = GrpHdr81{MsgID: id, CreDtTm: isoTime(g.cfg.Now())}
	m.Msg.Stmt = []Statement{st}
	b, err := Encode(m)
	if err != nil {
		return nil, errcode.New(errcode.Internal, "%v", err)
	}
	return b, nil
}

// notification is the camt.054 of one booked entry.
func (g *Gateway) notification(role, account string, e booked, now string) *Camt054Doc {
	id := answerID(Camt054, role, account, e.ref, e.at.String())
	m := &Camt054Doc{}
	m.Msg.GrpHdr = GrpHdr81{MsgID: id, CreDtTm: now}
	m.Msg.Ntfctn = []Notification{{ID: id, CreDtTm: now, Acct: g.stmtAccount(role, account), Ntry: []Entry{g.entryOf(e)}}}
	return m
}

// Notifications are the camt.054s of account's entries booked on day, one
// per entry, oldest first.
func (g *Gateway) Notifications(ctx context.Context, role, account string, day time.Time) ([][]byte, error) {
	if err := g.authorize(ctx, role); err != nil {
		return nil, err
	}
	_, _, es, err := g.accountDay(ctx, role, account, day)
	if err != nil {
		return nil, err
	}
	now := isoTime(g.cfg.Now())
	out := make([][]byte, 0, len(es))
	for _, e := range es {
		b, err := Encode(g.notification(role, account, e, now))
		if err != nil {
			return nil, errcode.New(errcode.Internal, "%v", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// Messages lists the messages the gateway produced for role on day (UTC):
// pacs.004 returns, outgoing pacs.008 pay-outs and, for the issuer, the
// pacs.009 of each redemption.
func (g *Gateway) Messages(ctx context.Context, role string, day time.Time) ([]Produced, error) {
	if err := g.authorize(ctx, role); err != nil {
		return nil, err
	}
	if role == RoleIssuer {
		if err := g.produceRedemptions(ctx, day, day.Add(24*time.Hour)); err != nil {
			return nil, err
		}
	}
	var ids []string
	prefix := gkey(prefDay, role, isoDate(day))
	prefix = append(prefix, 0)
	err := g.db.Scan(prefix, nil, func(k, _ []byte) error {
		ids = append(ids, string(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return nil, storeErr(err, "list messages")
	}
	out := make([]Produced, 0, len(ids))
	for _, id := range ids {
		p, err := g.produced(role, id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Message is one produced message by its MsgId.
func (g *Gateway) Message(ctx context.Context, role, id string) (Produced, error) {
	if err := g.authorize(ctx, role); err != nil {
		return Produced{}, err
	}
	return g.produced(role, id)
}

func (g *Gateway) produced(role, id string) (Produced, error) {
	v, err := g.db.Get(gkey(prefOut, role, id))
	if errors.Is(err, store.ErrNotFound) {
		return Produced{}, errcode.New(errcode.NotFound, "no message %s produced for %s", id, role)
	}
	if err != nil {
		return Produced{}, storeErr(err, "read message %s", id)
	}
	var p Produced
	if err := json.Unmarshal(v, &p); err != nil {
		return Produced{}, errcode.New(errcode.Internal, "decode message %s: %v", id, err)
	}
	return p, nil
}
