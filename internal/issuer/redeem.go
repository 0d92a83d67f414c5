package issuer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Redeem acknowledges a redeem transaction signed by the calling
// intermediary with the issuer's redeem key, commits it, and credits the
// destroyed amount (inputs minus outputs) to the caller's reserve account.
// Redeeming the same transaction again returns the first outcome and
// credits nothing more. A ledger rejection is returned unchanged and
// changes nothing.
func (is *Issuer) Redeem(ctx context.Context, tx *money.Tx) (roles.Redemption, error) {
	caller, err := requireIntermediaryTo(ctx, "redeem")
	if err != nil {
		return roles.Redemption{}, err
	}
	if tx == nil || tx.Kind != money.Redeem {
		return roles.Redemption{}, errcode.New(errcode.Malformed, "not a redeem transaction")
	}
	// Work on a copy: the issuer's acknowledgement replaces any Auth.
	rtx := *tx
	rtx.Auth = nil
	if err := rtx.Check(); err != nil {
		return roles.Redemption{}, errcode.New(errcode.Malformed, "redeem: %v", err)
	}
	in, out := rtx.Sums()
	amount := in - out
	id := is.cfg.Network.TxID(&rtx)
	// Signed before anything is recorded: a token that cannot sign
	// right now (an HSM logged out or unplugged) leaves nothing behind.
	sig, err := is.cfg.RedeemKey.TrySign(crypto.Redeem, is.cfg.Network.ID, id)
	if err != nil {
		return roles.Redemption{}, errcode.New(errcode.Unavailable, "redeem: the issuer's redeem key cannot sign: %v", err)
	}
	rtx.Auth = []money.KeySig{{Key: is.cfg.RedeemKey.Public(), Sig: sig}}
	rec := redemption{Intermediary: caller, Amount: amount}

	done, err := func() (*redemption, error) {
		is.mu.Lock()
		defer is.mu.Unlock()
		if err := is.usable(); err != nil {
			return nil, err
		}
		_, hasReserve := is.reserves[caller]
		var done, pending *redemption
		var err error
		if hasReserve {
			done, err = is.getRedemption(prefRedeem, id)
			if err == nil && done == nil {
				pending, err = is.getRedemption(prefIntent, id)
			}
			if err != nil {
				return nil, err
			}
		}
		submit, err := decideRedeem(id, caller, hasReserve, done, pending, is.busy[id])
		if err != nil || !submit {
			return done, err
		}
		// The intent is saved first, under the lock that decided it:
		// after a crash, Open asks the ledger.
		if err := is.putIntent(id, &rec); err != nil {
			return nil, err
		}
		is.busy[id] = true
		return nil, nil
	}()
	if err != nil {
		return roles.Redemption{}, err
	}
	if done != nil {
		return done.outcome(), nil
	}

	rc, err := is.ledger.Submit(ctx, &rtx)
	if err == nil {
		return is.credit(id, rc)
	}
	switch errcode.Of(err) {
	case errcode.DoubleSpend, errcode.Unavailable, errcode.Internal:
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		found, rc, lerr := is.lookupTx(lctx, id)
		cancel()
		if lerr != nil {
			is.release(id) // the intent stays: the retry loop asks again
			is.log.Warn("redeem outcome unknown; will ask the ledger again", "id", id, "submit", err, "lookup", lerr)
			return roles.Redemption{}, err
		}
		if found {
			// Committed by an earlier attempt whose answer was lost.
			return is.credit(id, rc)
		}
	}
	is.dropIntent(id)
	is.log.Info("ledger rejected redeem", "id", id, "intermediary", caller, "err", err)
	return roles.Redemption{}, err
}

// decideRedeem is Redeem's decision, a pure function of the caller, whether
// it has a reserve account, the redemption already credited (done) or
// already at the ledger (pending) under this txid, and whether it is being
// submitted right now (busy): a rejection, the first outcome again (submit
// false, no error: answer done), or submit.
func decideRedeem(id money.TxID, caller string, hasReserve bool, done, pending *redemption, busy bool) (submit bool, err error) {
	switch {
	case !hasReserve:
		return false, errcode.Forbidden("%q has no reserve account", caller)
	case done != nil && done.Intermediary != caller:
		return false, errcode.Forbidden("redeem %s was credited to another intermediary", id)
	case done != nil:
		return false, nil
	case pending != nil && pending.Intermediary != caller:
		return false, errcode.Forbidden("redeem %s was submitted by another intermediary", id)
	case busy:
		return false, errcode.New(errcode.Conflict, "redeem %s is already being submitted", id)
	}
	return true, nil
}

func (r *redemption) outcome() roles.Redemption {
	out := roles.Redemption{Intermediary: r.Intermediary, Amount: r.Amount}
	if r.Receipt != nil {
		out.Receipt = *r.Receipt
	}
	return out
}

// putIntent records that a redeem may be at the ledger. Caller holds mu.
func (is *Issuer) putIntent(id money.TxID, r *redemption) error {
	v, err := json.Marshal(r)
	if err != nil {
		return errcode.New(errcode.Internal, "encode redeem %s: %v", id, err)
	}
	b := is.db.NewBatch()
	b.Set(key(prefIntent, id[:]), v)
	if err := b.Commit(true); err != nil {
		return storeErr(err, "record redeem %s", id)
	}
	return nil
}

// dropIntent forgets a redeem the ledger did not commit.
func (is *Issuer) dropIntent(id money.TxID) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.busy, id)
	if is.closed {
		return
	}
	b := is.db.NewBatch()
	b.Delete(key(prefIntent, id[:]))
	if err := b.Commit(true); err != nil {
		is.log.Error("cannot drop redeem intent", "id", id, "err", err)
	}
}

// credit records a committed redeem: in one batch the reserve is credited
// and the intent becomes a redemption. A redemption already credited is
// returned as it is, so nothing is credited twice.
func (is *Issuer) credit(id money.TxID, rc roles.Receipt) (roles.Redemption, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.busy, id)
	if err := is.usable(); err != nil {
		return roles.Redemption{}, err
	}
	done, err := is.getRedemption(prefRedeem, id)
	if err != nil {
		return roles.Redemption{}, err
	}
	if done != nil {
		return done.outcome(), nil
	}
	r, err := is.getRedemption(prefIntent, id)
	if err != nil {
		return roles.Redemption{}, err
	}
	if r == nil {
		return roles.Redemption{}, errcode.New(errcode.Internal, "redeem %s committed but its record is gone", id)
	}
	bal, err := money.Add(is.reserves[r.Intermediary], r.Amount)
	if err != nil {
		is.log.Error("reserve would overflow", "id", id, "intermediary", r.Intermediary)
		return roles.Redemption{}, errcode.New(errcode.Internal, "redeem %s: reserve of %s overflows", id, r.Intermediary)
	}
	r.Receipt = &rc
	v, err := json.Marshal(r)
	if err != nil {
		return roles.Redemption{}, errcode.New(errcode.Internal, "encode redeem %s: %v", id, err)
	}
	b := is.db.NewBatch()
	b.Delete(key(prefIntent, id[:]))
	b.Set(key(prefRedeem, id[:]), v)
	b.Set(key(prefReserv, []byte(r.Intermediary)), encodeU64(bal))
	if err := is.journal(b, ReserveEntry{Intermediary: r.Intermediary, Kind: ReserveRedeem, Ref: id.String(), Credit: true, Amount: r.Amount, Balance: bal}); err != nil {
		b.Discard()
		return roles.Redemption{}, errcode.New(errcode.Internal, "%v", err)
	}
	if err := b.Commit(true); err != nil {
		return roles.Redemption{}, storeErr(err, "credit redeem %s", id)
	}
	is.reserves[r.Intermediary] = bal
	cur := is.cfg.Network.Currency
	is.log.Info("redeem committed", "id", id, "intermediary", r.Intermediary, "amount", cur.Format(r.Amount),
		"batch", rc.Batch, "reserve", cur.Format(bal))
	return r.outcome(), nil
}

// reconcileAll settles every mint and redeem a crash or a lost ledger answer
// left undecided: committed ones are finished (once), the others are
// returned to pending (mints) or forgotten (redeems).
func (is *Issuer) reconcileAll(ctx context.Context) {
	mints, redeems := is.takeUndecided()
	for _, id := range mints {
		found, rc, err := is.lookupTx(ctx, id)
		switch {
		case err != nil:
			is.release(id)
			is.log.Warn("cannot ask the ledger about a mint; will retry", "id", id, "err", err)
		case found:
			if _, err := is.finishMint(id, rc); err != nil {
				is.log.Error("cannot finish committed mint", "id", id, "err", err)
				continue
			}
			if err := is.deliverOne(ctx, id); err != nil {
				is.log.Warn("mint not delivered yet; will retry", "id", id, "err", err)
			}
		default:
			is.backToPending(id)
		}
	}
	for _, id := range redeems {
		found, rc, err := is.lookupTx(ctx, id)
		switch {
		case err != nil:
			is.release(id)
			is.log.Warn("cannot ask the ledger about a redeem; will retry", "id", id, "err", err)
		case found:
			if _, err := is.credit(id, rc); err != nil {
				is.log.Error("cannot credit committed redeem", "id", id, "err", err)
			}
		default:
			is.dropIntent(id)
			is.log.Info("interrupted redeem was not committed; forgotten", "id", id)
		}
	}
}

// takeUndecided lists the mints and redeems that may be at the ledger and
// are not being submitted right now (a crash or a lost answer left them),
// and marks them busy for the caller, who asks the ledger about each and
// then releases it.
func (is *Issuer) takeUndecided() (mints, redeems []money.TxID) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.closed {
		return nil, nil
	}
	for id := range is.open {
		if is.busy[id] {
			continue
		}
		p, err := is.getProposal(id)
		if err != nil {
			is.log.Error("read open proposal", "id", id, "err", err)
			continue
		}
		// A pending proposal with a full quorum was submitted before.
		if p.Status == statusSubmitting || len(p.Approvals) >= is.cfg.MintQuorum {
			mints = append(mints, id)
		}
	}
	err := is.db.Scan(prefIntent, nil, func(k, _ []byte) error {
		var id money.TxID
		if len(k) != len(prefIntent)+len(id) {
			return fmt.Errorf("bad redeem intent key %x", k)
		}
		copy(id[:], k[len(prefIntent):])
		if !is.busy[id] {
			redeems = append(redeems, id)
		}
		return nil
	})
	for _, id := range mints {
		is.busy[id] = true
	}
	for _, id := range redeems {
		is.busy[id] = true
	}
	if err != nil {
		is.log.Error("read redeem intents", "err", err)
	}
	return mints, redeems
}

// release ends a submission or a question to the ledger about id.
func (is *Issuer) release(id money.TxID) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.busy, id)
}
