package intermediary

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"unicode/utf8"

	"github.com/specie/specie/crypto"
	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// MaxReferenceLen bounds a payment reference in bytes.
const MaxReferenceLen = 512

// Pay moves p.Amount from a wallet of this intermediary to any wallet, here
// or at another intermediary, and returns once the ledger has committed it.
//
// A ledger rejection is returned unchanged and leaves everything as it was.
// When the ledger cannot be reached the outcome is unknown: the notes stay
// reserved, errcode.Unavailable is returned (its message names the txid),
// and the spend is settled later by asking the ledger (ResolvePending, the
// background loop, or Open); the result then carries only the TxID, From,
// To and Amount.
//
// With p.IdempotencyKey set, Pay is safe to retry: see roles.Payment and
// payOnce.
func (in *Intermediary) Pay(ctx context.Context, p roles.Payment) (roles.PaymentResult, error) {
	if err := in.enter(); err != nil {
		return roles.PaymentResult{}, err
	}
	defer in.exit()
	if err := in.authorizeOwn(ctx); err != nil {
		return roles.PaymentResult{}, err
	}
	if p.Amount == 0 {
		return roles.PaymentResult{}, errcode.New(errcode.Malformed, "amount must be positive")
	}
	if p.RefundOf != (money.TxID{}) {
		// A refund (refund.go): to the wallet that paid, which it names.
		if _, err := in.refundable(&p); err != nil {
			return roles.PaymentResult{}, err
		}
	}
	if p.To == "" {
		return roles.PaymentResult{}, errcode.New(errcode.Malformed, "no recipient wallet")
	}
	if p.From == p.To {
		return roles.PaymentResult{}, errcode.New(errcode.Malformed, "a wallet cannot pay itself")
	}
	if len(p.Reference) > MaxReferenceLen {
		return roles.PaymentResult{}, errcode.New(errcode.Malformed, "reference longer than %d bytes", MaxReferenceLen)
	}
	if !utf8.ValidString(p.Reference) {
		return roles.PaymentResult{}, errcode.New(errcode.Malformed, "reference: invalid UTF-8")
	}
	if err := checkIdempotencyKey(p.IdempotencyKey); err != nil {
		return roles.PaymentResult{}, err
	}
	if err := in.ownWallet(p.From); err != nil {
		return roles.PaymentResult{}, err
	}
	if p.IdempotencyKey != "" {
		return in.payOnce(ctx, p)
	}
	return in.pay(ctx, p)
}

// pay makes a checked payment. With an idempotency key, the caller holds
// the key's lock and no record of the key exists: reserving writes it
// (pending), and settling the spend settles it.
func (in *Intermediary) pay(ctx context.Context, p roles.Payment) (roles.PaymentResult, error) {
	from, key, err := in.signer(p.From)
	if err != nil {
		return roles.PaymentResult{}, err
	}

	// Where the money goes: a wallet here, or one a peer vouches for, and
	// the part of it the payee's linked deposit account takes (the
	// waterfall, paid to the payee intermediary's treasury).
	var plan roles.ReceivePlan
	pend := pendingRec{Kind: kindPay, From: p.From, To: p.To, Amount: p.Amount, Reference: p.Reference, IdemKey: p.IdempotencyKey, RefundOf: p.RefundOf}
	if name := roles.IntermediaryOf(p.To); name == in.cfg.Name {
		if plan.Lock, err = in.receiveLock(p.To); err != nil {
			return roles.PaymentResult{}, err
		}
		// The payee's side of the policy (limits.go), held until the
		// payment is credited or fails.
		release, split, err := in.admitIncoming(p.To, p.Amount)
		if err != nil {
			return roles.PaymentResult{}, err
		}
		defer release()
		if split.toAccount > 0 {
			if plan.OverflowLock, err = in.receiveLock(in.Treasury()); err != nil {
				return roles.PaymentResult{}, err
			}
			plan.Overflow = split.toAccount
			pend.PayeeAccount, pend.ToAccount = split.account, split.toAccount
		}
	} else {
		other, ok := in.peer(name)
		if !ok {
			return roles.PaymentResult{}, errcode.New(errcode.NotFound, "no intermediary %q for wallet %s", name, p.To)
		}
		if plan, err = in.peerPlan(ctx, other, p.To, p.Amount); err != nil {
			return roles.PaymentResult{}, err
		}
		pend.Peer, pend.Hold = name, plan.Hold
	}
	// Fraud and AML screening (screen.go), before anything is signed.
	if pend.screen, err = in.screenPay(&from, p, pend.Peer); err != nil {
		in.releaseHold(ctx, pend.Peer, pend.To, pend.Hold)
		if p.IdempotencyKey != "" && errcode.Is(err, errcode.Blocked) {
			in.rememberRejection(p, err) // definite, like insufficient funds
		}
		return roles.PaymentResult{}, err
	}
	return in.send(ctx, &from, key, &pend, plan)
}

// payPending pays pend (from a wallet here to a wallet here, its
// waterfall fields set by the caller): the sweep.
func (in *Intermediary) payPending(ctx context.Context, pend *pendingRec) (roles.PaymentResult, error) {
	from, key, err := in.signer(pend.From)
	if err != nil {
		return roles.PaymentResult{}, err
	}
	var plan roles.ReceivePlan
	if plan.Lock, err = in.receiveLock(pend.To); err != nil {
		return roles.PaymentResult{}, err
	}
	return in.send(ctx, &from, key, pend, plan)
}

// signer returns wallet id's record and key, which signs its spends.
func (in *Intermediary) signer(id string) (walletRec, crypto.Signer, error) {
	w, err := in.loadWallet(id)
	if err != nil {
		return walletRec{}, nil, err
	}
	key, err := in.key(&w)
	if err != nil {
		return walletRec{}, nil, err
	}
	return w, key, nil
}

// send reserves, submits and records the payment pend from wallet from,
// paying the amount as plan says, and delivers it when a peer's wallet
// is paid.
func (in *Intermediary) send(ctx context.Context, from *walletRec, key crypto.Signer, pend *pendingRec, plan roles.ReceivePlan) (roles.PaymentResult, error) {
	p := roles.Payment{From: pend.From, To: pend.To, Amount: pend.Amount}
	peer := pend.Peer
	ownLock := money.KeyLock(key.Public())
	tx, txid, err := in.reserve(ctx, from, key, p.Amount, pend, func(inputs []money.Note, sum uint64) *money.Tx {
		tx := &money.Tx{Kind: money.Transfer, Inputs: inputs}
		if v := p.Amount - plan.Overflow; v > 0 {
			tx.Outputs = append(tx.Outputs, money.Output{Value: v, Lock: plan.Lock})
		}
		if plan.Overflow > 0 {
			tx.Outputs = append(tx.Outputs, money.Output{Value: plan.Overflow, Lock: plan.OverflowLock})
		}
		if sum > p.Amount {
			tx.Outputs = append(tx.Outputs, money.Output{Value: sum - p.Amount, Lock: ownLock})
		}
		return tx
	})
	if err != nil {
		pend.screen.abort()
		in.releaseHold(ctx, pend.Peer, pend.To, pend.Hold) // nothing left: abandoned
		if pend.IdemKey != "" && errcode.Is(err, errcode.InsufficientFunds) {
			// Definite, and nothing was built: remember the rejection.
			in.rememberRejection(roles.Payment{From: pend.From, To: pend.To, Amount: pend.Amount, Reference: pend.Reference, IdempotencyKey: pend.IdemKey}, err)
		}
		return roles.PaymentResult{}, err
	}
	defer in.landed(txid)

	receipt, err := in.submit(ctx, tx)
	if err != nil {
		receipt, err = in.committedAnyway(ctx, txid, err)
	}
	if err != nil {
		err = in.settleFailure(txid, "payment", err)
		if errcode.Is(err, errcode.Unavailable) {
			in.wakeSettle()
			// Outcome unknown: say which transaction to watch. The
			// payee's hold stays: the payment may still commit.
			return roles.PaymentResult{TxID: txid, From: p.From, To: p.To, Amount: p.Amount}, err
		}
		in.releaseHold(ctx, pend.Peer, pend.To, pend.Hold) // rejected by the ledger
		return roles.PaymentResult{}, err
	}
	if peer != "" {
		// The payee's intermediary first (deliverFirst): when it has the
		// payment, the apply below writes no outbox entry.
		in.deliverFirst(ctx, txid, pend)
	}
	if err := in.applyCommitted(txid, tx, receipt.Batch, receipt.Index, nil, pend); err != nil {
		in.log.Error("payment committed but not recorded; will settle from the ledger", "txid", txid, "err", err)
		return roles.PaymentResult{}, internalErr("payment "+txid.String()+" committed, recording it failed", err)
	}
	if in.log.Enabled(ctx, slog.LevelDebug) { // spares boxing the arguments
		in.log.Debug("payment committed", "txid", txid, "from", p.From, "to", p.To, "amount", p.Amount, "batch", receipt.Batch)
	}
	return roles.PaymentResult{TxID: txid, Receipt: receipt, From: p.From, To: p.To, Amount: p.Amount}, nil
}

// checkIdempotencyKey admits "" (no key) and 1 to
// roles.MaxIdempotencyKeyLen printable ASCII characters.
func checkIdempotencyKey(k string) error {
	if len(k) > roles.MaxIdempotencyKeyLen {
		return errcode.New(errcode.Malformed, "idempotency key longer than %d characters", roles.MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return errcode.New(errcode.Malformed, "idempotency key: want printable ASCII characters, byte %d is 0x%02x", i, k[i])
		}
	}
	return nil
}

// fingerprint identifies a payment request for its idempotency key: a
// retry must ask for exactly the same payment.
func fingerprint(from, to string, amount uint64, reference string) string {
	h := sha256.New()
	h.Write([]byte("specie/payment-idempotency/v1\x00"))
	for _, s := range []string{from, to, reference} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	h.Write(binary.BigEndian.AppendUint64(nil, amount))
	return hex.EncodeToString(h.Sum(nil))
}

// payOnce is Pay with an idempotency key (onceByKey).
func (in *Intermediary) payOnce(ctx context.Context, p roles.Payment) (roles.PaymentResult, error) {
	return onceByKey(ctx, in, keyed[roles.PaymentResult]{
		what: "payment",
		key:  p.IdempotencyKey,
		fp:   withRefund(fingerprint(p.From, p.To, p.Amount, p.Reference), p.RefundOf),
		run:  func() (roles.PaymentResult, error) { return in.pay(ctx, p) },
		result: func(txid money.TxID, r roles.Receipt) roles.PaymentResult {
			return roles.PaymentResult{TxID: txid, Receipt: r, From: p.From, To: p.To, Amount: p.Amount}
		},
	})
}

// settleIdem asks the ledger about the pending spend txid, as the
// background loop would, unless it is still in flight.
func (in *Intermediary) settleIdem(ctx context.Context, txid money.TxID) error {
	var pend pendingRec
	found, err := getRec(in.db, pendingKey(txid), &pend)
	if err != nil {
		return internalErr("pending "+txid.String(), err)
	}
	if !found {
		return nil // settled meanwhile
	}
	return in.resolveOne(ctx, txid, &pend, false)
}

// loadIdem reads the record of an idempotency key. A settled record older
// than Config.IdempotencyRetention is expired: it reads as absent (the key
// pays anew, overwriting it) even before the background loop deletes it.
func (in *Intermediary) loadIdem(key string) (idemRec, bool, error) {
	var rec idemRec
	if !in.idems.mayHaveString(key) {
		return rec, false, nil // a new key: the common case, from memory
	}
	found, err := getRec(in.db, idemKey(key), &rec)
	if err != nil {
		return rec, false, internalErr("idempotency key", err)
	}
	if found && in.idemExpired(&rec) {
		return idemRec{}, false, nil
	}
	return rec, found, nil
}

// idemExpired reports whether rec is past its retention. A pending record
// never is: its payment could still commit.
func (in *Intermediary) idemExpired(rec *idemRec) bool {
	return rec.State != idemPending && in.cfg.Now().Sub(rec.Created) >= in.cfg.IdempotencyRetention
}

// expireIdem deletes the records of idempotency keys past their retention,
// walking the expiry index (oldest first) up to now minus the retention,
// so the keys' storage stays bounded by the payments of one retention
// period. It returns how many records it deleted.
func (in *Intermediary) expireIdem(ctx context.Context) (int, error) {
	limit := in.cfg.Now().Add(-in.cfg.IdempotencyRetention).UnixNano()
	if limit < 0 {
		return 0, nil
	}
	type item struct {
		ix  []byte
		key string
	}
	var items []item
	err := in.db.Scan([]byte(pIdemExpiry), nil, func(k, _ []byte) error {
		if len(k) < len(pIdemExpiry)+8 {
			return fmt.Errorf("idempotency expiry key of %d bytes", len(k))
		}
		if int64(binary.BigEndian.Uint64(k[len(pIdemExpiry):])) > limit || len(items) >= 4096 {
			return store.ErrStop // the rest is younger, or for the next round
		}
		items = append(items, item{ix: slices.Clone(k), key: string(k[len(pIdemExpiry)+8:])})
		return nil
	})
	if err != nil {
		return 0, internalErr("scan idempotency expiry", err)
	}
	n := 0
	for _, it := range items {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		deleted, err := in.expireOne(it.ix, it.key)
		if err != nil {
			return n, err
		}
		if deleted {
			n++
		}
	}
	return n, nil
}

// expireOne deletes key's record if it is the one index entry ix stands
// for and is expired, and the index entry unless the record is still
// pending. It holds the key's lock, so no attempt with the key runs.
func (in *Intermediary) expireOne(ix []byte, key string) (bool, error) {
	unlock, err := in.lockIdem(context.Background(), key)
	if err != nil {
		return false, err
	}
	defer unlock()
	var rec idemRec
	found, err := getRec(in.db, idemKey(key), &rec)
	if err != nil {
		return false, internalErr("idempotency key", err)
	}
	created := int64(binary.BigEndian.Uint64(ix[len(pIdemExpiry):]))
	if found && rec.State == idemPending && rec.Created.UnixNano() == created {
		return false, nil // kept, with its index entry, until settled
	}
	b := in.db.NewBatch()
	b.Delete(ix)
	deleted := false
	if found && rec.Created.UnixNano() == created && in.idemExpired(&rec) {
		b.Delete(idemKey(key))
		deleted = true
	}
	if err := b.Commit(false); err != nil {
		return false, internalErr("expire idempotency key", err)
	}
	if deleted {
		in.idems.removeString(key)
	}
	return deleted, nil
}

// rememberRejection records that the payment p, made with its idempotency
// key, was rejected with err before any transaction was built. Failing to
// record it is only logged: a retry then tries again, which is safe.
func (in *Intermediary) rememberRejection(p roles.Payment, err error) {
	rec := idemRec{Fingerprint: fingerprint(p.From, p.To, p.Amount, p.Reference), State: idemRejected, Created: in.now()}
	rejectInto(&rec, err)
	v, jerr := recBytes(rec)
	if jerr == nil {
		jerr = in.idemCreating(p.IdempotencyKey)
	}
	if jerr == nil {
		b := in.db.NewBatch()
		b.Set(idemKey(p.IdempotencyKey), v)
		b.Set(idemExpiryKey(rec.Created.UnixNano(), p.IdempotencyKey), nil)
		jerr = b.Commit(true)
	}
	if jerr != nil {
		in.log.Error("rejection not recorded with its idempotency key; a retry will try again", "err", jerr)
	}
}

// idemCreating is called before a batch that writes the record of
// idempotency key key commits, with the key's lock held: it adds the key
// to in.idems unless the store holds a record of it already (an expired
// one, which the batch overwrites). A batch that then fails to commit
// leaves the key counted, which only costs a store read.
func (in *Intermediary) idemCreating(key string) error {
	if in.idems.mayHaveString(key) {
		had, err := in.db.Has(idemKey(key))
		if err != nil {
			return internalErr("idempotency key", err)
		}
		if had {
			return nil
		}
	}
	in.idems.addString(key)
	return nil
}

// rejectInto marks rec rejected with err's code, message and status.
func rejectInto(rec *idemRec, err error) {
	rec.State = idemRejected
	var e *errcode.Error
	if errors.As(err, &e) {
		rec.Code, rec.Message, rec.Status = e.Code, e.Message, e.Status
		return
	}
	rec.Code, rec.Message = errcode.Of(err), err.Error()
}

// idemLock serialises the attempts of one idempotency key.
type idemLock struct {
	ch   chan struct{} // holds a token while an attempt runs
	refs int           // attempts holding or waiting; guarded by Intermediary.idemMu
}

// lockIdem waits until no other attempt with key runs, or ctx ends.
func (in *Intermediary) lockIdem(ctx context.Context, key string) (unlock func(), err error) {
	l := func() *idemLock {
		in.idemMu.Lock()
		defer in.idemMu.Unlock()
		l := in.idemLocks[key]
		if l == nil {
			l = &idemLock{ch: make(chan struct{}, 1)}
			in.idemLocks[key] = l
		}
		l.refs++
		return l
	}()
	release := func() {
		in.idemMu.Lock()
		defer in.idemMu.Unlock()
		if l.refs--; l.refs == 0 {
			delete(in.idemLocks, key)
		}
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// committedAnyway checks a double_spend answer, which also means "this very
// transaction is already committed" (a retried submission whose first try
// went through). Releasing the notes then would be wrong, so it asks the
// ledger: committed gives a receipt; unknown to the ledger keeps the
// rejection; no answer makes the outcome unknown.
func (in *Intermediary) committedAnyway(ctx context.Context, txid money.TxID, err error) (roles.Receipt, error) {
	if !errcode.Is(err, errcode.DoubleSpend) {
		return roles.Receipt{}, err
	}
	info, terr := in.ledger.Tx(in.asSelf(ctx), txid)
	switch {
	case terr == nil && info.Status == "committed":
		in.log.Warn("ledger answered double_spend for a transaction it has committed; treating it as committed", "txid", txid)
		return roles.Receipt{TxID: txid, Batch: info.Header.Seq, Index: info.Index}, nil
	case terr == nil || errcode.Is(terr, errcode.NotFound):
		return roles.Receipt{}, err
	}
	return roles.Receipt{}, errcode.New(errcode.Unavailable, "%v; and checking whether it committed failed: %v", err, terr)
}

// settleFailure handles a spend that did not come back committed. A
// definite rejection releases the notes and passes the error on unchanged;
// anything else (unreachable, timeout, internal) leaves the outcome unknown,
// so the notes stay reserved until the ledger says what happened.
func (in *Intermediary) settleFailure(txid money.TxID, what string, err error) error {
	if rejected(err) {
		if uerr := in.unreserve(txid, err); uerr != nil {
			in.log.Error(what+" rejected but notes not released; will settle from the ledger", "txid", txid, "err", uerr)
		}
		in.log.Debug(what+" rejected", "txid", txid, "code", errcode.Of(err), "err", err)
		return err
	}
	in.log.Warn(what+" outcome unknown; notes stay reserved until the ledger answers", "txid", txid, "err", err)
	return errcode.New(errcode.Unavailable, "%s %s: outcome unknown, it will be settled with the ledger (look it up with: specie tx show %s): %v", what, txid, txid, err)
}

// rejected reports whether err is a definite "no": an *errcode.Error other
// than unavailable or internal.
func rejected(err error) bool {
	var e *errcode.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code != errcode.Unavailable && e.Code != errcode.Internal
}

// reserve selects notes of wallet w covering amount, builds the transaction
// with build, signs every input with the wallet key, and durably marks the
// notes reserved together with a pending record, all under the wallet's
// lock so no two spends ever select the same note. The txid is marked in
// flight until landed is called.
//
// When the free notes fall short only because other spends of this wallet
// are in flight (their change has not come back yet), it waits for them to
// land and tries again rather than failing.
func (in *Intermediary) reserve(ctx context.Context, w *walletRec, key crypto.Signer, amount uint64, pend *pendingRec,
	build func(inputs []money.Note, sum uint64) *money.Tx) (*money.Tx, money.TxID, error) {
	ws := in.walletState(w.ID)
	looks := 0 // of the reverse waterfall, which asks to look again when the wallet changed
	for {
		changed, _ := in.waitable(ws) // taken before looking, so no landing is missed
		tx, txid, err := in.tryReserve(ws, w, key, amount, pend, build)
		if err == nil || !errcode.Is(err, errcode.InsufficientFunds) {
			return tx, txid, err
		}
		// Asked after looking: a spend that took off before we looked is
		// either still in flight (wait for it) or has landed (changed is
		// closed, look again).
		if _, busy := in.waitable(ws); !busy {
			select {
			case <-changed:
				continue
			default:
			}
			if in.canDraw(ws, pend) {
				// The reverse waterfall (waterfall.go). A wallet that holds
				// enough in too many notes to spend at once looks the same
				// as one whose change just came back: look again a few
				// times, no more.
				tx, txid, derr := in.reserveDraw(ws, w, key, amount, pend, build)
				if errors.Is(derr, errRetry) && looks < 3 {
					looks++
					continue
				}
				if !errors.Is(derr, errRetry) {
					return tx, txid, derr
				}
			}
			return nil, money.TxID{}, in.shortBecauseHeld(w.ID, amount, err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, money.TxID{}, errcode.New(errcode.Unavailable, "waiting for payments in flight from %s: %v", w.ID, ctx.Err())
		}
	}
}

func (in *Intermediary) tryReserve(ws *walletState, w *walletRec, key crypto.Signer, amount uint64, pend *pendingRec,
	build func(inputs []money.Note, sum uint64) *money.Tx) (*money.Tx, money.TxID, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()

	pend.Created = in.now()
	// The payer's side of the policy (limits.go): decided under the lock
	// that reserves the notes.
	counted, err := in.admitSpend(ws, w.ID, pend)
	if err != nil {
		return nil, money.TxID{}, err
	}
	if pend.RefundOf != (money.TxID{}) {
		// What is left to refund, before whether the notes cover it
		// (refund.go); putPending claims it.
		if err := in.claimRefund(nil, pend, money.TxID{}); err != nil {
			return nil, money.TxID{}, err
		}
	}
	if err := in.loadNotes(ws, w.ID); err != nil {
		return nil, money.TxID{}, err
	}
	inputs, sum, err := selectNotes(ws.notes, amount, in.cfg.Network.Currency)
	if err != nil {
		return nil, money.TxID{}, err
	}
	tx := build(inputs, sum)
	tx.InputSigs = make([]money.Sig, len(tx.Inputs))
	if err := tx.Check(); err != nil {
		return nil, money.TxID{}, internalErr("build transaction", err)
	}
	txid := in.cfg.Network.TxID(tx)
	if err := in.signInputs(tx, txid, func(int) crypto.Signer { return key }); err != nil {
		// Before anything is reserved: a key on an HSM that cannot
		// sign right now leaves the wallet as it was.
		return nil, money.TxID{}, errcode.New(errcode.Unavailable, "wallet %s cannot sign right now: %v", w.ID, err)
	}
	if pend.Tx, err = tx.MarshalBinary(); err != nil {
		return nil, money.TxID{}, internalErr("encode transaction", err)
	}
	// The pending record is the inputs' reservation (notes.go): their
	// records are not rewritten.
	b := in.db.NewBatch()
	if err := in.putPending(b, pend, txid); err != nil {
		b.Discard()
		return nil, money.TxID{}, err
	}
	if counted {
		b.Set(spendKey(w.ID, pend.Created.UnixNano(), txid), binary.BigEndian.AppendUint64(nil, pend.Amount))
	}
	if err := in.screenReserveInto(b, txid, pend); err != nil {
		b.Discard()
		return nil, money.TxID{}, internalErr("screening alerts", err)
	}
	in.takeoff(txid, w.ID) // before the record is visible, so the resolver leaves it alone
	if err := b.Commit(true); err != nil {
		in.landed(txid)
		return nil, money.TxID{}, internalErr("reserve notes", err)
	}
	for _, n := range inputs { // under ws.mu, as the commit
		ws.notes[idOf(n)] = noteRec{Note: n, State: stateReserved, For: txid}
	}
	if counted {
		ws.win.spend(pend.Created.UnixNano(), pend.Amount)
	}
	return tx, txid, nil
}

// pendingIdem is the idempotency record reserve writes for the spend
// pend, txid: pending on it.
func pendingIdem(pend *pendingRec, txid money.TxID) idemRec {
	return idemRec{Fingerprint: withRefund(fingerprint(pend.From, pend.To, pend.Amount, pend.Reference), pend.RefundOf),
		State: idemPending, TxID: txid, Created: pend.Created}
}

// signInputs signs tx's inputs, input i with keyFor(i), once per lock:
// every input signs the same txid, so the one signature of a key serves all
// the inputs locked to it (Ed25519 signatures are deterministic, on an HSM
// too, and any valid one would do). A payment from notes received one by
// one (a shop paying a supplier) spends many notes; each signature more
// costs about 25 µs in memory, 550 on SoftHSM2.
func (in *Intermediary) signInputs(tx *money.Tx, txid money.TxID, keyFor func(i int) crypto.Signer) error {
	for i, n := range tx.Inputs {
		if j := slices.IndexFunc(tx.Inputs[:i], func(m money.Note) bool { return m.Lock == n.Lock }); j >= 0 {
			tx.InputSigs[i] = tx.InputSigs[j]
			continue
		}
		sig, err := keyFor(i).TrySign(crypto.Spend, in.cfg.Network.ID, txid)
		if err != nil {
			return err
		}
		tx.InputSigs[i] = sig
	}
	return nil
}

// selectNotes picks unspent notes covering amount: the smallest single note
// that covers it if there is one (least change, fewest inputs), otherwise the
// largest notes first, at most money.MaxInputs of them.
// Among notes of equal value the first in store key order (txid, index)
// goes first, so the choice is a function of the wallet's notes, never of
// map order. It reads the wallet's note index in place (the caller holds
// its lock): the common payment, covered by one note, copies nothing.
func selectNotes(notes map[noteID]noteRec, amount uint64, cur money.Currency) ([]money.Note, uint64, error) {
	var total uint64
	var best money.Note
	found, unspent := false, 0
	for _, r := range notes {
		if r.State != stateUnspent {
			continue
		}
		unspent++
		t, err := money.Add(total, r.Note.Value)
		if err != nil {
			t = ^uint64(0) // more than any amount; the sum below is bounded by MaxInputs notes
		}
		total = t
		if n := r.Note; n.Value >= amount && (!found || n.Value < best.Value || n.Value == best.Value && compareKeys(n, best) < 0) {
			best, found = n, true
		}
	}
	if total < amount {
		return nil, 0, errcode.New(errcode.InsufficientFunds, "available %s %s is less than %s", cur.Format(total), cur.Code, cur.Format(amount))
	}
	if found {
		return []money.Note{best}, best.Value, nil
	}
	avail := make([]money.Note, 0, unspent)
	for _, r := range notes {
		if r.State == stateUnspent {
			avail = append(avail, r.Note)
		}
	}
	slices.SortFunc(avail, func(a, b money.Note) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 { // the largest first
			return c
		}
		return compareKeys(a, b)
	})
	var sum uint64
	for i := 0; i < len(avail) && i < money.MaxInputs; i++ {
		s, err := money.Add(sum, avail[i].Value)
		if err != nil {
			return nil, 0, errcode.New(errcode.Malformed, "amount %d too large to pay from these notes", amount)
		}
		sum = s
		if sum >= amount {
			return avail[: i+1 : i+1], sum, nil
		}
	}
	return nil, 0, errcode.New(errcode.InsufficientFunds,
		"%d would need more than %d notes; the %d largest hold %d", amount, money.MaxInputs, money.MaxInputs, sum)
}

// shortBecauseHeld turns insufficient, an insufficient_funds answer for
// paying amount from wallet, into unavailable when the wallet's notes held
// by spends of unknown outcome (the ledger did not answer) would cover the
// difference: then the funds are not known to be short, they are only not
// settled yet, and a retry once the ledger answers may well pay.
func (in *Intermediary) shortBecauseHeld(wallet string, amount uint64, insufficient error) error {
	ws := in.walletState(wallet)
	ws.mu.Lock()
	notes, err := in.walletNotes(ws, wallet)
	ws.mu.Unlock()
	if err != nil {
		return insufficient
	}
	var free, held uint64
	pending := map[money.TxID]bool{}
	for _, n := range notes {
		switch n.State {
		case stateUnspent:
			free = addSat(free, n.Note.Value)
		case stateReserved:
			held = addSat(held, n.Note.Value)
			pending[n.For] = true
		}
	}
	if held == 0 || addSat(free, held) < amount {
		return insufficient
	}
	cur := in.cfg.Network.Currency
	in.wakeSettle()
	return errcode.New(errcode.Unavailable,
		"%s %s of wallet %s is held by %d payment(s) whose outcome the ledger has not confirmed yet (it may be unreachable); "+
			"%s %s is available now; retry shortly, once they settle", cur.Format(held), cur.Code, wallet, len(pending), cur.Format(free), cur.Code)
}

// addSat adds, saturating at the largest uint64 (for comparisons only).
func addSat(a, b uint64) uint64 {
	if s, err := money.Add(a, b); err == nil {
		return s
	}
	return ^uint64(0)
}

// takeoff marks txid, a spend from wallet, as awaiting its outcome.
func (in *Intermediary) takeoff(txid money.TxID, wallet string) {
	ws := in.walletState(wallet)
	in.walletMu.Lock()
	defer in.walletMu.Unlock()
	in.inflight[txid] = wallet
	ws.inflight++
}

// landed ends what takeoff began and wakes payments waiting on the wallet,
// and the settle loop if it passed the spend by (passBy) and the spend is
// still pending.
func (in *Intermediary) landed(txid money.TxID) {
	passed := func() bool {
		in.walletMu.Lock()
		defer in.walletMu.Unlock()
		wallet, ok := in.inflight[txid]
		if !ok {
			return false
		}
		delete(in.inflight, txid)
		if ws := in.wallets[wallet]; ws != nil {
			ws.inflight--
			close(ws.changed)
			ws.changed = make(chan struct{})
		}
		_, passed := in.passed[txid]
		delete(in.passed, txid)
		return passed
	}()
	if passed {
		if pending, err := in.db.Has(pendingKey(txid)); pending || err != nil {
			in.wakeSettle()
		}
	}
}

// passBy reports whether txid is in flight, to be left to whoever holds
// it; with mark, its landing will wake the settle loop if still pending.
func (in *Intermediary) passBy(txid money.TxID, mark bool) bool {
	in.walletMu.Lock()
	defer in.walletMu.Unlock()
	if _, ok := in.inflight[txid]; !ok {
		return false
	}
	if mark {
		in.passed[txid] = struct{}{}
	}
	return true
}

// claim marks txid, a pending spend from wallet, in flight unless it
// already is, and reports whether it did: whoever claims a spend is the
// only one to act on it until it calls landed.
func (in *Intermediary) claim(txid money.TxID, wallet string) bool {
	ws := in.walletState(wallet)
	in.walletMu.Lock()
	defer in.walletMu.Unlock()
	if _, ok := in.inflight[txid]; ok {
		return false
	}
	in.inflight[txid] = wallet
	ws.inflight++
	return true
}

// waitable returns a channel closed when a spend of the wallet lands, and
// whether any spend of it is in flight at all.
func (in *Intermediary) waitable(ws *walletState) (<-chan struct{}, bool) {
	in.walletMu.Lock()
	defer in.walletMu.Unlock()
	return ws.changed, ws.inflight > 0
}

func (in *Intermediary) peer(name string) (roles.Intermediary, bool) {
	if in.peers == nil || name == "" || name == in.cfg.Name {
		return nil, false
	}
	p, ok := in.peers(name)
	if !ok || p == nil {
		return nil, false
	}
	return p, true
}

// cloneTx copies a transaction so a callee may add signatures without
// touching the caller's copy.
func cloneTx(tx *money.Tx) *money.Tx {
	c := *tx
	c.Inputs = slices.Clone(tx.Inputs)
	c.Outputs = slices.Clone(tx.Outputs)
	c.InputSigs = slices.Clone(tx.InputSigs)
	c.Auth = slices.Clone(tx.Auth)
	return &c
}
