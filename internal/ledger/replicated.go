package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/specie/specie/money"
)

// Replication. A replicated ledger (internal/replica) runs the same commit
// loop, but a batch is not written where it is decided. The leader's
// commit loop evaluates a batch against its applied state (lookup and
// apply, the state machine step, exactly as alone) and encodes the outcome
// as a log record; the record goes through consensus, and every replica,
// the leader included, applies the committed record with ApplyRecord: the
// same redo of spends, creations, txid places and totals that recovery
// does from the ledger's own log. So the state of every replica is a
// function of the consensus log alone.
//
// A record is evaluated against the state after batch k and names it
// (header Seq k+1, Prev the hash of header k). A leader that lost its
// office may leave a record in the consensus log behind batches another
// leader committed; whoever applies it then finds its Seq already taken and
// skips it. The decision depends only on the log and the state, so every
// replica skips the same entries, and on a restart replaying the log from
// its start skips again everything the ledger already holds.
//
// One durable log. A replicated ledger opened with Config.Log keeps no log
// of its own: the consensus log (the raft log, internal/replica) is where
// every batch is durable, with its archive entry. ApplyRecord writes the
// batch's keys and archive entry to the store without an fsync, as the
// commit path does behind its own log, and recovery redoes from Config.Log
// the batches after the snapshots. So the consensus log must keep every
// entry after the batch Durable reports: the replica compacts it no
// further. A ledger fed records without Config.Log (tests, a consensus
// that keeps nothing) logs and syncs each one itself, as alone. See
// docs/architecture.md, "Replication".

// RecordLog is the durable log a replicated ledger's batches live in
// (Config.Log): the consensus log, read back by recovery.
type RecordLog interface {
	// Replay hands fn every batch entry the log holds, in log order, from
	// its first (the entries before it were compacted, at or behind the
	// batch Durable reported): each entry exactly as Propose carried it
	// (format.go, replicated entry), and whether the log knows it is
	// committed. An entry past the log's known commit point may still be
	// committed (the commit point is saved lazily): the ledger applies one
	// only when its own disk shows it applied that batch before. Entries
	// that are not batches (membership changes, a leader's empty entry)
	// are left out. An error from fn stops the replay and is returned.
	Replay(fn func(entry []byte, committed bool) error) error
}

// Replicator is the consensus a replicated ledger commits through.
type Replicator interface {
	// Lead returns nil when this replica may evaluate a batch now: it
	// leads, and has applied every entry of earlier terms, so its state is
	// the newest. Otherwise an *errcode.Error: not_leader (with the
	// leader's address when one is known) or unavailable.
	Lead() error
	// rec is the batch's entry (format.go, replicated entry): its log
	// record, with its archive entry when the ledger keeps the archive.
	// Propose carries rec through consensus and returns once this replica
	// has applied it (the batch's sequence number), or with an
	// *errcode.Error when it was not committed (unavailable: retry) or its
	// outcome cannot be known here (closed is closed first).
	Propose(rec []byte, closed <-chan struct{}) (uint64, error)
}

// Replicate makes the ledger commit through r: from now on the commit loop
// evaluates batches and proposes them, and nothing is committed except
// through ApplyRecord. Call it once, before the ledger takes submissions.
func (l *Ledger) Replicate(r Replicator) {
	l.repl.Store(&r)
}

// replicator is the ledger's Replicator, or nil when it runs alone.
func (l *Ledger) replicator() Replicator {
	if p := l.repl.Load(); p != nil {
		return *p
	}
	return nil
}

// propose is commit for a replicated ledger: evaluate the batch under
// stepMu, then let go of it while the record goes through consensus (the
// replica's apply loop needs stepMu to apply it, on this replica too).
// Only one batch is in flight at a time, so the next is evaluated against
// a state that includes this one.
func (l *Ledger) propose(r Replicator, batch []*checked) {
	if err := r.Lead(); err != nil {
		for _, c := range batch {
			c.done <- result{err: err}
		}
		return
	}
	rec, ok := l.evaluate(batch)
	if !ok {
		return
	}
	seq, err := r.Propose(rec, l.closed)
	if err != nil {
		for _, c := range batch {
			c.done <- result{err: err}
		}
		return
	}
	l.answer(batch, seq)
}

// evaluate runs the state machine step for batch against the applied
// state and returns the record of its outcome. When nothing in the batch
// commits (or the ledger is stopped) it answers the batch itself and
// returns false.
func (l *Ledger) evaluate(batch []*checked) ([]byte, bool) {
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	if batch = l.recheckMints(batch); len(batch) == 0 {
		return nil, false
	}
	out, ok := l.step(batch)
	if !ok {
		return nil, false
	}
	out.after.head = l.net.HeaderHash(&out.header)
	var r record
	r.fill(batch, &out)
	rec := r.appendTo(nil)
	if !l.cfg.Archive {
		return rec, true
	}
	// The archive entry travels with the record (format.go: replicated
	// entry), for every replica to write before it logs the record.
	return appendEntry(nil, rec, appendArchive(nil, batch, &out)), true
}

// ApplyRecord applies one committed entry of the consensus log (a log
// record, or a record with its archive entry: format.go, replicated
// entry), on every replica in log order. A replica with Config.Archive
// stores the archive entry with the batch; one without ignores it. With
// Config.Log nothing is synced (the consensus log holds the entry);
// without, the record goes to the ledger's own log, synced. It returns the batch's sequence number and true
// when the record was applied, or false when it was skipped: evaluated
// against a state that another batch has since moved past (see the
// comment at the top of this file), or already held (a replay after a
// restart). An error means the ledger cannot go on (a storage failure, or
// a record that contradicts the state: the replicas diverged); the ledger
// is stopped.
func (l *Ledger) ApplyRecord(payload []byte) (uint64, bool, error) {
	release, err := l.enter()
	if err != nil {
		return 0, false, err
	}
	defer release()
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	if l.fatal != nil {
		return 0, false, fmt.Errorf("apply record: ledger stopped: %w", l.fatal)
	}
	recBytes, r, arch, err := decodeEntry(payload)
	if err != nil {
		l.stop(err)
		return 0, false, fmt.Errorf("apply record: %w", err)
	}
	seq := r.header.Seq
	l.mu.RLock()
	m := l.meta
	l.mu.RUnlock()
	if seq <= m.seq {
		return seq, false, nil
	}
	if seq != m.seq+1 || r.header.Prev != m.head {
		// A leader evaluates against a prefix of the log every replica
		// applies before this entry, so this cannot happen unless the
		// replicas diverged. Stop loudly rather than build on it.
		err := fmt.Errorf("apply record: batch %d does not follow batch %d (%x): replicas diverged", seq, m.seq, m.head[:8])
		l.stop(err)
		return 0, false, err
	}
	after := r.meta(l.net)
	if err := after.conserved(); err != nil {
		l.stop(err)
		return 0, false, fmt.Errorf("apply record %d: %w", seq, err)
	}
	if r.keySet != nil {
		// A rotation batch (keys.go): its leader judged it against this
		// very state, so one that does not follow the set in force means
		// the replicas diverged.
		if err := l.verifyRotation(&r); err != nil {
			err = fmt.Errorf("apply record: rotation of batch %d: %w: replicas diverged", seq, err)
			l.stop(err)
			return 0, false, err
		}
		arch = nil
	}
	if l.cfg.Log != nil {
		// The consensus log holds the entry, archive included: the store
		// is written without an fsync, and recovery redoes it from there.
		b := l.db.NewBatch()
		if arch != nil && l.cfg.Archive {
			b.Set(archiveKey(seq), arch)
		} else if r.keySet != nil && l.cfg.Archive {
			b.Delete(archiveKey(seq)) // as commitRotation: no archive entry under a rotation batch
		}
		l.storeRecord(b, &r, &after)
		if err := b.Commit(false); err != nil {
			l.stop(err)
			return 0, false, fmt.Errorf("apply record %d: %w", seq, err)
		}
	} else {
		if r.keySet != nil && l.cfg.Archive {
			// As commitRotation: no archive entry under a rotation batch.
			b := l.db.NewBatch()
			b.Delete(archiveKey(seq))
			if err := b.Commit(true); err != nil {
				l.stop(err)
				return 0, false, fmt.Errorf("apply record: %w", err)
			}
		}
		if err := l.logRecord(seq, recBytes, arch, &r, &after); err != nil {
			l.stop(err)
			return 0, false, err
		}
	}
	l.logBytes += int64(len(recBytes))
	if err := l.index(&r); err != nil {
		l.stop(err)
		return 0, false, fmt.Errorf("apply record %d: %w", seq, err)
	}
	if r.keySet != nil {
		l.adopt(&r, &after)
	} else {
		l.mu.Lock()
		l.meta = after
		l.mu.Unlock()
	}
	if l.cfg.Log == nil {
		l.durable.Store(seq)
	}
	if h := l.cfg.OnApply; h != nil {
		h(seq, sha256.Sum256(recBytes))
	}
	l.snapshotTick()
	return seq, true, nil
}

// logRecord is ApplyRecord's write for a ledger without Config.Log: its
// own log is the durable one, as alone. As persist does, the archive entry
// is durable before the log record, so every batch the log holds is
// archived.
func (l *Ledger) logRecord(seq uint64, recBytes, arch []byte, r *record, after *meta) error {
	if arch != nil && l.cfg.Archive {
		if err := l.writeArchive(seq, arch); err != nil {
			return fmt.Errorf("apply record: %w", err)
		}
	}
	if err := l.wal.Append(seq, recBytes); err != nil {
		return fmt.Errorf("apply record: log batch %d: %w", seq, err)
	}
	if err := l.wal.Sync(); err != nil {
		return fmt.Errorf("apply record: sync batch %d: %w", seq, err)
	}
	b := l.db.NewBatch()
	l.storeRecord(b, r, after)
	if err := b.Commit(false); err != nil {
		return fmt.Errorf("apply record %d: %w", seq, err)
	}
	return nil
}

// Durable is the last batch this ledger's own disk holds for good: a
// crash loses nothing up to it even if the consensus log no longer holds
// it. With Config.Log it is the oldest shard snapshot (the store was
// synced when it was taken), so the consensus log may be compacted up to
// it and no further; without, every applied batch (each was synced).
func (l *Ledger) Durable() uint64 {
	return l.durable.Load()
}

// StateHash is a digest of the whole state: the running totals, the head
// of the chain, the officer key set in force, and every unspent note with its value in key order. Two
// replicas at the same batch must give the same hash. It reads the whole
// unspent set and holds up commits while it runs: for tests and audits.
func (l *Ledger) StateHash() (uint64, [32]byte) {
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	l.mu.RLock()
	m := l.meta
	l.mu.RUnlock()
	h := sha256.New()
	h.Write(m.encode())
	ks := l.auth.Load().set.Hash() // the officer key set in force after batch m.seq
	h.Write(ks[:])
	type kv struct {
		key   [24]byte
		value uint64
	}
	var buf [8]byte
	for i := range l.notes.shards {
		sh := &l.notes.shards[i]
		sh.mu.Lock()
		var all []kv
		for _, s := range sh.slots {
			if s.value != 0 {
				all = append(all, kv{s.key, s.value})
			}
		}
		sh.mu.Unlock()
		slices.SortFunc(all, func(a, b kv) int { return slices.Compare(a.key[:], b.key[:]) })
		for _, e := range all {
			h.Write(e.key[:])
			binary.BigEndian.PutUint64(buf[:], e.value)
			h.Write(buf[:])
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return m.seq, out
}

// Head is the last applied batch and its header's hash.
func (l *Ledger) Head() (uint64, money.Hash) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.meta.seq, l.meta.head
}
