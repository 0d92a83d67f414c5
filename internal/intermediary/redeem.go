package intermediary

import (
	"context"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Redeem returns r.Amount from the treasury to the central bank: it spends
// treasury notes in a redeem transaction (change back to the treasury),
// which the issuer acknowledges, commits and credits to this intermediary's
// reserve account. Outcomes are handled as in Pay, and so is
// r.IdempotencyKey (roles.RedeemRequest): a bank's back office that lost
// the answer to a redemption may ask again without redeeming twice.
func (in *Intermediary) Redeem(ctx context.Context, r roles.RedeemRequest) (roles.Redemption, error) {
	if err := in.enter(); err != nil {
		return roles.Redemption{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.Redemption{}, err
	}
	if r.Amount == 0 {
		return roles.Redemption{}, errcode.New(errcode.Malformed, "amount must be positive")
	}
	if err := checkIdempotencyKey(r.IdempotencyKey); err != nil {
		return roles.Redemption{}, err
	}
	if in.issuer == nil {
		return roles.Redemption{}, errcode.New(errcode.Unavailable, "%s has no issuer connection", in.cfg.Name)
	}
	if r.IdempotencyKey == "" {
		return in.redeem(ctx, r)
	}
	// The fingerprint is that of the pending record redeem writes
	// (pendingIdem): from the treasury, to no wallet, with the redeem's
	// reference, which no payment can have (a payment names its payee).
	p := roles.Payment{From: in.Treasury(), Amount: r.Amount, Reference: redeemReference, IdempotencyKey: r.IdempotencyKey}
	return onceByKey(ctx, in, keyed[roles.Redemption]{
		what: "redemption",
		key:  r.IdempotencyKey,
		fp:   fingerprint(p.From, p.To, p.Amount, p.Reference),
		run: func() (roles.Redemption, error) {
			red, err := in.redeem(ctx, r)
			if errcode.Is(err, errcode.InsufficientFunds) {
				// Definite, and nothing was built: remembered, as for a
				// payment, so a retry answers the same.
				in.rememberRejection(p, err)
			}
			return red, err
		},
		result: func(txid money.TxID, rc roles.Receipt) roles.Redemption {
			if rc.TxID == (money.TxID{}) {
				rc.TxID = txid
			}
			return roles.Redemption{Intermediary: in.cfg.Name, Amount: r.Amount, Receipt: rc}
		},
	})
}

// redeemReference is the reference of a redemption in the treasury's
// history.
const redeemReference = "redeem to central bank reserves"

// redeem makes a checked redemption. With an idempotency key, the caller
// holds the key's lock and no record of the key exists: reserving writes
// it (pending), and settling the spend settles it.
func (in *Intermediary) redeem(ctx context.Context, r roles.RedeemRequest) (roles.Redemption, error) {
	amount := r.Amount
	treasury, err := in.loadWallet(in.Treasury())
	if err != nil {
		return roles.Redemption{}, err
	}
	key, err := in.key(&treasury)
	if err != nil {
		return roles.Redemption{}, err
	}
	ownLock := money.KeyLock(key.Public())
	pend := pendingRec{Kind: kindRedeem, From: treasury.ID, Amount: amount, Reference: redeemReference, IdemKey: r.IdempotencyKey}
	tx, txid, err := in.reserve(ctx, &treasury, key, amount, &pend, func(inputs []money.Note, sum uint64) *money.Tx {
		tx := &money.Tx{Kind: money.Redeem, Inputs: inputs}
		if sum > amount {
			tx.Outputs = []money.Output{{Value: sum - amount, Lock: ownLock}}
		}
		return tx
	})
	if err != nil {
		return roles.Redemption{}, err
	}
	defer in.landed(txid)

	red, err := in.issuer.Redeem(in.asSelf(ctx), cloneTx(tx))
	if err != nil {
		var r roles.Receipt
		if r, err = in.committedAnyway(ctx, txid, err); err == nil {
			red = roles.Redemption{Receipt: r}
		}
	}
	if err != nil {
		err = in.settleFailure(txid, "redemption", err)
		if errcode.Is(err, errcode.Unavailable) {
			in.wakeSettle()
		}
		return roles.Redemption{}, err
	}
	if err := in.applyCommitted(txid, tx, red.Receipt.Batch, red.Receipt.Index, nil, &pend); err != nil {
		in.log.Error("redemption committed but not recorded; will settle from the ledger", "txid", txid, "err", err)
		return roles.Redemption{}, internalErr("redemption "+txid.String()+" committed, recording it failed", err)
	}
	if red.Intermediary == "" {
		red.Intermediary = in.cfg.Name
	}
	if red.Amount == 0 {
		red.Amount = amount
	}
	in.log.Debug("redemption committed", "txid", txid, "amount", amount, "batch", red.Receipt.Batch)
	return red, nil
}
