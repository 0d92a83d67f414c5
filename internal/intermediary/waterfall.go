package intermediary

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// The waterfall (issue 9, section 3), between a wallet and its linked
// deposit account (accounts.go).
//
// Forward: a payment that would take a wallet over its holding limit pays
// the wallet up to the limit and the rest to the payee intermediary's
// treasury, in the same transaction (limits.go decides the split: under
// the payee's lock here, in ReceiveFor for a payer elsewhere); when the
// transaction is applied (here) or delivered with its memo (from
// elsewhere) the treasury's part is credited to the account. The
// intermediary keeps those notes and redeems them as it sees fit: the
// customer now holds bank money.
//
// Reverse: a payment larger than the wallet's balance draws the
// difference from its linked account: the intermediary pays that part
// from its treasury, whose notes are inputs of the same ledger
// transaction as the wallet's (both keys sign it). One transaction
// commits or fails as a whole, so the two parts cannot come apart; the
// draw is written to the account's history in the batch that reserves
// the notes and deleted by the batch that releases them if the payment
// never commits.
//
// Sweep: once a day the wallets of a tier with SweepAbove pay what they
// hold above it to the treasury, credited to their linked account.

// errRetry asks reserve to look at the wallet again: its notes changed
// between two looks.
var errRetry = errors.New("wallet changed; look again")

// canDraw reports whether a payment from wallet ws, short of notes, may
// draw from a linked account: a payment (not a redemption) from a
// customer wallet with one.
func (in *Intermediary) canDraw(ws *walletState, pend *pendingRec) bool {
	if pend.Kind != kindPay {
		return false
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.prof != nil && ws.prof.Account != ""
}

// reserveDraw is tryReserve for a payment that draws what wallet w lacks
// from its linked account: every free note of the wallet and enough of
// the treasury's, under both wallets' locks (taken in ID order, as
// commitIndexed takes them). build makes the transaction as for the
// wallet alone; the change, which build gives the wallet, is the
// treasury's (the wallet's notes are all spent).
func (in *Intermediary) reserveDraw(ws *walletState, w *walletRec, key crypto.Signer, amount uint64, pend *pendingRec,
	build func(inputs []money.Note, sum uint64) *money.Tx) (*money.Tx, money.TxID, error) {
	tid := in.Treasury()
	_, tkey, err := in.signer(tid)
	if err != nil {
		return nil, money.TxID{}, err
	}
	tws := in.walletState(tid)
	first, second := ws, tws
	if tid < w.ID {
		first, second = tws, ws
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	second.mu.Lock()
	defer second.mu.Unlock()

	pend.Created = in.now()
	counted, err := in.admitSpend(ws, w.ID, pend)
	if err != nil {
		return nil, money.TxID{}, err
	}
	prof := ws.prof
	if prof == nil || prof.Account == "" {
		return nil, money.TxID{}, errRetry // unlinked meanwhile
	}
	notes, err := in.walletNotes(ws, w.ID)
	if err != nil {
		return nil, money.TxID{}, err
	}
	var own []money.Note
	var have uint64
	for _, n := range notes {
		if n.State == stateUnspent {
			own = append(own, n.Note)
			have = addSat(have, n.Note.Value)
		}
	}
	if have >= amount {
		return nil, money.TxID{}, errRetry // change came back meanwhile
	}
	draw := amount - have
	_, bal, err := in.accountHistory(prof.Account)
	if err != nil {
		return nil, money.TxID{}, err
	}
	cur := in.cfg.Network.Currency
	if bal < draw {
		return nil, money.TxID{}, errcode.New(errcode.InsufficientFunds, "available %s %s in the wallet and %s %s in its linked account %s is less than %s",
			cur.Format(have), cur.Code, cur.Format(bal), cur.Code, prof.Account, cur.Format(amount))
	}
	if err := in.loadNotes(tws, tid); err != nil {
		return nil, money.TxID{}, err
	}
	tin, tsum, err := selectNotes(tws.notes, draw, cur)
	if err != nil {
		in.log.Warn("the treasury cannot pay a draw from a linked account", "wallet", w.ID, "draw", draw, "err", err)
		return nil, money.TxID{}, errcode.New(errcode.Unavailable, "%s cannot pay %s from the account %s right now: its treasury is short; retry later",
			in.cfg.Name, cur.Format(draw), prof.Account)
	}
	if len(own)+len(tin) > money.MaxInputs {
		return nil, money.TxID{}, errcode.New(errcode.InsufficientFunds, "wallet %s holds %d notes: more than one payment may spend with its account", w.ID, len(own))
	}
	inputs := append(append([]money.Note{}, own...), tin...)
	tx := build(inputs, have+tsum)
	ownLock, tLock := money.KeyLock(key.Public()), money.KeyLock(tkey.Public())
	for i := range tx.Outputs {
		if tx.Outputs[i].Lock == ownLock {
			tx.Outputs[i].Lock = tLock
		}
	}
	tx.InputSigs = make([]money.Sig, len(tx.Inputs))
	if err := tx.Check(); err != nil {
		return nil, money.TxID{}, internalErr("build transaction", err)
	}
	txid := in.cfg.Network.TxID(tx)
	if err := in.signInputs(tx, txid, func(i int) crypto.Signer {
		if i >= len(own) {
			return tkey
		}
		return key
	}); err != nil {
		return nil, money.TxID{}, errcode.New(errcode.Unavailable, "%s cannot sign right now: %v", in.cfg.Name, err)
	}
	pend.PayerAccount, pend.FromAccount = prof.Account, draw
	if pend.Tx, err = tx.MarshalBinary(); err != nil {
		return nil, money.TxID{}, internalErr("encode transaction", err)
	}

	b := in.db.NewBatch() // the pending record reserves the inputs (notes.go)
	if counted {
		b.Set(spendKey(w.ID, pend.Created.UnixNano(), txid), binary.BigEndian.AppendUint64(nil, pend.Amount))
	}
	e := roles.AccountEntry{TxID: txid, Direction: "out", Amount: draw, Time: pend.Created,
		Reference: fmt.Sprintf("paid with wallet %s to %s: the wallet held %s", w.ID, pend.To, cur.Format(have))}
	if err := setAccountEntry(b, prof.Account, e); err != nil {
		b.Discard()
		return nil, money.TxID{}, internalErr("account entry", err)
	}
	if err := in.putPending(b, pend, txid); err != nil {
		b.Discard()
		return nil, money.TxID{}, err
	}
	in.takeoff(txid, w.ID)
	if err := b.Commit(true); err != nil {
		in.landed(txid)
		return nil, money.TxID{}, internalErr("reserve notes", err)
	}
	for i, n := range inputs {
		s := ws
		if i >= len(own) {
			s = tws
		}
		s.notes[idOf(n)] = noteRec{Note: n, State: stateReserved, For: txid}
	}
	if counted {
		ws.win.spend(pend.Created.UnixNano(), pend.Amount)
	}
	in.log.Debug("payment draws from the linked account", "wallet", w.ID, "account", prof.Account, "draw", draw, "txid", txid)
	return tx, txid, nil
}

// putPending adds to b the pending record of txid and, with an
// idempotency key, its pending idempotency record.
func (in *Intermediary) putPending(b *store.Batch, pend *pendingRec, txid money.TxID) error {
	if pend.RefundOf != (money.TxID{}) {
		if err := in.claimRefund(b, pend, txid); err != nil {
			return err
		}
	}
	pv, err := recBytes(pend)
	if err != nil {
		return internalErr("pending record", err)
	}
	b.Set(pendingKey(txid), pv)
	if pend.IdemKey != "" {
		iv, err := recBytes(pendingIdem(pend, txid))
		if err != nil {
			return internalErr("idempotency record", err)
		}
		if err := in.idemCreating(pend.IdemKey); err != nil {
			return err
		}
		b.Set(idemKey(pend.IdemKey), iv)
		b.Set(idemExpiryKey(pend.Created.UnixNano(), pend.IdemKey), nil)
	}
	return nil
}

// applyWaterfall adds to b, as applyInto applies the payment pend (ours)
// or a delivered one with its memo, the account side of a waterfall: the
// part paid to the treasury for a wallet's linked account is credited to
// it. The draw of a reverse waterfall was written when it was reserved.
func (in *Intermediary) applyWaterfall(b *store.Batch, txid money.TxID, pend *pendingRec, memo *roles.Memo, toTreasury uint64, now time.Time) error {
	switch {
	case pend != nil && pend.ToAccount > 0:
		e := roles.AccountEntry{TxID: txid, Direction: "in", Amount: pend.ToAccount, Time: now,
			Reference: fmt.Sprintf("from %s to wallet %s, over its holding limit", pend.From, pend.To)}
		if pend.To == in.Treasury() {
			e.Reference = fmt.Sprintf("swept from wallet %s", pend.From)
		}
		return setAccountEntry(b, pend.PayeeAccount, e)
	case pend == nil && memo != nil && toTreasury > 0 && roles.IntermediaryOf(memo.To) == in.cfg.Name && memo.To != in.Treasury():
		account, err := in.linkedAccount(memo.To)
		if err != nil || account == "" {
			return err
		}
		e := roles.AccountEntry{TxID: txid, Direction: "in", Amount: toTreasury, Time: now,
			Reference: fmt.Sprintf("from %s to wallet %s, over its holding limit", memo.From, memo.To)}
		return setAccountEntry(b, account, e)
	}
	return nil
}

// undraw adds to b the release of the draw of payment pend, txid, that
// never committed.
func undraw(b *store.Batch, txid money.TxID, pend *pendingRec) {
	if pend.FromAccount > 0 && pend.PayerAccount != "" {
		b.Delete(accountHistoryKey(pend.PayerAccount, pend.Created.UnixNano(), txid, "out"))
	}
}

// sweepKey remembers the day of the last sweep (Unix nanoseconds of its
// start in Config.Location).
var sweepKey = []byte("m/sweep")

// sweep pays, once a day, what each wallet of a swept tier (SweepAbove)
// holds above it to the treasury, credited to its linked account. A
// wallet without a linked account keeps its balance (logged).
func (in *Intermediary) sweep(ctx context.Context) {
	day, _ := in.windows(in.cfg.Now())
	if v, err := in.db.Get(sweepKey); err == nil && len(v) == 8 && int64(binary.BigEndian.Uint64(v)) >= day.UnixNano() {
		return
	}
	n, err := in.SweepNow(ctx)
	if err != nil {
		in.log.Warn("daily sweep", "swept", n, "err", err)
		return
	}
	b := in.db.NewBatch()
	b.Set(sweepKey, binary.BigEndian.AppendUint64(nil, uint64(day.UnixNano())))
	if err := b.Commit(true); err != nil {
		in.log.Warn("daily sweep not recorded; it runs again", "err", err)
	}
}

// SweepNow sweeps every wallet of a swept tier now, and returns how many
// paid into their accounts. The background loop calls it once a day.
func (in *Intermediary) SweepNow(ctx context.Context) (int, error) {
	pol := in.policy()
	type sw struct {
		id      string
		account string
		keep    uint64
	}
	var todo []sw
	err := in.db.Scan([]byte(pProfile), nil, func(k, v []byte) error {
		var p profileRec
		if err := decodeRec(v, &p); err != nil {
			return err
		}
		t, ok := pol.Tier(p.Tier)
		if !ok || t.SweepAbove == 0 || p.State != roles.WalletActive {
			return nil
		}
		id := string(k[len(pProfile):])
		if p.Account == "" {
			in.log.Warn("wallet of a swept tier has no linked account; nothing swept", "wallet", id)
			return nil
		}
		todo = append(todo, sw{id: id, account: p.Account, keep: t.SweepAbove})
		return nil
	})
	if err != nil {
		return 0, internalErr("sweep", err)
	}
	n := 0
	var errs []error
	for _, s := range todo {
		w, err := in.wallet(s.id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if w.Balance <= s.keep {
			continue
		}
		excess := w.Balance - s.keep
		pend := pendingRec{Kind: kindPay, From: s.id, To: in.Treasury(), Amount: excess,
			Reference: "daily sweep to account " + s.account, PayeeAccount: s.account, ToAccount: excess}
		if _, err := in.payPending(ctx, &pend); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.id, err))
			continue
		}
		in.log.Info("swept to the linked account", "wallet", s.id, "account", s.account, "amount", excess)
		n++
	}
	return n, errors.Join(errs...)
}

// linkedAccount is the deposit account wallet id is linked to, or "".
func (in *Intermediary) linkedAccount(id string) (string, error) {
	ws := in.walletState(id)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	prof, err := in.profileLocked(ws, id)
	if err != nil || prof == nil {
		return "", err
	}
	return prof.Account, nil
}
