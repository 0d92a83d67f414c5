package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
)

// commitLoop is the single sequencer: it takes whatever validated
// transactions are waiting (up to MaxBatch), commits them as one batch with
// one fsync, and answers every waiter. While one batch is being written the
// next one accumulates, so fsync cost is shared by many transactions.
func (l *Ledger) commitLoop() {
	defer l.wg.Done()
	batch := make([]*checked, 0, l.cfg.MaxBatch)
	var rest []*checked // of a piece that did not fit the last batch
	for {
		if len(rest) > 0 {
			batch, rest = append(batch[:0], rest...), nil
		} else {
			select {
			case p := <-l.queue:
				batch = append(batch[:0], p...)
			case rot := <-l.rotq:
				l.commitRotation(rot)
				continue
			case <-l.closed:
				l.drain()
				return
			}
		}
	fill:
		for len(batch) < l.cfg.MaxBatch {
			select {
			case p := <-l.queue:
				// Take pieces whole while they fit; a piece that does
				// not is split, and its rest opens the next batch.
				n := min(len(p), l.cfg.MaxBatch-len(batch))
				batch, rest = append(batch, p[:n]...), p[n:]
			default:
				break fill
			}
		}
		l.queued.Add(-int64(len(batch)))
		l.commit(batch)
	}
}

// drain answers transactions still queued at shutdown: they were never
// committed.
func (l *Ledger) drain() {
	for {
		select {
		case p := <-l.queue:
			l.queued.Add(-int64(len(p)))
			for _, c := range p {
				c.done <- result{err: errcode.New(errcode.Unavailable, "ledger is shutting down")}
			}
		default:
			return
		}
	}
}

// commit runs one batch through the state machine and makes it durable.
func (l *Ledger) commit(batch []*checked) {
	if r := l.replicator(); r != nil {
		l.propose(r, batch)
		return
	}
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	if batch = l.recheckMints(batch); len(batch) == 0 {
		return
	}
	out, ok := l.step(batch)
	if !ok {
		return
	}
	t0 := time.Now()
	if err := l.persist(batch, &out); err != nil {
		if errors.Is(err, store.ErrNotLogged) {
			// The log is as it was before this batch (a full disk,
			// say), and nothing in memory has moved: refuse the batch,
			// and take the next one as usual.
			l.refuse(batch, err)
			return
		}
		l.fail(batch, err)
		return
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		l.log.Warn("slow batch commit", "batch", out.after.seq, "transactions", len(out.ids), "took", d)
	}
	// The batch is durable: it is answered as committed whatever happens
	// next. A failure below only stops the ledger; a restart redoes the
	// batch from the log.
	b := l.db.NewBatch()
	l.storeRecord(b, &l.cur, &out.after)
	if err := b.Commit(false); err != nil {
		l.log.Error("store update failed; ledger stopped", "err", err)
		l.stop(err)
	}
	if err := l.index(&l.cur); err != nil {
		l.log.Error("note index update failed; ledger stopped", "err", err)
		l.stop(err)
	}
	l.mu.Lock()
	l.meta = out.after
	l.mu.Unlock()
	l.answer(batch, out.after.seq)
	l.snapshotTick()
}

// step runs the state machine over batch against the current state and
// marks each rejected transaction with its error. It returns false when it
// has answered the whole batch itself: the ledger is stopped, the step
// failed, or nothing in the batch commits. The caller holds stepMu.
func (l *Ledger) step(batch []*checked) (outcome, bool) {
	if l.fatal != nil {
		for _, c := range batch {
			c.done <- result{err: errcode.New(errcode.Unavailable, "ledger stopped after a storage failure: %v", l.fatal)}
		}
		return outcome{}, false
	}
	view, err := l.lookup(batch)
	if err != nil {
		l.fail(batch, err)
		return outcome{}, false
	}
	l.mu.RLock()
	before := l.meta
	l.mu.RUnlock()
	out, err := apply(&before, batch, view)
	if err != nil {
		l.fail(batch, err)
		return outcome{}, false
	}
	for i, c := range batch {
		if out.errs[i] != nil {
			c.err = out.errs[i]
		}
	}
	for i, c := range batch {
		if out.missing[i] >= 0 {
			c.err = l.explainMissing(c, out.missing[i], batch)
		}
	}
	if len(out.ids) == 0 {
		l.answer(batch, 0)
		return outcome{}, false
	}
	return out, true
}

// explainMissing says why an input was neither unspent before the batch
// nor created earlier in it. The ledger keeps no set of spent notes, so it
// answers from the transaction that would have created the note: when no
// committed transaction (nor one earlier in the batch) has an output at
// the input's index, the note never existed (unknown_note). Otherwise the
// note as presented is not unspent: it was spent, or it is presented with a
// value or lock other than the output's, which changes its ID. Telling
// those two apart would take every output's ID in the txid index, written
// on the commit path; both are double_spend, and the message says so.
// Only rejected transactions come here.
func (l *Ledger) explainMissing(c *checked, input int, batch []*checked) error {
	n := &c.tx.Inputs[input]
	never := func() error {
		return errcode.New(errcode.UnknownNote, "input %d: note %s was never created: transaction %s has no output %d", input, c.ins[input], n.TxID, n.Index)
	}
	notUnspent := func() error {
		return errcode.New(errcode.DoubleSpend, "input %d: note %s is not unspent: it was spent, or its value or lock is not that of output %d of %s", input, c.ins[input], n.Index, n.TxID)
	}
	later := false
	for _, o := range batch {
		if o == c {
			later = true
			continue
		}
		if o.err == nil && o.id == n.TxID {
			if later {
				return errcode.New(errcode.UnknownNote, "input %d: note %s is created later in the same batch; submit it before its spend", input, c.ins[input])
			}
			if n.Index >= uint32(len(o.tx.Outputs)) {
				return never()
			}
			return notUnspent()
		}
	}
	v, err := l.db.Get(keySlice(hashKey(prefixTx, &n.TxID)))
	if errors.Is(err, store.ErrNotFound) {
		return never()
	}
	if err != nil {
		return errcode.New(errcode.Internal, "input %d: note %s is not unspent; its creating transaction could not be read: %v", input, c.ins[input], err)
	}
	loc, err := decodeTxLoc(v)
	if err != nil {
		return errcode.New(errcode.Internal, "input %d: note %s is not unspent; its creating transaction: %v", input, c.ins[input], err)
	}
	if n.Index >= uint32(loc.outputs) {
		return never()
	}
	return notUnspent()
}

func (l *Ledger) answer(batch []*checked, seq uint64) {
	committed := 0
	for _, c := range batch {
		if c.err == nil {
			committed++
		}
	}
	l.stats.batch(committed, batch)
	var idx uint32
	for _, c := range batch {
		if c.err != nil {
			c.done <- result{err: c.err}
			continue
		}
		c.done <- result{receipt: receiptPos{batch: seq, index: idx}}
		idx++
	}
}

// refuse answers a batch that was not written: nothing of it is anywhere,
// so its transactions may be submitted again. Those the state machine
// rejected are refused too, not answered with their rejection: it may rest
// on an earlier transaction of this batch (a note it spent first), which
// did not happen either.
func (l *Ledger) refuse(batch []*checked, err error) {
	l.log.Warn("batch not written; its transactions are refused", "err", err)
	for _, c := range batch {
		c.done <- result{err: errcode.New(errcode.Unavailable, "batch not written, try again: %v", err)}
	}
}

// fail stops the ledger: after a storage error we cannot know what is on
// disk, so nothing more is accepted until a restart reloads it.
func (l *Ledger) fail(batch []*checked, err error) {
	l.log.Error("commit failed; ledger stopped", "err", err)
	l.stop(err)
	for _, c := range batch {
		c.done <- result{err: errcode.New(errcode.Internal, "commit failed: %v", err)}
	}
}

// view is the part of the ledger state a batch reads: whether an input
// note (with that value) was unspent before the batch, and for each mint,
// whether its txid was already committed.
type view struct {
	unspent   func(id *money.NoteID, value uint64) bool
	committed map[money.TxID]bool
}

// lookup prepares the view: the unspent set is read from the in-memory
// index; mints (rare) check the txid index in the store.
func (l *Ledger) lookup(batch []*checked) (view, error) {
	v := view{
		unspent: func(id *money.NoteID, value uint64) bool {
			return l.notes.get(l.shardOf(id), id) == value
		},
		committed: make(map[money.TxID]bool),
	}
	for _, c := range batch {
		if c.part != nil {
			if err := l.lookupPart(c, v.committed); err != nil {
				return v, err
			}
			continue
		}
		if c.tx.Kind == money.Mint {
			ok, err := l.db.Has(keySlice(hashKey(prefixTx, &c.id)))
			if err != nil {
				return v, fmt.Errorf("lookup mint %s: %w", c.id, err)
			}
			v.committed[c.id] = ok
		}
	}
	return v, nil
}

// outcome is what the state machine decided for one batch.
type outcome struct {
	errs    []error // per transaction; nil when it commits
	missing []int   // per transaction: the input neither unspent nor made earlier in the batch, or -1
	ids     []money.TxID
	after   meta
	header  money.BatchHeader
	// transient are notes created and spent within the batch: never
	// written to the store or the index.
	transient map[money.NoteID]struct{}
}

type created struct {
	id    money.NoteID
	value uint64
}

// apply is the state machine step. It is a pure function of the state
// before the batch (meta and the view) and the batch's order: transactions
// are taken in order; one commits when every input was unspent before the
// batch or created by an earlier transaction of the batch, and not spent by
// an earlier transaction of the batch. It asserts
// conservation of money before returning: an error here is a bug, and the
// batch is refused whole.
func apply(before *meta, batch []*checked, v view) (outcome, error) {
	out := outcome{errs: make([]error, len(batch)), missing: make([]int, len(batch)), after: *before}
	spent := make(map[money.NoteID]struct{}, 2*len(batch))
	minted := make(map[money.TxID]struct{})
	made := make(map[money.NoteID]uint64) // outputs of earlier transactions of the batch
	out.transient = make(map[money.NoteID]struct{})
	m := &out.after
	decided := make(map[money.TxID]struct{}) // parts committed earlier in the batch
	for i, c := range batch {
		out.missing[i] = -1
		if c.part != nil {
			if err := c.part.conflict(c.id, v, decided); err != nil {
				out.errs[i] = err
				continue
			}
		} else if c.tx.Kind == money.Mint {
			_, dup := minted[c.id]
			if v.committed[c.id] || dup {
				out.errs[i] = errcode.New(errcode.DoubleSpend, "mint %s was already committed", c.id)
				continue
			}
		}
		// A refund of escrowed notes commits only past their expiry:
		// this batch, if it commits anything, is before.seq+1. The batch
		// number, not a clock, keeps the step a pure function of the log.
		if c.refundAfter != 0 && before.seq+1 <= c.refundAfter {
			out.errs[i] = errcode.New(errcode.Conflict, "refund of an escrowed note before its expiry: batch %d is not past batch %d; until then payer and payee must both sign", before.seq+1, c.refundAfter)
			continue
		}
		ok := true
		for j := range c.ins {
			value := c.inValue(j)
			if _, gone := spent[c.ins[j]]; gone {
				out.errs[i] = errcode.New(errcode.DoubleSpend, "input %d: note %s is spent earlier in the same batch", j, c.ins[j])
				ok = false
				break
			}
			if !(v.unspent(&c.ins[j], value) || made[c.ins[j]] == value) {
				ok = false
				if c.part != nil {
					// A part names notes, not outputs: nothing to
					// explain it from.
					out.errs[i] = errcode.New(errcode.DoubleSpend, "note %s is not unspent here: spent, locked by another cross-group transaction, or never created", c.ins[j])
					break
				}
				// Spent before the batch, or never created: the shell
				// looks up which (explainMissing).
				out.errs[i] = errcode.New(errcode.DoubleSpend, "input %d: note %s is not unspent", j, c.ins[j])
				out.missing[i] = j
				break
			}
		}
		if !ok {
			continue
		}
		switch {
		case c.part != nil:
			// Value entering or leaving this group: counted as minted
			// or redeemed here, so each group's own conservation holds
			// (parts.go).
			if c.out >= c.in {
				if m.minted+(c.out-c.in) < m.minted {
					out.errs[i] = errcode.New(errcode.LimitExceeded, "part %s would overflow the supply", c.id)
					continue
				}
				m.minted += c.out - c.in
			} else {
				m.redeemed += c.in - c.out
			}
			decided[c.id] = struct{}{}
		case c.tx.Kind == money.Mint:
			if m.minted+c.out < m.minted {
				out.errs[i] = errcode.New(errcode.LimitExceeded, "mint %s would overflow the supply", c.id)
				continue
			}
			minted[c.id] = struct{}{}
			m.minted += c.out
		case c.tx.Kind == money.Redeem:
			m.redeemed += c.in - c.out
		}
		for j := range c.ins {
			spent[c.ins[j]] = struct{}{}
			if _, ok := made[c.ins[j]]; ok {
				out.transient[c.ins[j]] = struct{}{}
			}
		}
		for j := range c.outs {
			made[c.outs[j]] = c.outValue(j)
		}
		m.unspentSum = m.unspentSum - c.in + c.out
		m.unspent = m.unspent - uint64(len(c.ins)) + uint64(len(c.outs))
		out.ids = append(out.ids, c.id)
	}
	if len(out.ids) == 0 {
		return out, nil
	}
	if err := m.conserved(); err != nil {
		return out, fmt.Errorf("batch %d: %w", before.seq+1, err)
	}
	m.seq = before.seq + 1
	out.header = money.BatchHeader{
		Seq:      m.seq,
		Prev:     before.head,
		TxRoot:   money.MerkleRoot(out.ids),
		TxCount:  uint32(len(out.ids)),
		Minted:   m.minted,
		Redeemed: m.redeemed,
	}
	return out, nil
}

// persist makes the batch durable: its record (l.cur) is appended to the
// log and fsynced, one fsync for the whole batch.
func (l *Ledger) persist(batch []*checked, out *outcome) error {
	seq := out.after.seq
	out.after.head = l.net.HeaderHash(&out.header)
	l.cur.fill(batch, out)
	if l.cfg.Archive {
		// The archive entry is made durable before the log record, so
		// that every batch the log holds has its transactions archived;
		// a crash between the two leaves an entry past the head, which
		// Batch never serves and the next commit overwrites.
		if err := l.archive(seq, batch, out); err != nil {
			return err
		}
	}
	l.rec = l.cur.appendTo(l.rec[:0])
	if err := l.wal.Append(seq, l.rec); err != nil {
		return fmt.Errorf("log batch %d: %w", seq, err)
	}
	if err := l.wal.Sync(); err != nil {
		return fmt.Errorf("sync batch %d: %w", seq, err)
	}
	l.logBytes += int64(len(l.rec))
	return nil
}

// archive writes the committed transactions of batch seq to the store in
// full, synced (format.go: archive entry). Only with Config.Archive.
func (l *Ledger) archive(seq uint64, batch []*checked, out *outcome) error {
	l.arch = appendArchive(l.arch[:0], batch, out)
	return l.writeArchive(seq, l.arch)
}

// appendArchive appends the archive entry of the batch's committed
// transactions to b.
func appendArchive(b []byte, batch []*checked, out *outcome) []byte {
	b = appendArchiveHead(b, len(out.ids))
	for i, c := range batch {
		if out.errs[i] == nil {
			b = appendArchiveTx(b, c.tx)
		}
	}
	return b
}

// writeArchive stores archive entry arch of batch seq, synced.
func (l *Ledger) writeArchive(seq uint64, arch []byte) error {
	b := l.db.NewBatch()
	b.Set(archiveKey(seq), arch)
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("archive batch %d: %w", seq, err)
	}
	return nil
}

// storeRecord writes a durable batch's keys to the store (its log entry,
// each txid's place, the totals m after it) into b, which the caller
// commits without an fsync: the log already holds the batch, and recovery
// redoes these writes from it. The txid keys are sorted first: Pebble's
// memtable insert is much cheaper for ascending keys.
func (l *Ledger) storeRecord(b *store.Batch, r *record, m *meta) {
	ops := l.ops[:0]
	for i := range r.ids {
		op := writeOp{key: hashKey(prefixTx, &r.ids[i])}
		loc := txLoc{seq: r.header.Seq, index: uint32(i), kind: r.kinds[i], outputs: r.outputs[i]}
		loc.put(&op.val)
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b writeOp) int {
		// The first 8 bytes (prefix and 7 hash bytes) almost always decide.
		if x, y := binary.BigEndian.Uint64(a.key[:8]), binary.BigEndian.Uint64(b.key[:8]); x != y {
			if x < y {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.key[8:], b.key[8:])
	})
	for i := range ops {
		b.Set(ops[i].key[:], ops[i].val[:])
	}
	l.ops = ops
	b.Set(batchKey(r.header.Seq), r.body)
	if r.keySet != nil {
		b.Set(rotationKey(r.header.Seq), r.keySet)
	}
	b.Set([]byte(keyMeta), m.encode())
}

// index applies a persisted batch to the in-memory unspent index.
func (l *Ledger) index(r *record) error {
	for i := range l.notes.shards {
		l.notes.shards[i].mu.Lock()
		defer l.notes.shards[i].mu.Unlock()
	}
	return l.redoNotes(l.notes, nil, r.header.Seq, r.dels, r.puts)
}

// writeOp is one txid key written by a batch.
type writeOp struct {
	key [33]byte
	val [txLocSize]byte
}

// CheckInvariants checks the live state against the running totals and
// against what is on disk: conservation (invariant 1), the unspent set read
// back from the snapshots and the log (durability), and the hash chain of
// the log. It reads everything and holds up commits while it runs, so it is
// for audits and tests, not the hot path.
func (l *Ledger) CheckInvariants() error {
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	l.mu.RLock()
	m := l.meta
	l.mu.RUnlock()
	count, sum := sumSet(l.notes)
	if sum != m.minted-m.redeemed || sum != m.unspentSum || count != m.unspent {
		return fmt.Errorf("conservation broken: unspent notes hold %d in %d notes; totals say %d (minted %d - redeemed %d) in %d notes",
			sum, count, m.minted-m.redeemed, m.minted, m.redeemed, m.unspent)
	}
	disk, err := l.rebuild()
	if err != nil {
		return fmt.Errorf("read the unspent set back from disk: %w", err)
	}
	defer disk.close()
	if dc, ds := sumSet(disk); dc != count || ds != sum {
		return fmt.Errorf("on disk: %d notes holding %d; in memory %d holding %d", dc, ds, count, sum)
	}
	for i := range disk.shards {
		for _, sl := range disk.shards[i].slots {
			if sl.value != 0 && l.notes.shards[i].getKey(sl.key) != sl.value {
				return fmt.Errorf("note %x holds %d on disk, %d in memory", sl.key[:8], sl.value, l.notes.shards[i].getKey(sl.key))
			}
		}
	}
	var prev money.Hash
	var seq uint64
	err = l.db.Scan([]byte{prefixBatch}, nil, func(_, v []byte) error {
		h, ids, err := decodeBatch(v)
		if err != nil {
			return err
		}
		seq++
		if h.Seq != seq || h.Prev != prev || h.TxRoot != money.MerkleRoot(ids) {
			return fmt.Errorf("log broken at batch %d", h.Seq)
		}
		prev = l.net.HeaderHash(&h)
		return nil
	})
	if err != nil {
		return err
	}
	if seq != m.seq || prev != m.head {
		return fmt.Errorf("log head: %d batches, meta says %d", seq, m.seq)
	}
	return nil
}
