package intermediary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	var items []delivered
	seen := make(map[money.TxID]bool, len(ds))
	var checked []roles.Delivery
	var pos []int // pos[k] is the position in ds of checked[k]
	for i, d := range ds {
		if err := checkMemo(d.Memo, caller.Name); err != nil {
			out[i] = err
			continue
		}
		checked, pos = append(checked, d), append(pos, i)
	}
	its, errs := in.checkDeliveries(ctx, checked)
	for k, it := range its {
		i := pos[k]
		if errs[k] != nil {
			out[i] = errs[k]
			continue
		}
		if seen[it.txid] {
			continue // the same transaction again: delivered with the first
		}
		seen[it.txid] = true
		it.pos = i
		items = append(items, it)
	}
	if err := in.applyDelivered(items); err != nil {
		for _, it := range items {
			out[it.pos] = internalErr("deliver "+it.txid.String(), err)
		}
	}
	return out, nil
}

// delivered is a delivery the ledger confirmed, ready to apply.
type delivered struct {
	pos   int // in the request
	txid  money.TxID
	tx    *money.Tx
	batch uint64
	index uint32
	memo  *roles.Memo
}

// applyDelivered applies many delivered transactions (distinct txids) in
// one store batch with one sync, holding their locks, so a batch of
// deliveries costs one fsync, not one each.
func (in *Intermediary) applyDelivered(items []delivered) error {
	if len(items) == 0 {
		return nil
	}
	stripes := make([]int, 0, len(items))
	for _, it := range items {
		stripes = append(stripes, txStripe(it.txid))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes { // in order: two batches never wait for each other in a cycle
		in.txLocks[i].Lock()
	}
	defer func() {
		for _, i := range stripes {
			in.txLocks[i].Unlock()
		}
	}()
	b := in.db.NewBatch()
	as := make([]applied, len(items))
	writes := false
	var all noteChanges
	for k, it := range items {
		a, err := in.applyInto(b, it.txid, it.tx, it.batch, it.index, it.memo, nil)
		if err != nil {
			b.Discard()
			return err
		}
		as[k], writes = a, writes || a.writes
		all.merge(&a.notes)
	}
	if !writes {
		b.Discard()
		return nil
	}
	if err := in.commitIndexed(b, true, &all); err != nil {
		return err
	}
	for k, it := range items {
		as[k].log(in.log, it.txid)
		in.overLimit(as[k].order)
	}
	return nil
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
	case m.Request != "" && checkRequestID(m.Request) != nil:
		return errcode.New(errcode.Malformed, "memo: request id longer than %d bytes or not UTF-8", MaxRequestIDLen)
	}
	return checkHoldID("memo: hold", m.Hold)
}

func (in *Intermediary) deliver(ctx context.Context, d roles.Delivery) error {
	it, err := in.checkDelivery(ctx, d)
	if err != nil {
		return err
	}
	if err := in.applyCommitted(it.txid, it.tx, it.batch, it.index, d.Memo, nil); err != nil {
		return internalErr("deliver "+it.txid.String(), err)
	}
	return nil
}

// checkDelivery checks a delivered transaction's format and that the
// ledger has committed it.
func (in *Intermediary) checkDelivery(ctx context.Context, d roles.Delivery) (delivered, error) {
	its, errs := in.checkDeliveries(ctx, []roles.Delivery{d})
	return its[0], errs[0]
}

// checkDeliveries is checkDelivery for each of ds, asking the ledger about
// all of them at once (confirm). A delivery that fails its checks has its
// error at its position; its delivered is then empty.
func (in *Intermediary) checkDeliveries(ctx context.Context, ds []roles.Delivery) ([]delivered, []error) {
	its := make([]delivered, len(ds))
	errs := make([]error, len(ds))
	var ask []money.TxID
	var at []int // at[k] is the position in ds of ask[k]
	for i, d := range ds {
		tx := d.Tx
		if tx == nil {
			errs[i] = errcode.New(errcode.Malformed, "no transaction")
			continue
		}
		if err := tx.Check(); err != nil {
			errs[i] = errcode.New(errcode.Malformed, "%v", err)
			continue
		}
		its[i] = delivered{txid: in.cfg.Network.TxID(tx), tx: tx, memo: d.Memo}
		ask, at = append(ask, its[i].txid), append(at, i)
	}
	for k, r := range in.confirm(ctx, ask) {
		i, txid := at[k], ask[k]
		switch {
		case errcode.Is(r.Err, errcode.NotFound):
			errs[i] = errcode.New(errcode.NotFound, "transaction %s is not committed on the ledger", txid)
		case r.Err != nil:
			errs[i] = r.Err
		case r.Receipt.TxID != money.TxID{} && r.Receipt.TxID != txid:
			errs[i] = errcode.New(errcode.Conflict, "transaction %s: the ledger answered for %s", txid, r.Receipt.TxID)
		default:
			its[i].batch, its[i].index = r.Receipt.Batch, r.Receipt.Index
		}
		if errs[i] != nil {
			its[i] = delivered{}
		}
	}
	return its, errs
}

// confirm asks the ledger where each of txids was committed: in one call
// when it is a roles.TxLocator, else, or when that call fails other than
// unavailable (a ledger without the route, say), with Tx for each, whose
// errors are then each transaction's own.
func (in *Intermediary) confirm(ctx context.Context, txids []money.TxID) []roles.Result {
	if len(txids) == 0 {
		return nil
	}
	if loc, ok := in.ledger.(roles.TxLocator); ok {
		res, err := loc.Locate(in.asSelf(ctx), txids)
		if err == nil && len(res) == len(txids) {
			return res
		}
		if errcode.Is(err, errcode.Unavailable) {
			// The ledger cannot be reached: asking one at a time would not
			// reach it either. Each is refused, to be delivered again.
			out := make([]roles.Result, len(txids))
			for i := range out {
				out[i].Err = err
			}
			return out
		}
		if err == nil {
			err = fmt.Errorf("%d answers for %d transactions", len(res), len(txids))
		}
		in.log.Debug("locating delivered transactions failed; asking one at a time", "count", len(txids), "err", err)
	}
	out := make([]roles.Result, len(txids))
	for i, id := range txids {
		info, err := in.ledger.Tx(in.asSelf(ctx), id)
		if err == nil && info.Status != "committed" {
			err = errcode.New(errcode.Conflict, "transaction %s: ledger reports status %q", id, info.Status)
		}
		out[i] = roles.Result{Receipt: roles.Receipt{TxID: info.TxID, Batch: info.Header.Seq, Index: info.Index}, Err: err}
	}
	return out
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
//
// known, if not nil, is the pending record of txid as the caller wrote it
// (reserve): it spares reading and decoding it, and, while it is still in
// the store, the checks a first apply of one's own spend does not need.
func (in *Intermediary) applyCommitted(txid money.TxID, tx *money.Tx, batch uint64, index uint32, memo *roles.Memo, known *pendingRec) error {
	m := in.txLock(txid)
	m.Lock()
	defer m.Unlock()

	b := in.db.NewBatch()
	a, err := in.applyInto(b, txid, tx, batch, index, memo, known)
	if err != nil || !a.writes {
		b.Discard()
		return err
	}
	// One of our own spends is not synced: its pending record, synced
	// before the transaction left, stays until this batch is applied, and
	// if a crash forgets the batch, Open (or the settle loop) asks the
	// ledger and applies it again, the idempotency key still pending on it.
	// A payment's answer "committed" rests on the ledger's durability, not
	// on this write. A delivery from elsewhere is synced before it is
	// acknowledged: the sender then forgets it.
	if err := in.commitIndexed(b, !a.own, &a.notes); err != nil {
		return err
	}
	a.log(in.log, txid)
	if !a.own {
		in.overLimit(a.order)
	}
	return nil
}

// applied is what applyInto added to a batch.
type applied struct {
	notes    noteChanges
	writes   bool // anything at all
	own      bool // the transaction is one of our pending spends
	from     string
	order    []string // wallets credited, in output order
	credited map[string]uint64
}

func (a *applied) log(l *slog.Logger, txid money.TxID) {
	if !l.Enabled(context.Background(), slog.LevelDebug) {
		return // spares boxing the arguments of every payment's lines
	}
	for _, w := range a.order {
		if !(a.own && w == a.from) {
			l.Debug("wallet credited", "wallet", w, "txid", txid, "amount", a.credited[w])
		}
	}
}

// applyInto adds to b what applyCommitted writes for txid, reading the
// store as it is (the caller holds txid's lock, and b holds no other write
// about txid).
//
// With known (see applyCommitted) still in the store, this is the first
// apply of our own spend: its inputs are our notes reserved for it, none
// of its outputs is credited yet (an apply removes the pending record in
// the same batch as it credits), and its idempotency record, if any, is
// pending on it as reserve wrote it. So nothing needs reading.
func (in *Intermediary) applyInto(b *store.Batch, txid money.TxID, tx *money.Tx, batch uint64, index uint32, memo *roles.Memo, known *pendingRec) (applied, error) {
	var pend pendingRec
	var hasPend, first bool
	var err error
	if known != nil {
		if first, err = in.db.Has(pendingKey(txid)); err != nil {
			return applied{}, fmt.Errorf("pending %s: %w", txid, err)
		}
		hasPend, pend = first, *known
	}
	if !first {
		// Only a transaction that spends notes of ours can be one of our
		// pending spends (each spends at least one): a delivered payment
		// from another intermediary skips the read of an absent key.
		ours := known != nil
		for i := 0; i < len(tx.Inputs) && !ours; i++ {
			w, err := in.walletOfLock(tx.Inputs[i].Lock)
			if err != nil {
				return applied{}, err
			}
			ours = w != ""
		}
		if ours {
			if hasPend, err = getRec(in.db, pendingKey(txid), &pend); err != nil {
				return applied{}, fmt.Errorf("pending %s: %w", txid, err)
			}
		}
	}
	writes := false
	now := in.now()
	var changes noteChanges

	for _, n := range tx.Inputs {
		w, err := in.walletOfLock(n.Lock)
		if err != nil {
			return applied{}, err
		}
		if w == "" {
			continue
		}
		k := noteKey(w, n.TxID, n.Index)
		ok := first
		if !first {
			if ok, err = in.db.Has(k); err != nil {
				return applied{}, err
			}
		}
		if ok {
			b.Delete(k)
			changes.delete(w, idOf(n))
			writes = true
		}
	}

	var order []string
	credited := map[string]uint64{}
	for i, o := range tx.Outputs {
		w, err := in.walletOfLock(o.Lock)
		if err != nil {
			return applied{}, err
		}
		if w == "" {
			continue
		}
		dk := doneKey(txid, uint32(i))
		if !first {
			done, err := in.db.Has(dk)
			if err != nil {
				return applied{}, err
			}
			if done {
				continue
			}
		}
		r := noteRec{Note: money.Note{TxID: txid, Index: uint32(i), Output: o}, State: stateUnspent}
		b.Set(noteKey(w, txid, uint32(i)), r.encode())
		changes.put(w, r)
		b.Set(dk, []byte(w))
		if _, seen := credited[w]; !seen {
			order = append(order, w)
		}
		if credited[w], err = money.Add(credited[w], o.Value); err != nil {
			return applied{}, err
		}
		writes = true
	}

	if hasPend {
		// With a draw from the payer's linked account, the wallet paid the
		// rest; the account's history has the draw (waterfall.go).
		e := roles.Entry{TxID: txid, Direction: "out", Amount: pend.Amount - min(pend.Amount, pend.FromAccount), Counterparty: pend.To,
			Reference: pend.Reference, Batch: batch, Time: now, RefundOf: pend.RefundOf}
		if err := setEntry(b, pend.From, e); err != nil {
			return applied{}, err
		}
		b.Delete(pendingKey(txid))
		if err := in.screenAppliedInto(b, txid, &pend, first); err != nil {
			return applied{}, err
		}
		if id := requestOfIdemKey(pend.IdemKey); id != "" {
			if err := in.requestPaidInto(b, id, txid, pend.From, pend.To, pend.Amount); err != nil {
				return applied{}, err
			}
		}
		if pend.Peer != "" && (!pend.deliveryTried || pend.deliveryErr != nil) {
			o := outboxOf(&pend, now)
			if pend.deliveryErr != nil {
				o.Attempts, o.LastErr = 1, pend.deliveryErr.Error()
			}
			ov, err := recBytes(o)
			if err != nil {
				return applied{}, err
			}
			b.Set(outboxKey(txid), ov)
		}
		commit := func(r *idemRec) {
			r.State, r.Receipt = idemCommitted, roles.Receipt{TxID: txid, Batch: batch, Index: index}
		}
		if first && pend.IdemKey != "" {
			r := pendingIdem(&pend, txid)
			commit(&r)
			v, err := recBytes(r)
			if err != nil {
				return applied{}, err
			}
			b.Set(idemKey(pend.IdemKey), v)
		} else if _, err := in.settleIdemRec(b, pend.IdemKey, txid, commit); err != nil {
			return applied{}, err
		}
		writes = true
	}
	var pp *pendingRec
	if hasPend {
		pp = &pend
	}
	if err := in.applyWaterfall(b, txid, pp, memo, credited[in.Treasury()], now); err != nil {
		return applied{}, err
	}
	for _, w := range order {
		if hasPend && w == pend.From {
			continue // change
		}
		if hasPend && pend.FromAccount > 0 && w == in.Treasury() && pend.To != w {
			continue // the change of the treasury's part of a draw
		}
		e := roles.Entry{TxID: txid, Direction: "in", Amount: credited[w], Batch: batch, Time: now}
		switch {
		case hasPend:
			e.Counterparty, e.Reference, e.RefundOf = pend.From, pend.Reference, pend.RefundOf
		case memo != nil && memo.To == w:
			e.Counterparty, e.Reference, e.RefundOf = memo.From, memo.Reference, memo.RefundOf
		case tx.Kind == money.Mint:
			e.Reference = "mint"
		}
		if !hasPend {
			if err := in.screenDeliveredInto(b, txid, w, credited[w], memo); err != nil {
				return applied{}, err
			}
			if memo != nil && memo.To == w && memo.Hold != "" {
				// The payment's hold becomes its credit (holds.go).
				changes.dropHold(w, holdRef{id: memo.Hold, peer: roles.IntermediaryOf(memo.From)})
			}
		}
		if err := setEntry(b, w, e); err != nil {
			return applied{}, err
		}
	}

	if !hasPend && memo != nil && memo.Request != "" && credited[memo.To] > 0 {
		// A payment of a request owned here (requests.go).
		if err := in.requestPaidInto(b, memo.Request, txid, memo.From, memo.To, 0); err != nil {
			return applied{}, err
		}
	}
	return applied{notes: changes, writes: writes, own: hasPend, from: pend.From, order: order, credited: credited}, nil
}

func setEntry(b interface{ Set(k, v []byte) }, wallet string, e roles.Entry) error {
	v, err := recBytes(e)
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
	ok, err := getRec(in.db, pendingKey(txid), &pend)
	if err != nil || !ok {
		return err
	}
	var tx money.Tx
	if err := tx.UnmarshalBinary(pend.Tx); err != nil {
		return fmt.Errorf("pending %s: %w", txid, err)
	}
	b := in.db.NewBatch()
	var changes noteChanges
	for _, n := range tx.Inputs {
		// The payer's notes, and the treasury's when it paid a draw from
		// a linked account (waterfall.go).
		owner, err := in.walletOfLock(n.Lock)
		if err != nil {
			b.Discard()
			return err
		}
		if owner == "" {
			continue
		}
		k := noteKey(owner, n.TxID, n.Index)
		v, err := in.db.Get(k)
		if err != nil {
			continue // gone: nothing to release
		}
		r, err := decodeNote(k, v)
		if err != nil {
			b.Discard()
			return err
		}
		// The pending record removed below was the reservation (notes.go);
		// only a record an older version wrote reserved is rewritten.
		switch {
		case r.State == stateReserved && r.For != txid:
			continue
		case r.State == stateReserved:
			r.State, r.For = stateUnspent, money.TxID{}
			b.Set(k, r.encode())
		}
		changes.put(owner, r)
	}
	b.Delete(pendingKey(txid))
	undraw(b, txid, &pend)
	unclaimRefund(b, txid, &pend)
	screenReleaseInto(b, txid)
	if err := in.unspend(b, txid, &pend, &changes); err != nil {
		b.Discard()
		return err
	}
	deleted, err := in.settleIdemRec(b, pend.IdemKey, txid, func(r *idemRec) {
		if rejection == nil {
			r.State = "" // released
			return
		}
		rejectInto(r, rejection)
	})
	if err != nil {
		b.Discard()
		return err
	}
	if err := in.commitIndexed(b, true, &changes); err != nil {
		return err
	}
	if deleted {
		in.idems.removeString(pend.IdemKey)
	}
	in.screenReleased(txid, &pend)
	return nil
}

// settleIdemRec adds to b the update of the idempotency record key, if it
// is pending on txid, by set; a record set to state "" is deleted, and
// deleted says so (the caller tells in.idems once b commits).
func (in *Intermediary) settleIdemRec(b *store.Batch, key string, txid money.TxID, set func(*idemRec)) (deleted bool, err error) {
	if key == "" {
		return false, nil
	}
	var rec idemRec
	found, err := getRec(in.db, idemKey(key), &rec)
	if err != nil {
		return false, fmt.Errorf("idempotency key of %s: %w", txid, err)
	}
	if !found || rec.State != idemPending || rec.TxID != txid {
		return false, nil
	}
	set(&rec)
	if rec.State == "" {
		b.Delete(idemKey(key))
		return true, nil
	}
	v, err := recBytes(rec)
	if err != nil {
		return false, err
	}
	b.Set(idemKey(key), v)
	return false, nil
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

// resolvePending settles every pending spend not in flight. With resubmit
// (the settle loop), the ones in flight count as not settled yet, and
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
		if err := decodeRec(v, &it.rec); err != nil {
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
		// Whoever holds it may leave it pending again (a retry that
		// cannot reach the ledger either): the settle loop (resubmit)
		// marks it, and its landing wakes the loop if it is still
		// pending. Looking again after a pause instead rescanned every
		// pending record once a second for as long as payments were in
		// flight (3.6% of a payment's CPU under load).
		if in.passBy(it.txid, resubmit) {
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
		if err := in.applyCommitted(txid, &tx, info.Header.Seq, info.Index, nil, nil); err != nil {
			return err
		}
		in.log.Info("pending spend settled: committed", "txid", txid, "kind", rec.Kind)
		if rec.Peer != "" {
			in.deliverOne(ctx, txid)
		}
		return nil
	case errcode.Is(err, errcode.NotFound):
		// (in.now never goes back, so Created may be a few ns ahead of
		// a fake clock that stands still: a negative SettleAfter is "at once".)
		if age := in.cfg.Now().Sub(rec.Created); in.cfg.SettleAfter > 0 && age < in.cfg.SettleAfter {
			return fmt.Errorf("not on the ledger yet after %s; waiting %s before releasing its notes", age.Round(time.Millisecond), in.cfg.SettleAfter)
		}
		if err := in.unreserve(txid, nil); err != nil {
			return err
		}
		in.log.Info("pending spend settled: never committed, notes released", "txid", txid, "kind", rec.Kind)
		in.releaseHold(ctx, rec.Peer, rec.To, rec.Hold)
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
		in.releaseHold(ctx, rec.Peer, rec.To, rec.Hold)
		return nil
	}
	if err := in.applyCommitted(txid, &tx, receipt.Batch, receipt.Index, nil, nil); err != nil {
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
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if left := in.deliverMany(ctx, ids); left > 0 {
		return errcode.New(errcode.Unavailable, "%d of %d deliveries still pending", left, len(ids))
	}
	return nil
}

// outboxOf is the outbox entry of our committed payment pend to a peer.
func outboxOf(pend *pendingRec, created time.Time) outboxRec {
	return outboxRec{Peer: pend.Peer, Tx: pend.Tx, From: pend.From, To: pend.To, Ref: pend.Reference, Hold: pend.Hold,
		Request: requestOfIdemKey(pend.IdemKey), Created: created, RefundOf: pend.RefundOf}
}

// deliverFirst hands our payment pend, txid, committed but not yet
// applied here, to its peer through the peer's delivery queue, and waits
// for the outcome (or ctx), which it records in pend: the apply that
// follows writes an outbox entry only if the peer does not have it. So a
// payment delivered at once never writes, reads and deletes an outbox
// entry. A crash before the apply leaves the pending record, synced
// before the transaction left: Open or the settle loop applies it, with
// an outbox entry, and delivers it again, which credits nothing twice.
func (in *Intermediary) deliverFirst(ctx context.Context, txid money.TxID, pend *pendingRec) {
	o := &outgoing{txid: txid, rec: outboxOf(pend, pend.Created), done: make(chan error, 1), unstored: true}
	in.queue(pend.Peer).add(o)
	pend.deliveryTried = true
	select {
	case pend.deliveryErr = <-o.done:
	case <-ctx.Done():
		// Still queued or on its way: the apply writes the outbox entry,
		// and if this attempt got through, the next one credits nothing.
		pend.deliveryErr = fmt.Errorf("waiting for the delivery: %w", ctx.Err())
	}
}

// deliverOne tries once to hand the outbox entry txid to its peer and
// reports whether it is delivered (or was already). The attempt joins the
// peer's delivery queue, whose worker hands over everything queued in one
// call (see deliveryQueue), and waits for it, or for ctx.
func (in *Intermediary) deliverOne(ctx context.Context, txid money.TxID) bool {
	return in.deliverMany(ctx, []money.TxID{txid}) == 0
}

// deliverMany is deliverOne for many outbox entries at once; it returns
// how many are not delivered.
func (in *Intermediary) deliverMany(ctx context.Context, txids []money.TxID) int {
	waits := make([]*outgoing, 0, len(txids))
	left := 0
	for _, txid := range txids {
		var rec outboxRec
		found, err := getRec(in.db, outboxKey(txid), &rec)
		if err != nil {
			in.log.Error("reading outbox", "txid", txid, "err", err)
			left++
			continue
		}
		if !found {
			continue
		}
		o := &outgoing{txid: txid, rec: rec, done: make(chan error, 1)}
		in.queue(rec.Peer).add(o)
		waits = append(waits, o)
	}
	for _, o := range waits {
		select {
		case err := <-o.done:
			if err != nil {
				left++
			}
		case <-ctx.Done():
			left++ // still queued or on its way; its worker records the outcome
		}
	}
	return left
}

// outgoing is one outbox entry queued for delivery; done receives its
// outcome.
type outgoing struct {
	txid money.TxID
	rec  outboxRec
	done chan error
	// unstored: handed over before its outbox entry was written
	// (deliverFirst), so there is none to remove or count attempts in.
	unstored bool
}

// maxDeliveryBatch bounds the deliveries handed to a peer in one call
// (the API's batch limit is 10,000).
const maxDeliveryBatch = 1000

// deliveryWorkers is how many delivery calls to one peer may be in
// flight: a delivery queued while one call is out need not wait for it to
// end, and the payee's syncs of concurrent calls share fsyncs.
const deliveryWorkers = 4

// queue returns peer's delivery queue, starting its workers on first use.
func (in *Intermediary) queue(peer string) *batcher[*outgoing] {
	in.queuesMu.Lock()
	defer in.queuesMu.Unlock()
	q, ok := in.queues[peer]
	if !ok {
		q = newBatcher(in.workCtx, &in.workers, deliveryWorkers, maxDeliveryBatch,
			func(ctx context.Context, batch []*outgoing) { in.deliverBatch(ctx, peer, batch) },
			func(o *outgoing, err error) { o.done <- err })
		in.queues[peer] = q
	}
	return q
}

// deliverBatch hands batch to peer in one call, removes the delivered
// entries from the outbox, counts a failed attempt on the others, and
// tells every waiter its outcome.
func (in *Intermediary) deliverBatch(ctx context.Context, peer string, batch []*outgoing) {
	errs := in.tryDeliver(ctx, peer, batch)
	b := in.db.NewBatch()
	n := 0
	for k, o := range batch {
		if errs[k] == nil {
			if !o.unstored {
				// Not synced: if a crash forgets the removal, the payment is
				// delivered again, which credits nothing twice.
				b.Delete(outboxKey(o.txid))
				n++
			}
			in.log.Debug("payment delivered", "txid", o.txid, "peer", peer, "attempts", o.rec.Attempts+1)
		}
	}
	if n > 0 {
		if err := b.Commit(false); err != nil {
			in.log.Error("delivered but outbox entries not removed; they will be delivered again", "count", n, "err", err)
		}
	} else {
		b.Discard()
	}
	for k, o := range batch {
		switch {
		case errs[k] != nil && o.unstored:
			in.log.Warn("delivery failed; will retry from the outbox", "txid", o.txid, "peer", peer, "err", errs[k])
		case errs[k] != nil:
			in.countAttempt(o, errs[k])
		}
		o.done <- errs[k]
	}
}

// countAttempt records a failed delivery in its outbox entry, unless
// another attempt delivered it meanwhile.
func (in *Intermediary) countAttempt(o *outgoing, err error) {
	in.log.Warn("delivery failed; will retry", "txid", o.txid, "peer", o.rec.Peer, "attempts", o.rec.Attempts+1, "err", err)
	m := in.txLock(o.txid)
	m.Lock()
	defer m.Unlock()
	var cur outboxRec
	if still, gerr := getRec(in.db, outboxKey(o.txid), &cur); gerr != nil || !still {
		return
	}
	cur.Attempts++
	cur.LastErr = err.Error()
	if v, jerr := recBytes(cur); jerr == nil {
		b := in.db.NewBatch()
		b.Set(outboxKey(o.txid), v)
		if cerr := b.Commit(false); cerr != nil {
			in.log.Error("updating outbox", "txid", o.txid, "err", cerr)
		}
	}
}

// tryDeliver hands batch to peer: in one DeliverBatch, with memos, when
// the peer takes batches, else one Deliver each. One error per entry.
func (in *Intermediary) tryDeliver(ctx context.Context, peer string, batch []*outgoing) []error {
	errs := make([]error, len(batch))
	fail := func(err error) []error {
		for k := range errs {
			errs[k] = err
		}
		return errs
	}
	p, ok := in.peer(peer)
	if !ok {
		return fail(errcode.New(errcode.NotFound, "no intermediary %q", peer))
	}
	ds := make([]roles.Delivery, len(batch))
	for k, o := range batch {
		var tx money.Tx
		if err := tx.UnmarshalBinary(o.rec.Tx); err != nil {
			errs[k] = err
			continue
		}
		ds[k].Tx = &tx
		if o.rec.From != "" {
			ds[k].Memo = &roles.Memo{From: o.rec.From, To: o.rec.To, Reference: o.rec.Ref, Hold: o.rec.Hold, Request: o.rec.Request, RefundOf: o.rec.RefundOf}
		}
	}
	bd, ok := p.(roles.BatchDeliverer)
	if !ok {
		for k, d := range ds {
			if d.Tx != nil {
				errs[k] = p.Deliver(in.asSelf(ctx), d.Tx)
			}
		}
		return errs
	}
	// Entries that could not be read are left out of the call.
	send, pos := make([]roles.Delivery, 0, len(ds)), make([]int, 0, len(ds))
	for k, d := range ds {
		if d.Tx != nil {
			send, pos = append(send, d), append(pos, k)
		}
	}
	res, err := bd.DeliverBatch(in.asSelf(ctx), send)
	if err == nil && len(res) != len(send) {
		err = errcode.New(errcode.Internal, "peer %s answered %d results for %d deliveries", peer, len(res), len(send))
	}
	for j, k := range pos {
		if err != nil {
			errs[k] = err
		} else {
			errs[k] = res[j]
		}
	}
	return errs
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
