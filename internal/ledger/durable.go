package ledger

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
)

// Durability. A batch is committed once its record is in the write-ahead
// log (store.Log, one fsync per batch). The unspent set lives in memory
// (noteSet) and on disk as one snapshot file per shard plus the log records
// after it; recovery loads each shard's newest snapshot and replays the log
// from there. Snapshots are taken one shard at a time as the
// log grows (oldest first, a slice per batch), and the log is cut behind
// the oldest snapshot. Pebble holds what is looked up by key (batch headers
// and txids, each txid's place in the log, the running totals); it is
// written after the log without an fsync of its own, and recovery replays
// the log into it too. This is the "log plus periodic snapshots" of the
// design: the random-key churn of the unspent set never reaches the LSM
// tree, whose flushes and compactions were what stalled commits.

const (
	walDir  = "wal"
	snapDir = "snap"
	// keyFormat marks a store whose unspent set lives in snapshots and the
	// log. Stores written before it kept every note under prefixNote.
	keyFormat   = "f"
	formatValue = "2"
)

// record is one batch as the log holds it (its layout is in format.go):
// everything needed to redo the batch's effect on the unspent set and on
// the store. The commit path builds one from the batch's outcome, recovery
// decodes one from the log, and both apply it the same way (storeRecord,
// redoNotes).
type record struct {
	header     money.BatchHeader
	ids        []money.Hash
	body       []byte // encodeBatch(header, ids), the store's batch value
	unspent    uint64
	unspentSum uint64
	kinds      []money.Kind
	outputs    []uint16
	dels       []money.NoteID // notes spent (those created and spent in the batch left out)
	puts       []created      // notes created (likewise)
	// keySet is a rotation batch's rotation record (keys.go), nil for a
	// batch of transactions.
	keySet []byte
}

// fill makes r the record of a committed batch, reusing r's slices.
func (r *record) fill(batch []*checked, out *outcome) {
	r.header, r.ids = out.header, out.ids
	r.body = appendBatch(r.body[:0], &out.header, out.ids)
	r.unspent, r.unspentSum = out.after.unspent, out.after.unspentSum
	r.kinds, r.outputs, r.dels, r.puts = r.kinds[:0], r.outputs[:0], r.dels[:0], r.puts[:0]
	r.keySet = nil
	for i, c := range batch {
		if out.errs[i] != nil {
			continue
		}
		r.kinds = append(r.kinds, c.tx.Kind)
		r.outputs = append(r.outputs, uint16(len(c.tx.Outputs)))
		for j := range c.ins {
			if _, ok := out.transient[c.ins[j]]; !ok {
				r.dels = append(r.dels, c.ins[j])
			}
		}
		for j := range c.outs {
			if _, ok := out.transient[c.outs[j]]; !ok {
				r.puts = append(r.puts, created{c.outs[j], c.outValue(j)})
			}
		}
	}
}

// redoNotes applies a batch's spends and creations to set: all of them
// (snap nil: the commit path), or on recovery only to the shards whose
// snapshot is older than the batch. A spend of a note that is not there
// means the state and the log disagree: damage, reported, never papered
// over.
func (l *Ledger) redoNotes(set *noteSet, snap []uint64, seq uint64, dels []money.NoteID, puts []created) error {
	for i := range dels {
		s := l.shardOf(&dels[i])
		if snap != nil && seq <= snap[s] {
			continue
		}
		if !set.shards[s].del(&dels[i]) {
			return fmt.Errorf("batch %d spends note %s, which is not unspent", seq, dels[i])
		}
	}
	for i := range puts {
		s := l.shardOf(&puts[i].id)
		if snap != nil && seq <= snap[s] {
			continue
		}
		if err := set.shards[s].put(&puts[i].id, puts[i].value); err != nil {
			return fmt.Errorf("batch %d: %w", seq, err)
		}
	}
	return nil
}

// meta is the running totals after the record's batch.
func (r *record) meta(net money.Network) meta {
	return meta{seq: r.header.Seq, head: net.HeaderHash(&r.header), minted: r.header.Minted, redeemed: r.header.Redeemed, unspent: r.unspent, unspentSum: r.unspentSum}
}

// snapName is the file holding shard's snapshot as of batch seq.
func snapName(shard int, seq uint64) string {
	return fmt.Sprintf("%03d-%020d.snap", shard, seq)
}

// listSnapshots finds the newest snapshot of each shard, and the files
// that are left over (older snapshots, unfinished temporary files). It
// removes nothing: a refused open leaves the directory as it found it.
func (l *Ledger) listSnapshots(dir string) (seqs []uint64, stale []string, err error) {
	seqs = make([]uint64, l.cfg.Shards)
	names, err := l.fs.List(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list snapshots: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.HasSuffix(name, ".tmp") {
			stale = append(stale, name)
			continue
		}
		shard, seq, ok := parseSnapName(name)
		if !ok {
			continue
		}
		if shard >= l.cfg.Shards {
			return nil, nil, fmt.Errorf("snapshot %s: the data directory was written with more than %d shards", name, l.cfg.Shards)
		}
		if seq > seqs[shard] {
			if seqs[shard] > 0 {
				stale = append(stale, snapName(shard, seqs[shard]))
			}
			seqs[shard] = seq
		} else {
			stale = append(stale, name)
		}
	}
	return seqs, stale, nil
}

// removeSnapshots deletes snapshot files by name, best effort: they are
// leftovers, and one that stays is cleaned up at the next open.
func (l *Ledger) removeSnapshots(names []string) {
	for _, name := range names {
		if err := l.fs.Remove(l.fs.PathJoin(l.snapPath, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.log.Warn("leftover snapshot not removed", "file", name, "err", err)
		}
	}
}

func parseSnapName(name string) (shard int, seq uint64, ok bool) {
	a, b, found := strings.Cut(strings.TrimSuffix(name, ".snap"), "-")
	if !found || !strings.HasSuffix(name, ".snap") || len(a) != 3 || len(b) != 20 {
		return 0, 0, false
	}
	s, err1 := strconv.Atoi(a)
	q, err2 := strconv.ParseUint(b, 10, 64)
	return s, q, err1 == nil && err2 == nil
}

// snapJob is one shard's snapshot: an image of its table as of batch seq
// (copied by the commit loop, see cowCopy), written to disk by a background
// goroutine.
type snapJob struct {
	shard int
	seq   uint64
	img   []byte // raw slots
	err   error
}

// snapBuffer returns the staging buffer, grown (outside the Go heap) to
// hold at least n bytes. Only called when no snapshot is in flight.
func (l *Ledger) snapBuffer(n int) ([]byte, error) {
	if len(l.snapBuf) < n {
		if l.snapBuf != nil {
			syscall.Munmap(l.snapBuf)
			l.snapBuf = nil
		}
		b, err := mapBytes(n + n/4 + slotSize)
		if err != nil {
			return nil, err
		}
		l.snapBuf = b
	}
	return l.snapBuf, nil
}

// stage copies a whole shard at once, for genesis and migration, when
// nothing else runs.
func (l *Ledger) stage(set *noteSet, shard int, seq uint64) (snapJob, error) {
	sh := &set.shards[shard]
	buf, err := l.snapBuffer(len(sh.slots) * slotSize)
	if err != nil {
		return snapJob{}, err
	}
	c := sh.startCopy(buf)
	sh.copySome(c, len(c.img))
	return snapJob{shard: shard, seq: seq, img: c.img}, nil
}

// writeSnapshot makes a staged shard durable: a temporary file, fsynced,
// renamed into place, and the directory fsynced, so a crash leaves either
// the old snapshot or the new one, never half of one.
func writeSnapshot(fs vfs.FS, dir string, shards int, rate int64, j *snapJob) error {
	final := fs.PathJoin(dir, snapName(j.shard, j.seq))
	tmp := final + ".tmp"
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("snapshot shard %d: %w", j.shard, err)
	}
	err = encodeSnapshot(&pacedWriter{w: f, rate: rate, start: time.Now()}, j.shard, shards, j.seq, imageSlots(j.img))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, final)
	}
	if err == nil {
		err = store.SyncDirFS(fs, dir)
	}
	if err != nil {
		// Best effort: a leftover .tmp is removed at the next open.
		_ = fs.Remove(tmp)
		return fmt.Errorf("snapshot shard %d at batch %d: %w", j.shard, j.seq, err)
	}
	return nil
}

// pacedWriter holds a background snapshot to rate bytes a second (0: no
// limit). Writing a shard of ~100 MB (50M notes) flat out takes a core for
// a few hundred milliseconds, which the verifiers and the commit loop feel
// as a latency spike; spread out, it is noise.
type pacedWriter struct {
	w       vfs.File
	rate    int64
	synced  int64
	start   time.Time
	written int64
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.written += int64(n)
	if err == nil && p.written-p.synced >= 8<<20 {
		// A few MiB at a time, so the log's fsync never queues behind
		// a whole shard's dirty pages.
		p.synced = p.written
		err = p.w.Sync()
	}
	if p.rate > 0 {
		due := p.start.Add(time.Duration(p.written * int64(time.Second) / p.rate))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
	return n, err
}

// loadSnapshot reads shard's snapshot at seq into set, checking its
// header, checksum, count and sum.
func (l *Ledger) loadSnapshot(dir string, set *noteSet, shard int, seq uint64) error {
	name := l.fs.PathJoin(dir, snapName(shard, seq))
	f, err := l.fs.Open(name)
	if err != nil {
		return fmt.Errorf("load snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("load snapshot: %w", err)
	}
	sh := &set.shards[shard]
	_, err = decodeSnapshot(f, st.Size(), func(h *snapHead) error {
		if int(h.shard) != shard || h.seq != seq {
			return fmt.Errorf("header of shard %d at batch %d does not match its name", h.shard, h.seq)
		}
		if int(h.shards) != l.cfg.Shards {
			return fmt.Errorf("written with %d shards, the ledger runs %d", h.shards, l.cfg.Shards)
		}
		return nil
	}, func(key *[24]byte, value uint64) error {
		return sh.putKey(*key, value)
	})
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", name, err)
	}
	return nil
}

// sumSet totals the index: count and value of every unspent note.
func sumSet(set *noteSet) (count, sum uint64) {
	for i := range set.shards {
		sh := &set.shards[i]
		for j := range sh.slots {
			sum += sh.slots[j].value
		}
		count += uint64(sh.count)
	}
	return count, sum
}

// recoverState rebuilds the unspent index from the snapshots and the log,
// and brings the store up to the log's last record.
func (l *Ledger) recoverState() error {
	if err := l.fs.MkdirAll(l.snapPath, 0o700); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	// A new directory's entry is durable only once its parent is synced:
	// without this a crash could take the snapshot directory, and every
	// snapshot in it, after the log behind them was dropped.
	if err := store.SyncDirFS(l.fs, l.fs.PathDir(l.snapPath)); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if ok, err := l.db.Has([]byte(keyTransfer)); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("a state transfer from a peer was cut off part way: wipe this replica's data directory and rejoin under a new ID")
		}
		return fmt.Errorf("recover: %w", err)
	}
	_, err := l.db.Get([]byte(keyFormat))
	if errors.Is(err, store.ErrNotFound) {
		if l.meta.seq > 0 {
			return l.migrate()
		}
		b := l.db.NewBatch()
		b.Set([]byte(keyFormat), []byte(formatValue))
		if err := b.Commit(true); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	seqs, stale, err := l.listSnapshots(l.snapPath)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	p := l.meta.seq
	last := max(p, l.wal.Last())
	if slices.Max(seqs) > last && l.cfg.Log == nil {
		if last != 0 {
			return fmt.Errorf("recover: a shard snapshot is at batch %d, past the last committed batch %d", slices.Max(seqs), last)
		}
		// A genesis that stopped before committing: nothing was.
		for i, s := range seqs {
			if s > 0 {
				stale = append(stale, snapName(i, s))
			}
		}
		clear(seqs)
	}
	from := min(p, slices.Min(seqs)) + 1
	if l.cfg.Log == nil && from <= last && (l.wal.Last() != last || l.wal.First() > from || l.wal.First() == 0) {
		return fmt.Errorf("recover: the log holds batches %d to %d; recovery needs %d to %d", l.wal.First(), l.wal.Last(), from, last)
	}
	// With Config.Log the batches after the snapshots come from the
	// consensus log; every batch up to applied was applied here before
	// (the store or a snapshot has it), so it was committed even where the
	// consensus log does not yet know it.
	applied := max(last, slices.Max(seqs))
	b := l.db.NewBatch()
	m := l.meta
	got, err := l.loadNotes(l.notes, seqs, from, ^uint64(0), applied, func(seq uint64, r *record, arch []byte) error {
		if seq <= p {
			return nil // the store has it
		}
		if arch != nil && l.cfg.Archive {
			b.Set(archiveKey(seq), arch)
		}
		if seq != m.seq+1 || r.header.Prev != m.head {
			return fmt.Errorf("log record %d does not follow batch %d", seq, m.seq)
		}
		m = r.meta(l.net)
		if err := m.conserved(); err != nil {
			return fmt.Errorf("log record %d: %w", seq, err)
		}
		l.storeRecord(b, r, &m)
		if b.Len() > 32<<20 {
			if err := b.Commit(false); err != nil {
				return err
			}
			b = l.db.NewBatch()
		}
		return nil
	})
	if err != nil {
		b.Discard()
		return fmt.Errorf("recover: %w", err)
	}
	if got < applied {
		b.Discard()
		return fmt.Errorf("recover: this ledger applied batch %d, but its logs hold batches only up to %d: the raft log is not the one this ledger went with", applied, got)
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	l.meta = m
	if count, sum := sumSet(l.notes); count != l.meta.unspent || sum != l.meta.unspentSum {
		return fmt.Errorf("recover: snapshots and log give %d notes holding %d; totals say %d holding %d", count, sum, l.meta.unspent, l.meta.unspentSum)
	}
	l.snapSeq = seqs
	if l.cfg.Log != nil {
		l.durable.Store(slices.Min(seqs))
	} else {
		l.durable.Store(l.meta.seq)
	}
	l.removeSnapshots(stale)
	return nil
}

// loadNotes fills set from disk: each shard's snapshot at seqs (0: none),
// then the batches from..to (eachRecord), applied to the shards whose
// snapshot is older; each record is also handed to then, when not nil,
// with its archive entry when the consensus log carried one. It returns the
// last batch it redid (from-1 when none).
func (l *Ledger) loadNotes(set *noteSet, seqs []uint64, from, to, applied uint64, then func(seq uint64, r *record, arch []byte) error) (uint64, error) {
	for i, s := range seqs {
		if s > 0 {
			if err := l.loadSnapshot(l.snapPath, set, i, s); err != nil {
				return 0, err
			}
		}
	}
	return l.eachRecord(from, to, applied, func(seq uint64, r *record, _, arch []byte) error {
		if err := l.redoNotes(set, seqs, seq, r.dels, r.puts); err != nil {
			return err
		}
		if then != nil {
			return then(seq, r, arch)
		}
		return nil
	})
}

// missingError is a batch that neither the ledger's own log nor
// Config.Log holds (they were cut behind a snapshot, or the logs are not
// the ones this ledger went with): want, where the logs go on at batch
// found (0: nowhere).
type missingError struct{ want, found uint64 }

func (e *missingError) Error() string {
	if e.found == 0 {
		return fmt.Sprintf("batch %d is in no log", e.want)
	}
	return fmt.Sprintf("batch %d is in no log, which goes on at batch %d", e.want, e.found)
}

// eachRecord hands fn the records of batches from..to in order, with the
// record's bytes and its archive entry (nil when none came with it): first
// from the ledger's own log, then, with Config.Log, from the consensus log.
// There an entry of a batch already handed on (one the leader evaluated on
// a state since moved past) is skipped as ApplyRecord skips it, and an
// entry past the log's known commit point is taken only up to batch
// applied. It returns the last batch handed on (from-1 when none); a batch
// missing before one the logs hold is a *missingError.
func (l *Ledger) eachRecord(from, to, applied uint64, fn func(seq uint64, r *record, rec, arch []byte) error) (uint64, error) {
	next := from
	err := l.wal.Replay(from, func(seq uint64, payload []byte) error {
		if seq > to {
			return errStopEntries
		}
		r, err := decodeRecord(payload)
		if err != nil {
			return fmt.Errorf("log record %d: %w", seq, err)
		}
		if r.header.Seq != seq {
			return fmt.Errorf("log record %d holds batch %d", seq, r.header.Seq)
		}
		if seq != next {
			return &missingError{want: next, found: seq}
		}
		next++
		return fn(seq, &r, payload, nil)
	})
	if err != nil && !errors.Is(err, errStopEntries) {
		return next - 1, err
	}
	if l.cfg.Log == nil || next > to {
		return next - 1, nil
	}
	err = l.cfg.Log.Replay(func(entry []byte, committed bool) error {
		rec, r, arch, err := decodeEntry(entry)
		if err != nil {
			return fmt.Errorf("consensus log entry after batch %d: %w", next-1, err)
		}
		seq := r.header.Seq
		switch {
		case seq < next:
			return nil
		case seq > to || (!committed && seq > applied):
			return errStopEntries
		case seq > next:
			return fmt.Errorf("consensus log: %w", &missingError{want: next, found: seq})
		}
		next++
		return fn(seq, &r, rec, arch)
	})
	if err != nil && !errors.Is(err, errStopEntries) {
		return next - 1, err
	}
	return next - 1, nil
}

// migrate moves a store written before snapshots (every unspent note a
// key) to snapshots: load the notes, snapshot every shard at the current
// batch, then delete the keys. A crash part way leaves the old format,
// and the next open migrates again.
func (l *Ledger) migrate() error {
	if l.wal.Last() != 0 {
		return fmt.Errorf("recover: store of the old format next to a log")
	}
	if err := l.loadIndex(); err != nil {
		return err
	}
	seqs, err := l.snapshotAll(l.meta.seq)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	b := l.db.NewBatch()
	b.DeleteRange([]byte{prefixNote}, []byte{prefixNote + 1})
	b.Set([]byte(keyFormat), []byte(formatValue))
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	l.snapSeq = seqs
	l.log.Info("moved the unspent set from the store to snapshots", "notes", l.meta.unspent, "batch", l.meta.seq)
	return nil
}

// snapshotAll writes every shard's snapshot at batch seq, in this
// goroutine: for genesis and migration, when nothing else runs.
func (l *Ledger) snapshotAll(seq uint64) ([]uint64, error) {
	seqs := make([]uint64, l.cfg.Shards)
	for i := range seqs {
		j, err := l.stage(l.notes, i, seq)
		if err != nil {
			return nil, err
		}
		if err := writeSnapshot(l.fs, l.snapPath, l.cfg.Shards, 0, &j); err != nil {
			return nil, err
		}
		seqs[i] = seq
	}
	return seqs, nil
}

// snapshotTick runs in the commit loop after each batch: it retires a
// finished snapshot (dropping the log behind the oldest one), goes on
// copying the shard being snapshotted (SnapshotSlice bytes a batch), hands
// a complete copy to a background writer, and starts the oldest shard's
// copy once the log has grown by SnapshotEvery bytes.
func (l *Ledger) snapshotTick() {
	select {
	case j := <-l.snapDone:
		l.snapBusy = false
		l.finishSnapshot(j)
	default:
	}
	if l.fatal != nil {
		return // the index may be off; a restart rebuilds it from disk
	}
	if l.copying == nil {
		if l.snapBusy || l.logBytes-l.snapMark < l.cfg.SnapshotEvery {
			return
		}
		// The oldest snapshot goes next: it is what holds the log back.
		shard := 0
		for i, s := range l.snapSeq {
			if s < l.snapSeq[shard] {
				shard = i
			}
		}
		sh := &l.notes.shards[shard]
		buf, err := l.snapBuffer(len(sh.slots) * slotSize)
		if err != nil {
			l.log.Error("shard snapshot not started", "shard", shard, "err", err)
			return
		}
		l.copying = sh.startCopy(buf)
		l.copyJob = snapJob{shard: shard, seq: l.meta.seq}
		l.snapMark = l.logBytes
		l.snapBusy = true
	}
	if !l.notes.shards[l.copyJob.shard].copySome(l.copying, int(l.cfg.SnapshotSlice)) {
		return
	}
	j := l.copyJob
	j.img = l.copying.img
	l.copying = nil
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t0 := time.Now()
		j.err = writeSnapshot(l.fs, l.snapPath, l.cfg.Shards, l.cfg.SnapshotRate, &j)
		l.log.Debug("shard snapshot written", "shard", j.shard, "batch", j.seq, "took", time.Since(t0))
		if j.err == nil {
			// The store was written without fsync; before the log
			// behind this snapshot may go, what it redid must be on disk.
			j.err = l.db.Sync()
		}
		l.snapDone <- j
	}()
}

func (l *Ledger) finishSnapshot(j snapJob) {
	if j.err != nil {
		l.log.Error("shard snapshot failed; the log is kept and the shard tried again later", "shard", j.shard, "err", j.err)
		return
	}
	old := l.snapSeq[j.shard]
	l.snapSeq[j.shard] = j.seq
	if l.cfg.Log != nil {
		l.durable.Store(slices.Min(l.snapSeq))
	}
	if old > 0 && old != j.seq {
		l.removeSnapshots([]string{snapName(j.shard, old)})
	}
	if err := l.wal.DropBefore(slices.Min(l.snapSeq) + 1); err != nil {
		l.log.Warn("log segments not dropped", "err", err)
	}
}

// rebuild reads the unspent set back from disk (snapshots and log) into a
// fresh index, for checking the live one. The caller holds stepMu.
func (l *Ledger) rebuild() (*noteSet, error) {
	set, err := newNoteSet(l.cfg.Shards)
	if err != nil {
		return nil, err
	}
	l.mu.RLock()
	head := l.meta.seq
	l.mu.RUnlock()
	if _, err := l.loadNotes(set, l.snapSeq, slices.Min(l.snapSeq)+1, head, head, nil); err != nil {
		set.close()
		return nil, err
	}
	return set, nil
}

// snapshotBytes is the size of the current snapshot files.
func (l *Ledger) snapshotBytes() uint64 {
	var n uint64
	names, _ := l.fs.List(l.snapPath)
	for _, name := range names {
		if info, err := l.fs.Stat(l.fs.PathJoin(l.snapPath, name)); err == nil {
			n += uint64(info.Size())
		}
	}
	return n
}

// Checkpoint makes everything applied durable in the ledger's own files:
// every shard snapshotted at the head and the store synced, so Durable
// reaches the head. A replicated ledger (Config.Log) that was brought up
// to date from outside its consensus log (catch-up by snapshot,
// internal/replica) calls it before that log drops the entries behind the
// snapshot: those batches are in no log of this replica. It writes the
// whole unspent set, in the caller's goroutine, holding up commits.
func (l *Ledger) Checkpoint() error {
	release, err := l.lockStep("checkpoint")
	if err != nil {
		return err
	}
	defer release()
	var written []snapJob
	// A snapshot in flight finishes first: it holds the staging buffer.
	if l.copying != nil {
		l.notes.shards[l.copyJob.shard].copySome(l.copying, len(l.copying.img))
		j := l.copyJob
		j.img = l.copying.img
		l.copying, l.snapBusy = nil, false
		if err := writeSnapshot(l.fs, l.snapPath, l.cfg.Shards, 0, &j); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		written = append(written, snapJob{shard: j.shard, seq: j.seq})
	} else if l.snapBusy {
		j := <-l.snapDone
		l.snapBusy = false
		l.finishSnapshot(j)
	}
	head := l.meta.seq
	for i, s := range l.snapSeq {
		if s == head || (len(written) > 0 && written[0].shard == i && written[0].seq == head) {
			continue
		}
		j, err := l.stage(l.notes, i, head)
		if err == nil {
			err = writeSnapshot(l.fs, l.snapPath, l.cfg.Shards, 0, &j)
		}
		if err != nil {
			return fmt.Errorf("checkpoint at batch %d: %w", head, err)
		}
		written = append(written, snapJob{shard: i, seq: head})
	}
	// Before the snapshots count, what they stand on must be on disk.
	if err := l.db.Sync(); err != nil {
		return fmt.Errorf("checkpoint at batch %d: %w", head, err)
	}
	for _, j := range written {
		l.finishSnapshot(j)
	}
	l.durable.Store(max(l.durable.Load(), slices.Min(l.snapSeq)))
	return nil
}

// lockStep holds the ledger open and its state machine still (stepMu) for
// an operation on the whole state, refusing when the ledger is closed or
// stopped; the func returned lets go of both.
func (l *Ledger) lockStep(what string) (func(), error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	l.stepMu.Lock()
	if l.fatal != nil {
		err := fmt.Errorf("%s: ledger stopped: %w", what, l.fatal)
		l.stepMu.Unlock()
		release()
		return nil, err
	}
	return func() {
		l.stepMu.Unlock()
		release()
	}, nil
}
