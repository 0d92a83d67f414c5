package intermediary

import (
	"context"
	"errors"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// keyed is one spend made with an idempotency key: a payment (payOnce) or
// a redemption (redeemOnce). Both keep their key in the same records
// (idemRec, written pending with the spend by reserve and settled with
// it), so one key names one spend whatever its kind.
type keyed[R any] struct {
	what string // "payment", "redemption": in messages
	key  string
	fp   string // what the key was first used for (fingerprint)
	// run makes the spend; the caller holds the key's lock and no record
	// of the key exists.
	run func() (R, error)
	// result is the answer for the key's spend txid, with its receipt
	// once committed (zero while the outcome is unknown).
	result func(txid money.TxID, r roles.Receipt) R
}

// onceByKey runs k at most once per key. Attempts with one key run one at
// a time (a retry waits for an attempt in progress, as long as its
// context allows); each looks up what the key already did:
//
//   - nothing: run, recording the key with the spend;
//   - a different request: errcode.Conflict, nothing changes;
//   - committed: the original result, same txid;
//   - rejected: the same rejection;
//   - outcome unknown: ask the ledger now; committed or rejected as above,
//     certainly never committed (the key is then released): run; still
//     unknown: errcode.Unavailable naming the txid. A second transaction
//     is never built while the first could still commit.
func onceByKey[R any](ctx context.Context, in *Intermediary, k keyed[R]) (R, error) {
	var zero R
	unlock, err := in.lockIdem(ctx, k.key)
	if err != nil {
		msg := fmt.Sprintf("a %s with this idempotency key is in progress; retry later", k.what)
		res := zero
		if rec, found, _ := in.loadIdem(k.key); found && rec.Fingerprint == k.fp && rec.State == idemPending {
			res = k.result(rec.TxID, roles.Receipt{})
			msg = fmt.Sprintf("%s %s with this idempotency key is in progress; retry later (look it up with: specie tx show %s)", k.what, rec.TxID, rec.TxID)
		}
		return res, errcode.New(errcode.Unavailable, "%s: %v", msg, err)
	}
	defer unlock()

	rec, found, err := in.loadIdem(k.key)
	if err != nil {
		return zero, err
	}
	if found && rec.Fingerprint != k.fp {
		return zero, errcode.New(errcode.Conflict, "idempotency key reused for a different %s", k.what)
	}
	var unsettled error
	if found && rec.State == idemPending {
		unsettled = in.settleIdem(ctx, rec.TxID)
		if rec, found, err = in.loadIdem(k.key); err != nil {
			return zero, err
		}
	}
	if !found {
		return k.run()
	}
	switch rec.State {
	case idemCommitted:
		in.log.Debug(k.what+" retried with its idempotency key; answering the committed result", "txid", rec.TxID)
		return k.result(rec.TxID, rec.Receipt), nil
	case idemRejected:
		return zero, &errcode.Error{Code: rec.Code, Message: rec.Message, Status: rec.Status}
	}
	if unsettled == nil {
		unsettled = errors.New("not settled yet")
	}
	return k.result(rec.TxID, roles.Receipt{}), errcode.New(errcode.Unavailable,
		"%s %s with this idempotency key: outcome still unknown, it will be settled with the ledger; retry later (look it up with: specie tx show %s): %v",
		k.what, rec.TxID, rec.TxID, unsettled)
}
