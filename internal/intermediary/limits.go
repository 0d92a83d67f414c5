package intermediary

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Limits of the policy on the pay path (issue 9, section 2).
//
// The payer's side (state, per-payment, daily and monthly outgoing limits)
// is decided in admitSpend, under the payer's wallet lock, in the same
// critical section that reserves the payment's notes: two payments from
// one wallet cannot both pass when together they break a limit. A payment
// that passes is counted by a spend record written in the reserve batch
// (already synced for the pending record: no extra fsync), and in memory
// in walletState.win. Releasing a spend that never committed (unreserve)
// deletes its spend record in its own batch and takes it out of the
// window, so a rejected payment consumes nothing. After a restart the
// windows are rebuilt from the spend records, read once per wallet and
// window.
//
// Windows are calendar days and months in Config.Location, by the time the
// payment was reserved (Config.Now).
//
// The payee's side (state, holding limit) is decided in admitIncoming for
// a wallet here, under the payee's wallet lock, before the payer's lock is
// taken (never both at once): the amount is held in walletState.incoming
// until the payment is credited or fails, so concurrent payments to one
// wallet cannot together take it over its limit. For a wallet at another
// intermediary, the payer asks it with ReceiveFor, which checks the same
// and places a hold on the wallet's capacity (holds.go) until the payment
// is delivered, released or the hold expires. A delivery without a live
// hold (expired, a peer without holds, a restart here in between) is
// credited anyway (the money is committed) and checked again
// (overLimit): a linked wallet's excess goes into its account, any other
// breach is logged.
// The incoming of a payment between two wallets here ends when the
// payment call returns, also when its outcome is unknown (the ledger did
// not answer): a payment settled later is credited like a delivery, past
// the check.

// s/<wallet>\x00<nanos u64 BE><txid>   amount u64 BE: an outgoing payment, counted in the windows of its reservation time
const pSpend = "s/"

func spendPrefix(id string) []byte {
	k := append([]byte(pSpend), id...)
	return append(k, 0)
}

func spendKey(id string, nanos int64, txid money.TxID) []byte {
	k := binary.BigEndian.AppendUint64(spendPrefix(id), uint64(nanos))
	return append(k, txid[:]...)
}

// spendWindow is what a wallet paid out in its current day and month.
type spendWindow struct {
	loaded   bool
	day      int64 // start of the day, Unix nanoseconds
	month    int64 // start of the month
	dayOut   uint64
	monthOut uint64
}

// spendAdj takes a released spend out of its wallet's window.
type spendAdj struct {
	at     int64
	amount uint64
}

// windows returns the starts of the day and the month at falls in, in
// the intermediary's time zone.
func (in *Intermediary) windows(at time.Time) (day, month time.Time) {
	l := at.In(in.cfg.Location)
	y, m, d := l.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, in.cfg.Location), time.Date(y, m, 1, 0, 0, 0, 0, in.cfg.Location)
}

// windowLocked brings ws.win to the windows of at, reading the wallet's
// spend records when they changed. The caller holds ws.mu.
func (in *Intermediary) windowLocked(ws *walletState, id string, at time.Time) error {
	day, month := in.windows(at)
	if ws.win.loaded && ws.win.day == day.UnixNano() && ws.win.month == month.UnixNano() {
		return nil
	}
	w := spendWindow{loaded: true, day: day.UnixNano(), month: month.UnixNano()}
	next := month.AddDate(0, 1, 0).UnixNano()
	p := spendPrefix(id)
	err := in.db.Scan(p, spendKey(id, w.month, money.TxID{}), func(k, v []byte) error {
		if len(k) != len(p)+8+32 || len(v) != 8 {
			return errcode.New(errcode.Internal, "spend record of %d+%d bytes", len(k), len(v))
		}
		at := int64(binary.BigEndian.Uint64(k[len(p):]))
		if at >= next {
			return nil
		}
		amount := binary.BigEndian.Uint64(v)
		w.monthOut = addSat(w.monthOut, amount)
		if at >= w.day {
			w.dayOut = addSat(w.dayOut, amount)
		}
		return nil
	})
	if err != nil {
		return internalErr("outgoing limits of "+id, err)
	}
	ws.win = w
	return nil
}

// unspend takes a released spend out of the window it was counted in.
func (w *spendWindow) unspend(a spendAdj) {
	if !w.loaded {
		return
	}
	if a.at >= w.month {
		w.monthOut -= min(w.monthOut, a.amount)
	}
	if a.at >= w.day {
		w.dayOut -= min(w.dayOut, a.amount)
	}
}

// admitSpend decides the payer's side of the payment pend from wallet id
// (state, per-payment, daily and monthly limits) and reports whether it
// counts in the windows. The caller holds ws.mu and, when it is admitted,
// writes spendKey with the reservation and then calls ws.win.spend.
func (in *Intermediary) admitSpend(ws *walletState, id string, pend *pendingRec) (bool, error) {
	if pend.Kind != kindPay && pend.Kind != kindReserve { // a reservation is admitted as a payment of its amount
		return false, nil
	}
	if pend.To == in.Treasury() && pend.ToAccount == pend.Amount {
		// The wallet's money into its own linked account (the sweep, a
		// late waterfall): the intermediary's doing, not a payment out.
		return false, nil
	}
	prof, err := in.profileLocked(ws, id)
	if err != nil || prof == nil {
		return false, err
	}
	if err := stateErr(id, prof.State, true); err != nil {
		return false, err
	}
	t, ok := in.policy().Tier(prof.Tier)
	if !ok {
		return false, in.missingTier(id, prof.Tier)
	}
	amount, f := pend.Amount, in.fmtAmount
	if t.PerPayment != 0 && amount > t.PerPayment {
		return false, errcode.New(errcode.LimitExceeded, "per-payment limit %s exceeded: %s asked, at most %s in one payment",
			f(t.PerPayment), f(amount), f(t.PerPayment))
	}
	if t.Daily == 0 && t.Monthly == 0 {
		return true, nil
	}
	if err := in.windowLocked(ws, id, pend.Created); err != nil {
		return false, err
	}
	if t.Daily != 0 && addSat(ws.win.dayOut, amount) > t.Daily {
		return false, errcode.New(errcode.LimitExceeded, "daily outgoing limit %s reached: %s left today",
			f(t.Daily), f(t.Daily-min(t.Daily, ws.win.dayOut)))
	}
	if t.Monthly != 0 && addSat(ws.win.monthOut, amount) > t.Monthly {
		return false, errcode.New(errcode.LimitExceeded, "monthly outgoing limit %s reached: %s left this month",
			f(t.Monthly), f(t.Monthly-min(t.Monthly, ws.win.monthOut)))
	}
	return true, nil
}

// spend counts an admitted payment reserved at at in the window, which
// admitSpend loaded for at (or left unloaded: then the store is read
// next time, the spend record among the rest).
func (w *spendWindow) spend(at int64, amount uint64) {
	if !w.loaded || at < w.month {
		return
	}
	w.monthOut = addSat(w.monthOut, amount)
	if at >= w.day {
		w.dayOut = addSat(w.dayOut, amount)
	}
}

// incoming is how a payment to a wallet here is credited: all of it to
// the wallet, or, over its holding limit, toAccount of it to its linked
// deposit account (the waterfall).
type incoming struct {
	account   string
	toAccount uint64
}

// admitIncoming decides the payee's side of a payment of amount to
// wallet id here (state, holding limit, waterfall) and holds the wallet's
// part as incoming until release is called (once the payment is credited,
// or failed).
func (in *Intermediary) admitIncoming(id string, amount uint64) (release func(), split incoming, err error) {
	noop := func() {}
	ws := in.walletState(id)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	limit, split, err := in.checkIncomingLocked(ws, id, amount)
	if err != nil || limit == 0 {
		return noop, split, err
	}
	held := amount - split.toAccount
	ws.incoming += held
	return func() {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		ws.incoming -= min(ws.incoming, held)
	}, split, nil
}

// checkIncomingLocked refuses a payment of amount to wallet id that is not
// active, or that would take it over its holding limit (returned; 0: none)
// unless it is linked to a deposit account, which then takes the excess.
// The caller holds ws.mu.
func (in *Intermediary) checkIncomingLocked(ws *walletState, id string, amount uint64) (uint64, incoming, error) {
	prof, err := in.profileLocked(ws, id)
	if err != nil || prof == nil {
		return 0, incoming{}, err
	}
	if err := stateErr(id, prof.State, false); err != nil {
		return 0, incoming{}, err
	}
	t, ok := in.policy().Tier(prof.Tier)
	if !ok {
		return 0, incoming{}, in.missingTier(id, prof.Tier)
	}
	limit := holdingLimit(t, prof)
	if limit == 0 {
		return 0, incoming{}, nil
	}
	held, err := in.heldLocked(ws, id)
	if err != nil {
		return 0, incoming{}, err
	}
	held = addSat(held, in.heldForPeersLocked(ws)) // payments announced from elsewhere (holds.go)
	if addSat(held, amount) <= limit {
		return limit, incoming{}, nil
	}
	room := limit - min(limit, held)
	if prof.Account == "" {
		return 0, incoming{}, errcode.New(errcode.LimitExceeded, "holding limit %s of wallet %s reached: %s left to receive",
			in.fmtAmount(limit), id, in.fmtAmount(room))
	}
	return limit, incoming{account: prof.Account, toAccount: amount - room}, nil
}

// missingTier refuses payments of a wallet whose tier the policy in force
// no longer has: nothing says what it may do until staff move it.
func (in *Intermediary) missingTier(id string, level int) error {
	return errcode.New(errcode.LimitExceeded, "wallet %s is at tier %d, which policy version %d does not have: move it to a tier first",
		id, level, in.policy().Version)
}

// ReceiveFor is ReceiveLock for a payment of amount: it refuses
// (errcode.Blocked, errcode.LimitExceeded) a wallet that may not receive
// it, before the payer signs anything, and splits off to the treasury
// what the wallet's linked account takes (the waterfall; credited to the
// account when the payment is delivered with its memo). Under a holding
// limit it holds the wallet's part of the amount until the payment is
// delivered with the returned plan's Hold in its memo, the caller
// releases it (ReleaseHold) or Config.HoldTTL passes (holds.go). It
// implements roles.AmountReceiver.
func (in *Intermediary) ReceiveFor(ctx context.Context, id string, amount uint64) (roles.ReceivePlan, error) {
	if err := in.enter(); err != nil {
		return roles.ReceivePlan{}, err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return roles.ReceivePlan{}, err
	}
	if roles.IntermediaryOf(id) != in.cfg.Name {
		return roles.ReceivePlan{}, errcode.New(errcode.NotFound, "no wallet %s at %s", id, in.cfg.Name)
	}
	if amount == 0 {
		return roles.ReceivePlan{}, errcode.New(errcode.Malformed, "amount must be positive")
	}
	if err := in.screenReceiver(id); err != nil { // a listed payee gets no lock
		return roles.ReceivePlan{}, err
	}
	l, err := in.receiveLock(id)
	if err != nil {
		return roles.ReceivePlan{}, err
	}
	caller, _ := roles.Caller(ctx)
	split, holdID, err := func() (incoming, string, error) {
		ws := in.walletState(id)
		ws.mu.Lock()
		defer ws.mu.Unlock()
		limit, split, err := in.checkIncomingLocked(ws, id, amount)
		if err != nil || limit == 0 || amount == split.toAccount {
			return split, "", err
		}
		h, err := in.placeHoldLocked(ws, id, caller.Name, amount-split.toAccount)
		return split, h, err
	}()
	if err != nil {
		return roles.ReceivePlan{}, err
	}
	plan := roles.ReceivePlan{Lock: l, Hold: holdID}
	if split.toAccount > 0 {
		if plan.OverflowLock, err = in.receiveLock(in.Treasury()); err != nil {
			in.dropHold(id, holdID, caller.Name)
			return roles.ReceivePlan{}, err
		}
		plan.Overflow = split.toAccount
		if plan.Overflow == amount {
			plan.Lock = plan.OverflowLock // nothing for the wallet itself
		}
	}
	return plan, nil
}

// receivable refuses a lock for a wallet that receives nothing (frozen,
// closed), whatever the amount.
func (in *Intermediary) receivable(id string) error {
	ws := in.walletState(id)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	prof, err := in.profileLocked(ws, id)
	if err != nil || prof == nil {
		return err
	}
	return stateErr(id, prof.State, false)
}

// peerPlan asks peer how to pay wallet id amount: with the amount, so it
// can check its holding limit and split off the waterfall, when it takes
// one.
func (in *Intermediary) peerPlan(ctx context.Context, peer roles.Intermediary, id string, amount uint64) (roles.ReceivePlan, error) {
	if ar, ok := peer.(roles.AmountReceiver); ok {
		plan, err := ar.ReceiveFor(in.asSelf(ctx), id, amount)
		if err == nil && plan.Overflow > amount {
			err = errcode.New(errcode.Internal, "intermediary %s split %d off a payment of %d", peer.Name(), plan.Overflow, amount)
		}
		return plan, err
	}
	l, err := peer.ReceiveLock(in.asSelf(ctx), id)
	return roles.ReceivePlan{Lock: l}, err
}

// overLimit checks, after a delivery from another intermediary, the
// wallets it credited: possible over their holding limit only when the
// payer's intermediary did not ask with the amount, or asked before a
// concurrent payment landed. The money is committed on the ledger, so it
// is credited; then a wallet linked to a deposit account pays the excess
// into it at once (the waterfall, late), and one without is logged for
// the intermediary's staff, as is a credit to a frozen wallet.
func (in *Intermediary) overLimit(wallets []string) {
	for _, id := range wallets {
		excess, account, err := in.excess(id)
		if err != nil {
			in.log.Warn("delivery credited beyond the wallet's policy", "wallet", id, "err", err)
			continue
		}
		if excess == 0 {
			continue
		}
		if account == "" {
			in.log.Warn("delivery credited over the wallet's holding limit; it has no linked account", "wallet", id, "excess", excess)
			continue
		}
		if err := in.enter(); err != nil {
			return
		}
		go func() {
			defer in.exit()
			ctx, cancel := context.WithTimeout(in.workCtx, 30*time.Second)
			defer cancel()
			pend := pendingRec{Kind: kindPay, From: id, To: in.Treasury(), Amount: excess,
				Reference: "over the holding limit, to account " + account, PayeeAccount: account, ToAccount: excess}
			if _, err := in.payPending(ctx, &pend); err != nil {
				in.log.Warn("excess over the holding limit not moved to the linked account", "wallet", id, "excess", excess, "err", err)
				return
			}
			in.log.Info("excess over the holding limit moved to the linked account", "wallet", id, "account", account, "amount", excess)
		}()
	}
}

// excess is how much wallet id holds, spendable now, above its holding
// limit, and its linked account; an error for a wallet that may not
// receive at all (frozen, closed).
func (in *Intermediary) excess(id string) (uint64, string, error) {
	ws := in.walletState(id)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	prof, err := in.profileLocked(ws, id)
	if err != nil || prof == nil {
		return 0, "", err
	}
	if err := stateErr(id, prof.State, false); err != nil {
		return 0, "", err
	}
	t, ok := in.policy().Tier(prof.Tier)
	limit := holdingLimit(t, prof)
	if !ok || limit == 0 {
		return 0, "", nil
	}
	held, err := in.heldLocked(ws, id)
	if err != nil || held <= limit {
		return 0, "", err
	}
	var free uint64
	for _, n := range ws.notes {
		if n.State == stateUnspent {
			free = addSat(free, n.Note.Value)
		}
	}
	return min(held-limit, free), prof.Account, nil
}

// unspend adds to b the release of payment txid's spend record, if it
// has one, and to c the matching change of its wallet's window: a payment
// that never committed consumes no limit.
func (in *Intermediary) unspend(b interface{ Delete([]byte) }, txid money.TxID, pend *pendingRec, c *noteChanges) error {
	if pend.Kind != kindPay && pend.Kind != kindReserve {
		return nil
	}
	k := spendKey(pend.From, pend.Created.UnixNano(), txid)
	ok, err := in.db.Has(k)
	if err != nil || !ok {
		return err
	}
	b.Delete(k)
	c.undoSpend(pend.From, spendAdj{at: pend.Created.UnixNano(), amount: pend.Amount})
	return nil
}
