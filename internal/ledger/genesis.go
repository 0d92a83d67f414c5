package ledger

import (
	"fmt"

	"github.com/specie/specie/money"
)

// GenesisOutputs is how many notes each genesis transaction creates.
const GenesisOutputs = money.MaxOutputs

// Genesis loads an initial unspent set into an empty ledger in bulk: the
// state a network starts from when money is migrated from an existing
// system, and how the load generator pre-funds millions of notes before
// its clock starts. The notes are the outputs of unsigned genesis mint
// transactions (nonce = their number) recorded as batch 1 of the log, so
// supply and the log stay verifiable. It refuses a ledger that has already
// committed anything. created, if not nil, sees each genesis transaction.
func (l *Ledger) Genesis(n uint64, output func(i uint64) money.Output, created func(tx *money.Tx, id money.TxID)) error {
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.replicator() != nil {
		// Genesis writes batch 1 straight to this replica's disk; the
		// others would never see it.
		return fmt.Errorf("genesis: not supported on a replicated ledger")
	}
	if l.meta.seq != 0 {
		return fmt.Errorf("genesis: ledger already has %d batches", l.meta.seq)
	}
	if n == 0 {
		return fmt.Errorf("genesis: no notes")
	}
	// Check every output before writing anything, as Tx.Check would for a
	// mint, so a genesis that cannot succeed leaves no note in the store or
	// the index. output must return the same value for i on every call.
	var total uint64
	for i := uint64(0); i < n; i++ {
		o := output(i)
		if o.Value == 0 || o.Lock.Kind != money.LockEd25519 {
			return fmt.Errorf("genesis: output %d: zero value or unknown lock kind %d", i, o.Lock.Kind)
		}
		var err error
		if total, err = money.Add(total, o.Value); err != nil {
			return fmt.Errorf("genesis: outputs overflow: %w", err)
		}
	}
	// Past this point only the store, the snapshots or the index can fail.
	// The ledger was empty, so emptying the index and removing the
	// snapshots undoes it. Chunks of txid locations already in the store
	// stay (they point at a batch 1 that does not exist) until a genesis
	// writes them again.
	undo := func(err error) error {
		names := make([]string, l.cfg.Shards)
		for i := range names {
			names[i] = snapName(i, 1)
		}
		l.removeSnapshots(names) // what snapshotAll wrote, if it got that far
		for i := range l.notes.shards {
			sh := &l.notes.shards[i]
			sh.mu.Lock()
			clear(sh.slots)
			sh.count = 0
			sh.mu.Unlock()
		}
		return fmt.Errorf("genesis: %w", err)
	}
	m := l.meta
	var ids []money.Hash
	var arch []byte // the archive entry of batch 1, with Config.Archive
	var archived int
	b := l.db.NewBatch()
	tx := &money.Tx{Kind: money.Mint}
	for i, nonce := uint64(0), uint64(0); i < n; nonce++ {
		tx.Nonce = nonce
		tx.Outputs = tx.Outputs[:0]
		for ; i < n && len(tx.Outputs) < GenesisOutputs; i++ {
			tx.Outputs = append(tx.Outputs, output(i))
		}
		id := l.net.TxID(tx)
		for j := range tx.Outputs {
			note := money.Note{TxID: id, Index: uint32(j), Output: tx.Outputs[j]}
			nid := l.net.NoteID(&note)
			var err error
			sh := &l.notes.shards[l.shardOf(&nid)]
			sh.mu.Lock()
			err = sh.put(&nid, note.Value)
			sh.mu.Unlock()
			if err != nil {
				b.Discard()
				return undo(err)
			}
			m.minted += note.Value // cannot overflow: checked above
		}
		m.unspent += uint64(len(tx.Outputs))
		tk, loc := hashKey(prefixTx, &id), txLoc{seq: 1, index: uint32(len(ids)), kind: money.Mint, outputs: uint16(len(tx.Outputs))}
		var v [txLocSize]byte
		loc.put(&v)
		b.Set(tk[:], v[:])
		ids = append(ids, id)
		if l.cfg.Archive {
			arch = appendArchiveTx(arch, tx)
			archived++
		}
		if created != nil {
			created(tx, id)
		}
		if b.Len() > 32<<20 {
			if err := b.Commit(false); err != nil {
				return undo(err)
			}
			b = l.db.NewBatch()
		}
	}
	m.unspentSum = m.minted
	m.seq = 1
	// The notes go to disk as every shard's snapshot at batch 1, not
	// through the log; the batch commits when its totals reach the store
	// below (until then, recovery discards these snapshots).
	seqs, err := l.snapshotAll(1)
	if err != nil {
		b.Discard()
		return undo(err)
	}
	h := money.BatchHeader{Seq: 1, TxRoot: money.MerkleRoot(ids), TxCount: uint32(len(ids)), Minted: m.minted}
	b.Set(batchKey(1), encodeBatch(&h, ids))
	if l.cfg.Archive {
		// Genesis mints are unsigned: the auditor accepts them in batch 1
		// only, and reports their total as the starting supply.
		b.Set(archiveKey(1), append(appendArchiveHead(nil, archived), arch...))
	}
	m.head = l.net.HeaderHash(&h)
	b.Set([]byte(keyMeta), m.encode())
	if err := b.Commit(true); err != nil {
		return undo(err)
	}
	l.meta = m
	l.snapSeq = seqs
	// Leave the tree in its steady shape, so what runs next does not pay
	// for compacting the bulk load.
	if err := l.db.Compact(); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	return nil
}
