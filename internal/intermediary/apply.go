package intermediary

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
	"github.com/specie/specie/roles"
)

// Deliver hands over a committed transaction that pays this intermediary's
// wallets. The ledger must confirm it is committed; then every output whose
// lock belongs to a wallet here is credited to that wallet, once per
// (txid, output index) however often it is delivered. Outputs for locks
// unknown here are ignored.
func (in *Intermediary) Deliver(ctx context.Context, tx *money.Tx) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return err
	}
	return in.deliver(ctx, roles.Delivery{Tx: tx})
}

// DeliverBatch is Deliver for many transactions, each with the payment's
// memo when the payer's intermediary gives one: the payee's history line
// then names the payer's wallet and carries the reference. A memo must
// come from the payer's own intermediary (its From names a wallet of the
// caller) and its To must be a wallet paid by the transaction here;
// otherwise the delivery is malformed. It implements roles.BatchDeliverer.
func (in *Intermediary) DeliverBatch(ctx context.Context, ds []roles.Delivery) ([]error, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	if err := in.authorizeParticipant(ctx); err != nil {
		return nil, err
	}
	caller, _ := roles.Caller(ctx)
	out := make([]error, len(ds))
	for i, d := range ds {
		if err := checkMemo(d.Memo, caller.Name); err != nil {
			out[i] = err
			continue
		}
		out[i] = in.deliver(ctx, d)
	}
	return out, nil
}

// checkMemo admits no memo, or one whose payer is a wallet of caller.
func checkMemo(m *roles.Memo, caller string) error {
	if m == nil {
		return nil
	}
	switch {
	case m.From == "" || m.To == "":
		return errcode.New(errcode.Malformed, "memo: want from and to wallets")
	case roles.IntermediaryOf(m.From) != caller:
		return errcode.New(errcode.Malformed, "memo: payer %s is not a wallet of %s, which delivers it", m.From, caller)
	case len(m.From) > MaxOwnerLen || len(m.To) > MaxOwnerLen || !utf8.ValidString(m.From) || !utf8.ValidString(m.To):
		return errcode.New(errcode.Malformed, "memo: wallet ids too long or not UTF-8")
	case len(m.Reference) > MaxReferenceLen || !utf8.ValidString(m.Reference):
		return errcode.New(errcode.Malformed, "memo: reference longer than %d bytes or not UTF-8", MaxReferenceLen)
	}
	return nil
}

func (in *Intermediary) deliver(ctx context.Context, d roles.Delivery) error {
	tx := d.Tx
	if tx == nil {
		return errcode.New(errcode.Malformed, "no transaction")
	}
	if err := tx.Check(); err != nil {
		return errcode.New(errcode.Malformed, "%v", err)
	}
	txid := in.cfg.Network.TxID(tx)
	info, err := in.ledger.Tx(in.asSelf(ctx), txid)
	if err != nil {
		if errcode.Is(err, errcode.NotFound) {
			return errcode.New(errcode.NotFound, "transaction %s is not committed on the ledger", txid)
		}
		return err
	}
	if info.Status != "committed" || (info.TxID != money.TxID{} && info.TxID != txid) {
		return errcode.New(errcode.Conflict, "transaction %s: ledger reports status %q", txid, info.Status)
	}
	if err := in.applyCommitted(txid, tx, info.Header.Seq, info.Index, d.Memo); err != nil {
		return internalErr("deliver "+txid.String(), err)
	}
	return nil
}

// applyCommitted records a transaction the ledger has committed, in one
// atomic store batch: notes of ours it spends are removed, outputs paying
// wallets here are credited unless already credited, and history is
// written. When the transaction is one of our pending spends, its pending
// record is removed and, if a peer's wallet is paid, an outbox entry is
// added, and its idempotency key, if any, remembers the receipt (batch and
// index in it). Applying the same transaction again changes nothing. A
// delivered payment's memo, if any, gives the payee's history line its
// counterparty and reference.
func (in *Intermediary) applyCommitted(txid money.TxID, tx *money.Tx, batch uint64, index uint32, memo *roles.Memo) error {
	m := in.txLock(txid)
	m.Lock()
	defer m.Unlock()

	var pend pendingRec
	hasPend, err := getJSON(in.db, pendingKey(txid), &pend)
	if err != nil {
		return fmt.Errorf("pending %s: %w", txid, err)
	}
	b := in.db.NewBatch()
	writes := false
	now := in.now()

	for _, n := range tx.Inputs {
		w, err := in.walletOfLock(n.Lock)
		if err != nil {
			b.Discard()
			return err
		}
		if w == "" {
			continue
		}
		k := noteKey(w, n.TxID, n.Index)
		ok, err := in.db.Has(k)
		if err != nil {
			b.Discard()
			return err
		}
		if ok {
			b.Delete(k)
			writes = true
		}
	}

	var order []string
	credited := map[string]uint64{}
	for i, o := range tx.Outputs {
		w, err := in.walletOfLock(o.Lock)
		if err != nil {
			b.Discard()
			return err
		}
		if w == "" {
			continue
		}
		dk := doneKey(txid, uint32(i))
		done, err := in.db.Has(dk)
		if err != nil {
			b.Discard()
			return err
		}
		if done {
			continue
		}
		r := noteRec{Note: money.Note{TxID: txid, Index: uint32(i), Output: o}, State: stateUnspent}
		b.Set(noteKey(w, txid, uint32(i)), r.encode())
		b.Set(dk, []byte(w))
		if _, seen := credited[w]; !seen {
			order = append(order, w)
		}
		if credited[w], err = money.Add(credited[w], o.Value); err != nil {
			b.Discard()
			return err
		}
		writes = true
	}

	if hasPend {
		e := roles.Entry{TxID: txid, Direction: "out", Amount: pend.Amount, Counterparty: pend.To,
			Reference: pend.Reference, Batch: batch, Time: now}
		if err := setEntry(b, pend.From, e); err != nil {
			b.Discard()
			return err
		}
		b.Delete(pendingKey(txid))
		if pend.Peer != "" {
			ov, err := jsonBytes(outboxRec{Peer: pend.Peer, Tx: pend.Tx, From: pend.From, To: pend.To, Ref: pend.Reference, Created: now})
			if err != nil {
				b.Discard()
				return err
			}
			b.Set(outboxKey(txid), ov)
		}
		if err := in.settleIdemRec(b, pend.IdemKey, txid, func(r *idemRec) {
			r.State, r.Receipt = idemCommitted, roles.Receipt{TxID: txid, Batch: batch, Index: index}
		}); err != nil {
			b.Discard()
			return err
		}
		writes = true
	}
	for _, w := range order {
		if hasPend && w == pend.From {
			continue // change
		}
		e := roles.Entry{TxID: txid, Direction: "in", Amount: credited[w], Batch: batch, Time: now}
		switch {
		case hasPend:
			e.Counterparty, e.Reference = pend.From, pend.Reference
		case memo != nil && memo.To == w:
			e.Counterparty, e.Reference = memo.From, memo.Reference
		case tx.Kind == money.Mint:
			e.Reference = "mint"
		}
		if err := setEntry(b, w, e); err != nil {
			b.Discard()
			return err
		}
	}

	if !writes {
		b.Discard()
		return nil
	}
	// One of our own spends is not synced: its pending record, synced
	// before the transaction left, stays until this batch is applied, and
	// if a crash forgets the batch, Open (or the settle loop) asks the
	// ledger and applies it again, the idempotency key still pending on it.
	// A payment's answer "committed" rests on the ledger's durability, not
	// on this write. A delivery from elsewhere is synced before it is
	// acknowledged: the sender then forgets it.
	if err := b.Commit(!hasPend); err != nil {
		return err
	}
	for _, w := range order {
		if !(hasPend && w == pend.From) {
			in.log.Debug("wallet credited", "wallet", w, "txid", txid, "amount", credited[w])
		}
	}
	return nil
}

func setEntry(b interface{ Set(k, v []byte) }, wallet string, e roles.Entry) error {
	v, err := jsonBytes(e)
	if err != nil {
		return err
	}
	b.Set(historyKey(wallet, e.Time.UnixNano(), e.TxID, e.Direction), v)
	return nil
}

// unreserve releases the notes of a pending spend that did not commit and
// drops the pending record, leaving the wallet exactly as before the spend.
// A payment's idempotency key remembers rejection, the ledger's definite
// "no"; when rejection is nil (the ledger never committed it) the key is
// released, so a retry pays.
func (in *Intermediary) unreserve(txid money.TxID, rejection error) error {
	m := in.txLock(txid)
	m.Lock()
	defer m.Unlock()

	var pend pendingRec
	ok, err := getJSON(in.db, pendingKey(txid), &pend)
	if err != nil || !ok {
		return err
	}
	var tx money.Tx
	if err := tx.UnmarshalBinary(pend.Tx); err != nil {
		return fmt.Errorf("pending %s: %w", txid, err)
	}
	b := in.db.NewBatch()
	for _, n := range tx.Inputs {
		k := noteKey(pend.From, n.TxID, n.Index)
		v, err := in.db.Get(k)
		if err != nil {
			continue // gone: nothing to release
		}
		r, err := decodeNote(k, v)
		if err != nil {
			b.Discard()
			return err
		}
		if r.State == stateReserved && r.For == txid {
			r.State, r.For = stateUnspent, money.TxID{}
			b.Set(k, r.encode())
		}
	}
	b.Delete(pendingKey(txid))
	if err := in.settleIdemRec(b, pend.IdemKey, txid, func(r *idemRec) {
		if rejection == nil {
			r.State = "" // released
			return
		}
		rejectInto(r, rejection)
	}); err != nil {
		b.Discard()
		return err
	}
	return b.Commit(true)
}

// settleIdemRec adds to b the update of the idempotency record key, if it
// is pending on txid, by set; a record set to state "" is deleted.
func (in *Intermediary) settleIdemRec(b *store.Batch, key string, txid money.TxID, set func(*idemRec)) error {
	if key == "" {
		return nil
	}
	var rec idemRec
	found, err := getJSON(in.db, idemKey(key), &rec)
	if err != nil {
		return fmt.Errorf("idempotency key of %s: %w", txid, err)
	}
	if !found || rec.State != idemPending || rec.TxID != txid {
		return nil
	}
	set(&rec)
	if rec.State == "" {
		b.Delete(idemKey(key))
		return nil
	}
	v, err := jsonBytes(rec)
	if err != nil {
		return err
	}
	b.Set(idemKey(key), v)
	return nil
}

// ResolvePending settles spends whose outcome is unknown (the ledger or the
// issuer could not be reached, or the process stopped mid-spend) by asking
// the ledger: committed spends are finished, spends the ledger never saw
// are released once older than Config.SettleAfter. It returns an error if
// any spend could not be settled yet.
func (in *Intermediary) ResolvePending(ctx context.Context) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	return in.resolvePending(ctx, false)
}

// resolvePending settles every pending spend not in flight. With resubmit,
// a payment the ledger has not seen is submitted again instead of waiting
// for Config.SettleAfter (see resolveOne).
func (in *Intermediary) resolvePending(ctx context.Context, resubmit bool) error {
	type item struct {
		txid money.TxID
		rec  pendingRec
	}
	var items []item
	err := in.db.Scan([]byte(pPending), nil, func(k, v []byte) error {
		var it item
		copy(it.txid[:], k[len(pPending):])
		if err := jsonUnmarshal(v, &it.rec); err != nil {
			return err
		}
		items = append(items, it)
		return nil
	})
	if err != nil {
		return internalErr("scan pending", err)
	}
	var errs []error
	for _, it := range items {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if in.isInflight(it.txid) {
			continue
		}
		if err := in.resolveOne(ctx, it.txid, &it.rec, resubmit); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", it.txid, err))
		}
	}
	if len(errs) > 0 {
		return errcode.New(errcode.Unavailable, "%d pending spends not settled: %v", len(errs), errors.Join(errs...))
	}
	return nil
}

// resolveOne settles the pending spend txid by asking the ledger: a
// committed spend is applied; one the ledger has not seen is released once
// older than Config.SettleAfter (a copy still on its way could commit
// before that) or, with resubmit and for a payment, submitted again: the
// transaction is signed and its notes stay reserved for it, so it commits
// once or is rejected, and either is final at once. The caller claims the
// spend for the time it acts, so no payment attempt or other settler acts
// on it meanwhile.
func (in *Intermediary) resolveOne(ctx context.Context, txid money.TxID, rec *pendingRec, resubmit bool) error {
	if !in.claim(txid, rec.From) {
		return errors.New("still in flight")
	}
	defer in.landed(txid)
	info, err := in.ledger.Tx(in.asSelf(ctx), txid)
	if errcode.Is(err, errcode.NotFound) && resubmit && rec.Kind == kindPay {
		return in.resubmit(ctx, txid, rec)
	}
	switch {
	case err == nil && info.Status == "committed":
		var tx money.Tx
		if err := tx.UnmarshalBinary(rec.Tx); err != nil {
			return err
		}
		if err := in.applyCommitted(txid, &tx, info.Header.Seq, info.Index, nil); err != nil {
			return err
		}
		in.log.Info("pending spend settled: committed", "txid", txid, "kind", rec.Kind)
		if rec.Peer != "" {
			in.deliverOne(ctx, txid)
		}
		return nil
	case errcode.Is(err, errcode.NotFound):
		if age := in.cfg.Now().Sub(rec.Created); age < in.cfg.SettleAfter {
			return fmt.Errorf("not on the ledger yet after %s; waiting %s before releasing its notes", age.Round(time.Millisecond), in.cfg.SettleAfter)
		}
		if err := in.unreserve(txid, nil); err != nil {
			return err
		}
		in.log.Info("pending spend settled: never committed, notes released", "txid", txid, "kind", rec.Kind)
		return nil
	case err == nil:
		return fmt.Errorf("ledger reports status %q", info.Status)
	}
	return err
}

// resubmit submits the pending payment txid again and applies the answer:
// committed (also when the ledger says double_spend because it already
// has it), or a definite rejection, which releases the notes and settles
// the idempotency key with the rejection. No answer leaves it pending.
func (in *Intermediary) resubmit(ctx context.Context, txid money.TxID, rec *pendingRec) error {
	var tx money.Tx
	if err := tx.UnmarshalBinary(rec.Tx); err != nil {
		return err
	}
	receipt, err := in.ledger.Submit(in.asSelf(ctx), cloneTx(&tx))
	if err != nil {
		receipt, err = in.committedAnyway(ctx, txid, err)
	}
	if err != nil {
		if !rejected(err) {
			return err
		}
		if uerr := in.unreserve(txid, err); uerr != nil {
			return uerr
		}
		in.log.Info("pending payment settled: resubmitted and rejected, notes released", "txid", txid, "code", errcode.Of(err))
		return nil
	}
	if err := in.applyCommitted(txid, &tx, receipt.Batch, receipt.Index, nil); err != nil {
		return err
	}
	in.log.Info("pending payment settled: resubmitted and committed", "txid", txid)
	if rec.Peer != "" {
		in.deliverOne(ctx, txid)
	}
	return nil
}

// wakeSettle tells the settle loop that a spend's outcome is unknown.
func (in *Intermediary) wakeSettle() {
	select {
	case in.unsettled <- struct{}{}:
	default:
	}
}

// settleLoop settles spends of unknown outcome soon after the ledger can
// answer again: woken when one is left pending, it tries every pending
// spend, and while some remain it tries again after a pause that starts
// at 20 ms and doubles up to Config.SettleBackoff. It resubmits payments
// the ledger has not seen (see resolveOne).
func (in *Intermediary) settleLoop(ctx context.Context) {
	defer close(in.settleDone)
	if in.cfg.RetryInterval < 0 {
		return
	}
	const first = 20 * time.Millisecond
	pause := first
	for {
		select {
		case <-ctx.Done():
			return
		case <-in.unsettled:
		}
		for {
			if err := in.enter(); err != nil {
				return
			}
			err := in.resolvePending(ctx, true)
			in.exit()
			if err == nil || ctx.Err() != nil {
				pause = first
				break
			}
			in.log.Debug("spends still unsettled", "err", err, "retry_in", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, in.cfg.SettleBackoff)
		}
	}
}

// RetryDeliveries hands every committed payment not yet accepted by the
// recipient's intermediary over again. It returns an error naming how many
// remain undelivered.
func (in *Intermediary) RetryDeliveries(ctx context.Context) error {
	if err := in.enter(); err != nil {
		return err
	}
	defer in.exit()
	return in.retryDeliveries(ctx)
}

func (in *Intermediary) retryDeliveries(ctx context.Context) error {
	var ids []money.TxID
	err := in.db.Scan([]byte(pOutbox), nil, func(k, _ []byte) error {
		var id money.TxID
		copy(id[:], k[len(pOutbox):])
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return internalErr("scan outbox", err)
	}
	left := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !in.deliverOne(ctx, id) {
			left++
		}
	}
	if left > 0 {
		return errcode.New(errcode.Unavailable, "%d of %d deliveries still pending", left, len(ids))
	}
	return nil
}

// deliverOne tries once to hand the outbox entry txid to its peer and
// reports whether it is delivered (or was already).
func (in *Intermediary) deliverOne(ctx context.Context, txid money.TxID) bool {
	var rec outboxRec
	found, err := getJSON(in.db, outboxKey(txid), &rec)
	if err != nil {
		in.log.Error("reading outbox", "txid", txid, "err", err)
		return false
	}
	if !found {
		return true
	}
	// The peer is called without holding any lock: two attempts may
	// overlap, which Deliver's idempotence makes harmless.
	err = in.tryDeliver(ctx, &rec)

	m := in.txLock(txid)
	m.Lock()
	defer m.Unlock()
	if err == nil {
		// Not synced: if a crash forgets the removal, the payment is
		// delivered again, which credits nothing twice.
		b := in.db.NewBatch()
		b.Delete(outboxKey(txid))
		if cerr := b.Commit(false); cerr != nil {
			in.log.Error("delivered but outbox entry not removed; it will be delivered again", "txid", txid, "err", cerr)
		}
		in.log.Debug("payment delivered", "txid", txid, "peer", rec.Peer, "attempts", rec.Attempts+1)
		return true
	}
	in.log.Warn("delivery failed; will retry", "txid", txid, "peer", rec.Peer, "attempts", rec.Attempts+1, "err", err)
	// Count the attempt unless another attempt delivered it meanwhile.
	var cur outboxRec
	if still, gerr := getJSON(in.db, outboxKey(txid), &cur); gerr != nil || !still {
		return !still && gerr == nil
	}
	cur.Attempts++
	cur.LastErr = err.Error()
	if v, jerr := jsonBytes(cur); jerr == nil {
		b := in.db.NewBatch()
		b.Set(outboxKey(txid), v)
		if cerr := b.Commit(false); cerr != nil {
			in.log.Error("updating outbox", "txid", txid, "err", cerr)
		}
	}
	return false
}

func (in *Intermediary) tryDeliver(ctx context.Context, rec *outboxRec) error {
	p, ok := in.peer(rec.Peer)
	if !ok {
		return errcode.New(errcode.NotFound, "no intermediary %q", rec.Peer)
	}
	var tx money.Tx
	if err := tx.UnmarshalBinary(rec.Tx); err != nil {
		return err
	}
	bd, ok := p.(roles.BatchDeliverer)
	if !ok || rec.From == "" {
		return p.Deliver(in.asSelf(ctx), &tx)
	}
	errs, err := bd.DeliverBatch(in.asSelf(ctx), []roles.Delivery{{Tx: &tx, Memo: &roles.Memo{From: rec.From, To: rec.To, Reference: rec.Ref}}})
	if err != nil {
		return err
	}
	if len(errs) != 1 {
		return errcode.New(errcode.Internal, "peer %s answered %d results for 1 delivery", rec.Peer, len(errs))
	}
	return errs[0]
}

// Outbox lists the txids of committed payments not yet accepted by the
// recipient's intermediary.
func (in *Intermediary) Outbox() ([]money.TxID, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	var ids []money.TxID
	err := in.db.Scan([]byte(pOutbox), nil, func(k, _ []byte) error {
		var id money.TxID
		copy(id[:], k[len(pOutbox):])
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, internalErr("scan outbox", err)
	}
	return ids, nil
}

// Pending lists the txids of spends whose outcome is not yet settled.
func (in *Intermediary) Pending() ([]money.TxID, error) {
	if err := in.enter(); err != nil {
		return nil, err
	}
	defer in.exit()
	var ids []money.TxID
	err := in.db.Scan([]byte(pPending), nil, func(k, _ []byte) error {
		var id money.TxID
		copy(id[:], k[len(pPending):])
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, internalErr("scan pending", err)
	}
	return ids, nil
}
