package ledger

import (
	"errors"
	"fmt"

	"github.com/specie/specie/errcode"
	"github.com/specie/specie/internal/store"
	"github.com/specie/specie/money"
)

// Catch-up by snapshot (internal/replica). A replicated ledger's raft log
// is compacted behind a retention; a replica that falls behind the
// compaction point (or joins empty) is sent a raft snapshot naming the
// batch and head hash the group had reached at that raft index, and fetches
// the batches it lacks from a peer's ledger as replicated entries (the
// same bytes ApplyRecord takes from the raft log). Entries serves them from
// the log the batches are durable in (this ledger's own, with its archive,
// or the consensus log, Config.Log); EntryHead lets the receiver check the
// chain before applying anything. Neither touches the network.

// errStopEntries ends a log replay once Entries has what it wants.
var errStopEntries = errors.New("enough entries")

// Entries hands fn the replicated entries (format.go: replicated entry) of
// the batches from..to, in order, each the log record with its archive
// entry when the archive holds the batch, stopping after maxBytes of them
// (at least one) and returning how many it handed on. Batches are read from
// the log they are durable in (the ledger's own or Config.Log), which holds
// every batch since the oldest shard snapshot: a from before that is
// refused with errcode.NotFound (the records were dropped behind the
// snapshots), as is one past the head. It holds up the commit loop while
// it reads, so keep maxBytes to a few MiB. fn's entry is only valid during the call.
func (l *Ledger) Entries(from, to uint64, maxBytes int, fn func(seq uint64, entry []byte) error) (int, error) {
	release, err := l.enter()
	if err != nil {
		return 0, err
	}
	defer release()
	l.stepMu.Lock()
	defer l.stepMu.Unlock()
	l.mu.RLock()
	head := l.meta.seq
	l.mu.RUnlock()
	if from == 0 || from > to || to > head {
		return 0, errcode.New(errcode.NotFound, "batches %d to %d: this ledger holds batches 1 to %d", from, to, head)
	}
	n, size := 0, 0
	var buf []byte
	_, err = l.eachRecord(from, to, head, func(seq uint64, _ *record, rec, arch []byte) error {
		if n > 0 && size >= maxBytes {
			return errStopEntries
		}
		if arch == nil {
			var err error
			arch, err = l.db.Get(archiveKey(seq))
			switch {
			case errors.Is(err, store.ErrNotFound):
				arch = nil
			case err != nil:
				return fmt.Errorf("batch %d: archive: %w", seq, err)
			}
		}
		buf = appendEntry(buf[:0], rec, arch)
		if err := fn(seq, buf); err != nil {
			return err
		}
		n++
		size += len(buf)
		return nil
	})
	if me := (*missingError)(nil); errors.As(err, &me) && n == 0 {
		return 0, errcode.New(errcode.NotFound, "batches %d to %d: this ledger's log starts at batch %d (earlier records were dropped behind its snapshots)", from, to, me.found)
	}
	if err != nil {
		return n, fmt.Errorf("entries %d to %d: %w", from, to, err)
	}
	if n == 0 {
		// Every record up to the head was dropped behind the snapshots.
		return 0, errcode.New(errcode.NotFound, "batches %d to %d: this ledger's log starts at batch %d (earlier records were dropped behind its snapshots)", from, to, head+1)
	}
	return n, nil
}

// EntryHead decodes a replicated entry strictly and returns its batch's
// header and the hash of that header on this ledger's network, so a
// receiver can check a chain of fetched entries links up to a hash it
// trusts before applying any of them (the txids are checked against the
// header's Merkle root, so the header covers them too). It only decodes.
func (l *Ledger) EntryHead(entry []byte) (money.BatchHeader, money.Hash, error) {
	_, r, _, err := decodeEntry(entry)
	if err != nil {
		return money.BatchHeader{}, money.Hash{}, err
	}
	if money.MerkleRoot(r.ids) != r.header.TxRoot || uint64(len(r.ids)) != uint64(r.header.TxCount) {
		return money.BatchHeader{}, money.Hash{}, fmt.Errorf("batch %d: its txids do not match its header", r.header.Seq)
	}
	return r.header, l.net.HeaderHash(&r.header), nil
}
