package intermediary

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Disputes. A payer disputes a payment it made at its own intermediary
// (OpenDispute), which hands the dispute to the merchant's intermediary
// (ExchangeDispute on the peer), retrying in the background until it is
// acknowledged, like a delivery. The merchant's intermediary resolves it:
// RejectDispute with a reason, or RefundDispute, which refunds the payment
// (refund.go) with an idempotency key of the dispute's own, so the money
// moves once however often it is asked, and a crash between the refund
// and the dispute's new state is finished by the next ask or by the
// background loop. The resolution is handed back to the payer's
// intermediary the same way. Both keep the dispute, so each side sees its
// state.
//
// Key layout:
//
//	dispute/<id>                   disputeRec (JSON)
//	disputew/<wallet>\x00<id>      empty: the disputes a wallet here is a side of
//	disputet/<txid>                dispute id: the dispute of a payment (one each)
//	disputeq/<id>                  empty: the dispute has work left (hand it over, finish its refund)
const (
	pDispute       = "dispute/"
	pDisputeWallet = "disputew/"
	pDisputeTx     = "disputet/"
	pDisputeQueue  = "disputeq/"
)

func disputeKey(id string) []byte { return append([]byte(pDispute), id...) }

func disputeWalletPrefix(wallet string) []byte {
	return append(append([]byte(pDisputeWallet), wallet...), 0)
}

func disputeWalletKey(wallet, id string) []byte { return append(disputeWalletPrefix(wallet), id...) }

func disputeTxKey(txid money.TxID) []byte { return append([]byte(pDisputeTx), txid[:]...) }

func disputeQueueKey(id string) []byte { return append([]byte(pDisputeQueue), id...) }

// disputeRec is a dispute as stored, with the work left on it.
type disputeRec struct {
	roles.Dispute
	// Unsent: the other intermediary has not acknowledged the dispute's
	// latest state.
	Unsent bool `json:"unsent,omitempty"`
	// Refunding is the amount of the refund the merchant asked for, set
	// before it is made and cleared when the dispute is refunded; the
	// refund's reference is RefundRef.
	Refunding uint64 `json:"refunding,omitempty"`
	RefundRef string `json:"refund_reference,omitempty"`
	// RefundTry numbers the refunds asked for: each has its own
	// idempotency key, so one the ledger or the policy definitely refused
	// (nothing moved) does not answer the next with its refusal.
	RefundTry int    `json:"refund_try,omitempty"`
	Attempts  int    `json:"attempts,omitempty"`
	LastErr   string `json:"last_error,omitempty"`
}

// pending reports whether the record has work left (disputeq).
func (r *disputeRec) pending() bool { return r.Unsent || (r.Refunding > 0 && !r.State.Final()) }

// disputeIdemPrefix starts the idempotency key of a dispute's refund.
const disputeIdemPrefix = "specie-dispute-refund:"

func checkText(field, s string, minLen, maxLen int) error {
	switch {
	case len(s) < minLen:
		return errcode.New(errcode.Malformed, "%s: required", field)
	case len(s) > maxLen:
		return errcode.New(errcode.Malformed, "%s longer than %d bytes", field, maxLen)
	case !utf8.ValidString(s):
		return errcode.New(errcode.Malformed, "%s: invalid UTF-8", field)
	}
	return nil
}

// OpenDispute opens a dispute on a payment wallet r.Wallet made, and hands
// it to the merchant's intermediary (at once when the merchant's wallet
// is here). It implements roles.DisputeDesk.
func (in *Intermediary) OpenDispute(ctx context.Context, r roles.DisputeRequest) (roles.Dispute, error) {
	if err := in.enter(); err != nil {
		return roles.Dispute{}, err
	}
	defer in.exit()
	if err := in.readable(ctx, r.Wallet); err != nil {
		return roles.Dispute{}, err
	}
	if r.TxID == (money.TxID{}) {
		return roles.Dispute{}, errcode.New(errcode.Malformed, "txid: required")
	}
	if err := errors.Join(checkText("reason", r.Reason, 1, roles.MaxDisputeReason), checkText("evidence", r.Evidence, 0, roles.MaxDisputeEvidence)); err != nil {
		return roles.Dispute{}, errcode.New(errcode.Malformed, "%v", err)
	}
	paid, found, err := in.historyLine(r.Wallet, r.TxID, "out")
	if err != nil {
		return roles.Dispute{}, err
	}
	if !found || paid.Counterparty == "" {
		return roles.Dispute{}, errcode.New(errcode.NotFound, "wallet %s made no payment %s", r.Wallet, r.TxID)
	}
	suffix, err := in.randomSuffix()
	if err != nil {
		return roles.Dispute{}, internalErr("dispute id", err)
	}
	now := in.now()
	rec := disputeRec{Dispute: roles.Dispute{ID: in.cfg.Name + ".d" + suffix, TxID: r.TxID, Payer: r.Wallet, Merchant: paid.Counterparty,
		Amount: paid.Amount, Reason: r.Reason, Evidence: r.Evidence, State: roles.DisputeOpen, Opened: now, Updated: now}}
	if roles.IntermediaryOf(rec.Merchant) == in.cfg.Name {
		rec.State = roles.DisputeWithMerchant // the merchant's intermediary has it
	} else {
		rec.Unsent = true
	}
	err = func() error {
		in.disputeMu.Lock()
		defer in.disputeMu.Unlock()
		if id, err := in.db.Get(disputeTxKey(r.TxID)); err == nil {
			return errcode.New(errcode.Conflict, "payment %s is disputed already: dispute %s", r.TxID, id)
		} else if !errors.Is(err, store.ErrNotFound) {
			return internalErr("dispute of "+r.TxID.String(), err)
		}
		return in.putDispute(&rec, true)
	}()
	if err != nil {
		return roles.Dispute{}, err
	}
	in.log.Info("dispute opened", "dispute", rec.ID, "txid", rec.TxID, "payer", rec.Payer, "merchant", rec.Merchant)
	if rec.Unsent {
		in.sendDispute(ctx, rec.ID) // best effort now; the background loop retries
	}
	return in.loadDispute(rec.ID)
}

// putDispute writes rec, its indexes and its queue entry, synced; with
// first, also the payment's dispute. The caller holds disputeMu.
func (in *Intermediary) putDispute(rec *disputeRec, first bool) error {
	v, err := recBytes(rec)
	if err != nil {
		return internalErr("dispute record", err)
	}
	b := in.db.NewBatch()
	b.Set(disputeKey(rec.ID), v)
	if first {
		b.Set(disputeTxKey(rec.TxID), []byte(rec.ID))
		for _, w := range []string{rec.Payer, rec.Merchant} {
			if roles.IntermediaryOf(w) == in.cfg.Name {
				b.Set(disputeWalletKey(w, rec.ID), nil)
			}
		}
	}
	if rec.pending() {
		b.Set(disputeQueueKey(rec.ID), nil)
	} else {
		b.Delete(disputeQueueKey(rec.ID))
	}
	if err := b.Commit(true); err != nil {
		return internalErr("dispute "+rec.ID, err)
	}
	return nil
}

// getDispute reads a dispute record; errcode.NotFound when absent.
func (in *Intermediary) getDispute(id string) (disputeRec, error) {
	var rec disputeRec
	found, err := getRec(in.db, disputeKey(id), &rec)
	if err != nil {
		return rec, internalErr("dispute "+id, err)
	}
	if !found {
		return rec, errcode.New(errcode.NotFound, "no dispute %s at %s", id, in.cfg.Name)
	}
	return rec, nil
}

func (in *Intermediary) loadDispute(id string) (roles.Dispute, error) {
	rec, err := in.getDispute(id)
	return rec.Dispute, err
}

// Disputes lists the disputes wallet is a side of, oldest first. It
// implements roles.DisputeDesk.
func (in *Intermediary) Disputes(ctx context.Context, wallet string) ([]roles.Dispute, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	if err := in.readable(ctx, wallet); err != nil {
		return nil, err
	}
	prefix := disputeWalletPrefix(wallet)
	var ids []string
	if err := in.db.Scan(prefix, nil, func(k, _ []byte) error {
		ids = append(ids, string(k[len(prefix):]))
		return nil
	}); err != nil {
		return nil, internalErr("disputes of "+wallet, err)
	}
	out := make([]roles.Dispute, 0, len(ids))
	for _, id := range ids {
		d, err := in.loadDispute(id)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	slicesSortDisputes(out)
	return out, nil
}

func slicesSortDisputes(ds []roles.Dispute) {
	for i := 1; i < len(ds); i++ { // few per wallet: insertion sort by opening time
		for j := i; j > 0 && ds[j].Opened.Before(ds[j-1].Opened); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

// Dispute reports one dispute this intermediary is a side of. It
// implements roles.DisputeDesk.
func (in *Intermediary) Dispute(ctx context.Context, id string) (roles.Dispute, error) {
	if err := in.enter(); err != nil {
		return roles.Dispute{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.Dispute{}, err
	}
	return in.loadDispute(id)
}

// merchantSide loads dispute id for a resolution, which only the
// merchant's intermediary makes. The caller holds disputeMu.
func (in *Intermediary) merchantSide(id string) (disputeRec, error) {
	rec, err := in.getDispute(id)
	if err != nil {
		return rec, err
	}
	if roles.IntermediaryOf(rec.Merchant) != in.cfg.Name {
		return rec, errcode.Forbidden("dispute %s is resolved by the merchant's intermediary, %s", id, roles.IntermediaryOf(rec.Merchant))
	}
	return rec, nil
}

// RejectDispute ends a dispute unrefunded, with the merchant's reason.
// Rejecting a rejected dispute again answers it unchanged; a refunded one,
// or one whose refund is being made, is errcode.Conflict. It implements
// roles.DisputeDesk.
func (in *Intermediary) RejectDispute(ctx context.Context, id, reason string) (roles.Dispute, error) {
	if err := in.enter(); err != nil {
		return roles.Dispute{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.Dispute{}, err
	}
	if err := checkText("reason", reason, 1, roles.MaxDisputeReason); err != nil {
		return roles.Dispute{}, err
	}
	rec, err := func() (disputeRec, error) {
		in.disputeMu.Lock()
		defer in.disputeMu.Unlock()
		rec, err := in.merchantSide(id)
		if err != nil {
			return rec, err
		}
		switch {
		case rec.State == roles.DisputeRejected:
			return rec, nil
		case rec.State == roles.DisputeRefunded:
			return rec, errcode.New(errcode.Conflict, "dispute %s is refunded already (refund %s)", id, rec.Refund)
		case rec.Refunding > 0:
			return rec, errcode.New(errcode.Conflict, "dispute %s: a refund of it is being made", id)
		}
		rec.State, rec.Resolution, rec.Updated = roles.DisputeRejected, reason, in.now()
		rec.Unsent = roles.IntermediaryOf(rec.Payer) != in.cfg.Name
		return rec, in.putDispute(&rec, false)
	}()
	if err != nil {
		return roles.Dispute{}, err
	}
	in.log.Info("dispute rejected", "dispute", id)
	if rec.Unsent {
		in.sendDispute(ctx, id)
	}
	return in.loadDispute(id)
}

// RefundDispute ends a dispute by refunding amount of the payment (0: all
// that is left to refund) to the payer. The amount is recorded on the
// dispute before the refund is made, with the dispute's own idempotency
// key, so asking again (or the background loop, after a crash) finishes
// the same refund and never makes a second; asking for another amount
// meanwhile is errcode.Conflict. A refunded dispute is answered as it is.
// It implements roles.DisputeDesk.
func (in *Intermediary) RefundDispute(ctx context.Context, id string, amount uint64, reference string) (roles.Dispute, error) {
	if err := in.enter(); err != nil {
		return roles.Dispute{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.Dispute{}, err
	}
	if err := checkText("reference", reference, 0, MaxReferenceLen); err != nil {
		return roles.Dispute{}, err
	}
	rec, err := func() (disputeRec, error) {
		in.disputeMu.Lock()
		defer in.disputeMu.Unlock()
		rec, err := in.merchantSide(id)
		if err != nil {
			return rec, err
		}
		switch {
		case rec.State == roles.DisputeRefunded:
			return rec, nil
		case rec.State == roles.DisputeRejected:
			return rec, errcode.New(errcode.Conflict, "dispute %s is rejected already", id)
		case rec.Refunding > 0:
			if amount != 0 && amount != rec.Refunding {
				return rec, errcode.New(errcode.Conflict, "dispute %s: a refund of %d is being made, not %d", id, rec.Refunding, amount)
			}
			return rec, nil
		}
		if amount == 0 {
			done, err := in.refunded(rec.TxID)
			if err != nil {
				return rec, err
			}
			if amount = rec.Amount - min(rec.Amount, done); amount == 0 {
				return rec, errcode.New(errcode.Conflict, "payment %s is refunded in full already", rec.TxID)
			}
		}
		if reference == "" {
			reference = "refund for dispute " + id
		}
		rec.Refunding, rec.RefundRef = amount, reference
		rec.RefundTry++
		return rec, in.putDispute(&rec, false)
	}()
	if err != nil {
		return roles.Dispute{}, err
	}
	if rec.State != roles.DisputeRefunded {
		if err := in.finishRefund(ctx, id); err != nil {
			return roles.Dispute{}, err
		}
	}
	return in.loadDispute(id)
}

// finishRefund makes dispute id's recorded refund (Refunding) and marks
// the dispute refunded; it is safe to call again at any point: the
// refund's idempotency key makes it pay once.
func (in *Intermediary) finishRefund(ctx context.Context, id string) error {
	rec, err := in.getDispute(id)
	if err != nil || rec.State.Final() || rec.Refunding == 0 {
		return err
	}
	res, err := in.Pay(in.asSelf(ctx), roles.Payment{From: rec.Merchant, To: rec.Payer, Amount: rec.Refunding,
		Reference: rec.RefundRef, IdempotencyKey: fmt.Sprintf("%s%s/%d", disputeIdemPrefix, id, rec.RefundTry), RefundOf: rec.TxID})
	if err != nil {
		if rejected(err) {
			// A definite no (the merchant cannot pay it now, say): the
			// dispute stays with the merchant, who may ask again.
			in.disputeMu.Lock()
			defer in.disputeMu.Unlock()
			if cur, gerr := in.getDispute(id); gerr == nil && !cur.State.Final() && cur.RefundTry == rec.RefundTry {
				cur.Refunding, cur.RefundRef, cur.LastErr = 0, "", err.Error()
				if perr := in.putDispute(&cur, false); perr != nil {
					in.log.Error("dispute refund refused, and recording it failed", "dispute", id, "err", perr)
				}
			}
		}
		return fmt.Errorf("refund for dispute %s: %w", id, err)
	}
	err = func() error {
		in.disputeMu.Lock()
		defer in.disputeMu.Unlock()
		cur, err := in.getDispute(id)
		if err != nil || cur.State.Final() {
			return err
		}
		cur.State, cur.Refund, cur.RefundAmount, cur.Resolution = roles.DisputeRefunded, res.TxID, res.Amount, cur.RefundRef
		cur.Refunding, cur.RefundRef, cur.LastErr, cur.Updated = 0, "", "", in.now()
		cur.Unsent = roles.IntermediaryOf(cur.Payer) != in.cfg.Name
		return in.putDispute(&cur, false)
	}()
	if err != nil {
		return err
	}
	in.log.Info("dispute refunded", "dispute", id, "refund", res.TxID, "amount", res.Amount)
	in.sendDispute(ctx, id)
	return nil
}

// rank orders dispute states: a dispute only moves forward.
func rank(s roles.DisputeState) int {
	switch s {
	case roles.DisputeOpen:
		return 1
	case roles.DisputeWithMerchant:
		return 2
	case roles.DisputeRefunded, roles.DisputeRejected:
		return 3
	}
	return 0
}

// checkExchanged checks a dispute handed over by another intermediary.
func checkExchanged(d *roles.Dispute) error {
	err := errors.Join(
		checkText("id", d.ID, 1, MaxOwnerLen), checkText("payer", d.Payer, 1, MaxOwnerLen), checkText("merchant", d.Merchant, 1, MaxOwnerLen),
		checkText("reason", d.Reason, 1, roles.MaxDisputeReason), checkText("evidence", d.Evidence, 0, roles.MaxDisputeEvidence),
		checkText("resolution", d.Resolution, 0, MaxReferenceLen))
	switch {
	case err != nil:
		return errcode.New(errcode.Malformed, "dispute: %v", err)
	case rank(d.State) == 0:
		return errcode.New(errcode.Malformed, "dispute: state %q", d.State)
	case d.TxID == money.TxID{}:
		return errcode.New(errcode.Malformed, "dispute: no txid")
	case roles.IntermediaryOf(d.ID) != roles.IntermediaryOf(d.Payer) || strings.ContainsAny(d.ID, "/\x00"):
		return errcode.New(errcode.Malformed, "dispute: id %q is not one of the payer's intermediary", d.ID)
	}
	return nil
}

// ExchangeDispute takes a dispute from the other intermediary of its
// payment: the payer's hands a dispute it opened (stored here, with the
// merchant, once the merchant's wallet is found to have received the
// payment from the payer), the merchant's hands its resolution. It
// answers the dispute as it now stands here; the same hand-over again
// changes nothing. It implements roles.DisputeExchanger.
func (in *Intermediary) ExchangeDispute(ctx context.Context, d roles.Dispute) (roles.Dispute, error) {
	if err := in.enter(); err != nil {
		return roles.Dispute{}, err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return roles.Dispute{}, err
	}
	if err := checkExchanged(&d); err != nil {
		return roles.Dispute{}, err
	}
	caller, _ := roles.Caller(ctx)
	payerBank, merchantBank := roles.IntermediaryOf(d.Payer), roles.IntermediaryOf(d.Merchant)
	in.disputeMu.Lock()
	defer in.disputeMu.Unlock()
	switch {
	case caller.Name == payerBank && merchantBank == in.cfg.Name && payerBank != in.cfg.Name:
		return in.takeDispute(d)
	case caller.Name == merchantBank && payerBank == in.cfg.Name && merchantBank != in.cfg.Name:
		return in.takeResolution(d)
	}
	return roles.Dispute{}, errcode.Forbidden("%s is not the other intermediary of dispute %s", caller.Name, d.ID)
}

// takeDispute stores a dispute the payer's intermediary hands over. The
// caller holds disputeMu.
func (in *Intermediary) takeDispute(d roles.Dispute) (roles.Dispute, error) {
	if cur, err := in.getDispute(d.ID); err == nil {
		return cur.Dispute, nil // again: acknowledged already
	} else if !errcode.Is(err, errcode.NotFound) {
		return roles.Dispute{}, err
	}
	got, found, err := in.received(d.Merchant, d.TxID)
	if err != nil {
		return roles.Dispute{}, err
	}
	if !found || got.Counterparty != d.Payer {
		return roles.Dispute{}, errcode.New(errcode.NotFound, "wallet %s received no payment %s from %s", d.Merchant, d.TxID, d.Payer)
	}
	if id, err := in.db.Get(disputeTxKey(d.TxID)); err == nil {
		return roles.Dispute{}, errcode.New(errcode.Conflict, "payment %s is disputed already: dispute %s", d.TxID, id)
	} else if !errors.Is(err, store.ErrNotFound) {
		return roles.Dispute{}, internalErr("dispute of "+d.TxID.String(), err)
	}
	rec := disputeRec{Dispute: roles.Dispute{ID: d.ID, TxID: d.TxID, Payer: d.Payer, Merchant: d.Merchant, Amount: got.Amount,
		Reason: d.Reason, Evidence: d.Evidence, State: roles.DisputeWithMerchant, Opened: d.Opened, Updated: in.now()}}
	if err := in.putDispute(&rec, true); err != nil {
		return roles.Dispute{}, err
	}
	in.log.Info("dispute received", "dispute", d.ID, "txid", d.TxID, "merchant", d.Merchant)
	return rec.Dispute, nil
}

// takeResolution records the merchant's resolution of a dispute opened
// here. The caller holds disputeMu.
func (in *Intermediary) takeResolution(d roles.Dispute) (roles.Dispute, error) {
	cur, err := in.getDispute(d.ID)
	if err != nil {
		return roles.Dispute{}, err
	}
	if cur.TxID != d.TxID || cur.Payer != d.Payer || cur.Merchant != d.Merchant {
		return roles.Dispute{}, errcode.New(errcode.Conflict, "dispute %s: payment or wallets differ from the dispute opened", d.ID)
	}
	if rank(d.State) <= rank(cur.State) {
		return cur.Dispute, nil // nothing new
	}
	cur.State, cur.Resolution, cur.Refund, cur.RefundAmount, cur.Updated = d.State, d.Resolution, d.Refund, d.RefundAmount, in.now()
	cur.Unsent = false // whatever was unsent is answered by this
	if err := in.putDispute(&cur, false); err != nil {
		return roles.Dispute{}, err
	}
	in.log.Info("dispute resolved by the merchant's intermediary", "dispute", d.ID, "state", d.State)
	return cur.Dispute, nil
}

// sendDispute hands dispute id's latest state to the other intermediary
// once, if it is unsent, and records the answer: acknowledged, refused
// for good (the payer's side then ends the dispute rejected, with the
// refusal as the resolution), or to retry.
func (in *Intermediary) sendDispute(ctx context.Context, id string) {
	rec, err := in.getDispute(id)
	if err != nil || !rec.Unsent {
		return
	}
	other := roles.IntermediaryOf(rec.Merchant)
	if other == in.cfg.Name {
		other = roles.IntermediaryOf(rec.Payer)
	}
	var got roles.Dispute
	p, ok := in.peer(other)
	ex, isEx := p.(roles.DisputeExchanger)
	switch {
	case !ok:
		err = errcode.New(errcode.Unavailable, "no intermediary %q", other)
	case !isEx:
		err = errcode.New(errcode.Unavailable, "intermediary %s takes no disputes", other)
	default:
		got, err = ex.ExchangeDispute(in.asSelf(ctx), rec.Dispute)
	}
	in.disputeMu.Lock()
	defer in.disputeMu.Unlock()
	cur, gerr := in.getDispute(id)
	if gerr != nil || cur.Updated != rec.Updated {
		return // changed meanwhile: its new state is sent next
	}
	switch {
	case err == nil:
		cur.Unsent, cur.LastErr = false, ""
		if got.ID == cur.ID && rank(got.State) > rank(cur.State) && roles.IntermediaryOf(cur.Payer) == in.cfg.Name {
			cur.State, cur.Resolution, cur.Refund, cur.RefundAmount = got.State, got.Resolution, got.Refund, got.RefundAmount
			cur.Updated = in.now()
		}
	case refusedForGood(err) && roles.IntermediaryOf(cur.Payer) == in.cfg.Name && !cur.State.Final():
		in.log.Warn("dispute refused by the merchant's intermediary", "dispute", id, "err", err)
		cur.Unsent, cur.LastErr = false, err.Error()
		cur.State, cur.Resolution, cur.Updated = roles.DisputeRejected, fmt.Sprintf("refused by %s: %v", other, err), in.now()
	case refusedForGood(err):
		in.log.Error("dispute's state refused by the other intermediary; not handed over again", "dispute", id, "peer", other, "err", err)
		cur.Unsent, cur.LastErr = false, err.Error()
	default:
		cur.Attempts++
		cur.LastErr = err.Error()
		in.log.Warn("handing over dispute failed; will retry", "dispute", id, "peer", other, "attempts", cur.Attempts, "err", err)
	}
	if err := in.putDispute(&cur, false); err != nil {
		in.log.Error("recording a dispute hand-over", "dispute", id, "err", err)
	}
}

// refusedForGood reports whether the other intermediary's answer to a
// hand-over is about the dispute itself (unknown payment, malformed,
// disputed already), which another attempt would get again. Anything else
// (unreachable, a credential it does not take, its own failure) is
// retried.
func refusedForGood(err error) bool {
	return errcode.Is(err, errcode.NotFound) || errcode.Is(err, errcode.Malformed) || errcode.Is(err, errcode.Conflict)
}

// retryDisputes does the work left on disputes (disputeq): finishes
// refunds recorded but not made (a crash, an unreachable ledger) and hands
// unsent states over.
func (in *Intermediary) retryDisputes(ctx context.Context) {
	var ids []string
	if err := in.db.Scan([]byte(pDisputeQueue), nil, func(k, _ []byte) error {
		ids = append(ids, string(k[len(pDisputeQueue):]))
		return nil
	}); err != nil {
		in.log.Warn("scanning disputes", "err", err)
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		rec, err := in.getDispute(id)
		if err != nil {
			continue
		}
		if rec.Refunding > 0 && !rec.State.Final() {
			if err := in.finishRefund(ctx, id); err != nil {
				in.log.Warn("finishing a dispute's refund", "dispute", id, "err", err)
			}
			continue // finishRefund hands it over
		}
		in.sendDispute(ctx, id)
	}
}

// RetryDisputes does the work left on disputes now, as the background
// loop does every Config.RetryInterval.
func (in *Intermediary) RetryDisputes(ctx context.Context) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	in.retryDisputes(ctx)
	return nil
}
