package ledger

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/specie/specie/money"
)

// State transfer. A replica that is behind everything its peers' raft logs
// still hold (new, wiped, or down for long) cannot be brought up to date
// batch by batch: it takes a peer's whole state instead (internal/replica,
// catch-up by snapshot). WriteState streams it: the running totals, every
// unspent note, and every key of the store (headers, txid places, archive,
// key sets), all as of one batch. LoadState checks a stream against the
// header hash the raft snapshot names and replaces this ledger's state
// with it. The stream is
//
//	| version u8 (1) | meta (format.go) | notes u64 | per note: key [24], value u64 |
//	| per store key: 1 u8, key len u32, key, value len u32, value | 0 u8 |

const stateVersion = 1

// keyTransfer marks a store whose state transfer has not finished: the
// store and the snapshots may be part old, part new. Open refuses it.
const keyTransfer = "T"

// Bounds on what a state stream may hold, so that a damaged one is
// refused rather than read into memory.
const (
	maxStateKey   = 1 << 10
	maxStateValue = 256 << 20
)

// WriteState writes this ledger's whole state at its head to w and returns
// that batch. Commits wait only while the unspent set is copied (a few
// milliseconds a million notes); the store is read from a point-in-time
// view after.
func (l *Ledger) WriteState(w io.Writer) (uint64, error) {
	release, err := l.enter()
	if err != nil {
		return 0, err
	}
	defer release()
	l.stepMu.Lock()
	if l.fatal != nil {
		l.stepMu.Unlock()
		return 0, fmt.Errorf("write state: ledger stopped: %w", l.fatal)
	}
	snap := l.db.NewSnapshot()
	l.mu.RLock()
	m := l.meta
	l.mu.RUnlock()
	notes := make([]slot, 0, m.unspent)
	for i := range l.notes.shards {
		sh := &l.notes.shards[i]
		sh.mu.RLock()
		for _, s := range sh.slots {
			if s.value != 0 {
				notes = append(notes, s)
			}
		}
		sh.mu.RUnlock()
	}
	l.stepMu.Unlock()
	defer snap.Close()

	bw := bufio.NewWriterSize(w, 1<<20)
	var b []byte
	b = append(b, stateVersion)
	b = append(b, m.encode()...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(notes)))
	if _, err := bw.Write(b); err != nil {
		return 0, fmt.Errorf("write state: %w", err)
	}
	for _, s := range notes {
		b = append(b[:0], s.key[:]...)
		b = binary.BigEndian.AppendUint64(b, s.value)
		if _, err := bw.Write(b); err != nil {
			return 0, fmt.Errorf("write state: %w", err)
		}
	}
	err = snap.Scan(func(k, v []byte) error {
		b = append(b[:0], 1)
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		if _, err := bw.Write(b); err != nil {
			return err
		}
		_, err := bw.Write(v)
		return err
	})
	if err == nil {
		err = bw.WriteByte(0)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return 0, fmt.Errorf("write state: %w", err)
	}
	return m.seq, nil
}

// stateReader decodes a state stream, strictly: it comes from a peer.
type stateReader struct {
	r   *bufio.Reader
	buf []byte
}

func (s *stateReader) read(n int) ([]byte, error) {
	// In steps of at most 1 MiB, so a length the stream claims is not
	// allocated before its bytes arrive.
	s.buf = s.buf[:0]
	for len(s.buf) < n {
		k := min(n-len(s.buf), 1<<20)
		s.buf = slices.Grow(s.buf, k)
		if _, err := io.ReadFull(s.r, s.buf[len(s.buf):len(s.buf)+k]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		s.buf = s.buf[:len(s.buf)+k]
	}
	return s.buf, nil
}

// decodeState reads a state stream: its meta first (head), then each note
// (note), then each store key (kv), checking the framing, the totals
// against the notes, and the header chain the store holds against the
// meta's head. The slices handed on are only valid during the call.
func decodeState(r io.Reader, net money.Network, head func(m *meta) error, note func(key [24]byte, value uint64) error, kv func(k, v []byte) error) (meta, error) {
	s := &stateReader{r: bufio.NewReaderSize(r, 1<<20)}
	var m meta
	b, err := s.read(1 + metaSize)
	if err != nil {
		return m, fmt.Errorf("state: %w", err)
	}
	if b[0] != stateVersion {
		return m, fmt.Errorf("state: version %d", b[0])
	}
	if err := m.decode(b[1:]); err != nil {
		return m, fmt.Errorf("state: %w", err)
	}
	if err := m.conserved(); err != nil {
		return m, fmt.Errorf("state: %w", err)
	}
	if err := head(&m); err != nil {
		return m, err
	}
	b, err = s.read(8)
	if err != nil {
		return m, fmt.Errorf("state: %w", err)
	}
	n := binary.BigEndian.Uint64(b)
	if n != m.unspent {
		return m, fmt.Errorf("state: %d notes, the totals say %d", n, m.unspent)
	}
	var sum uint64
	for i := uint64(0); i < n; i++ {
		b, err := s.read(32)
		if err != nil {
			return m, fmt.Errorf("state: note %d: %w", i, err)
		}
		var k [24]byte
		copy(k[:], b)
		v := binary.BigEndian.Uint64(b[24:])
		if v == 0 || sum+v < sum {
			return m, fmt.Errorf("state: note %x holds %d", k[:8], v)
		}
		sum += v
		if err := note(k, v); err != nil {
			return m, err
		}
	}
	if sum != m.unspentSum {
		return m, fmt.Errorf("state: the notes hold %d, the totals say %d", sum, m.unspentSum)
	}
	var prev money.Hash
	var seq uint64
	for {
		b, err := s.read(1)
		if err != nil {
			return m, fmt.Errorf("state: %w", err)
		}
		if b[0] == 0 {
			break
		}
		if b[0] != 1 {
			return m, fmt.Errorf("state: key tag %d", b[0])
		}
		if b, err = s.read(4); err != nil {
			return m, fmt.Errorf("state: %w", err)
		}
		kl := binary.BigEndian.Uint32(b)
		if kl == 0 || kl > maxStateKey {
			return m, fmt.Errorf("state: a key of %d bytes", kl)
		}
		if b, err = s.read(int(kl)); err != nil {
			return m, fmt.Errorf("state: %w", err)
		}
		k := append([]byte(nil), b...)
		if b, err = s.read(4); err != nil {
			return m, fmt.Errorf("state: %w", err)
		}
		vl := binary.BigEndian.Uint32(b)
		if vl > maxStateValue {
			return m, fmt.Errorf("state: a value of %d bytes", vl)
		}
		v, err := s.read(int(vl))
		if err != nil {
			return m, fmt.Errorf("state: %w", err)
		}
		switch {
		case k[0] == prefixNote || string(k) == keyTransfer:
			return m, fmt.Errorf("state: key %q is not of a current store", k)
		case k[0] == prefixBatch:
			h, ids, err := decodeBatch(v)
			if err != nil {
				return m, fmt.Errorf("state: batch key %x: %w", k, err)
			}
			seq++
			if len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != seq || h.Seq != seq || h.Prev != prev || h.TxRoot != money.MerkleRoot(ids) {
				return m, fmt.Errorf("state: the header chain breaks at batch %d", seq)
			}
			prev = net.HeaderHash(&h)
			if err := kv(k, v); err != nil {
				return m, err
			}
			continue
		}
		if err := kv(k, v); err != nil {
			return m, err
		}
	}
	if _, err := s.r.ReadByte(); err != io.EOF {
		return m, fmt.Errorf("state: bytes after the end")
	}
	if seq != m.seq || prev != m.head {
		return m, fmt.Errorf("state: %d batch headers ending at %x; the totals are of batch %d at %x", seq, prev[:8], m.seq, m.head[:8])
	}
	return m, nil
}

// LoadState replaces this ledger's state with the stream in f, which must
// hold batch at with header hash atHead (what the raft snapshot names):
// one pass checks the whole stream before anything is changed, a second
// writes it. A crash part way through the second leaves a mark that Open
// refuses (the replica is then wiped and rejoins). Only a ledger whose
// batches are durable in a consensus log (Config.Log) takes one: its own
// log would not follow on.
func (l *Ledger) LoadState(f io.ReadSeeker, at uint64, atHead money.Hash) error {
	if l.cfg.Log == nil {
		return fmt.Errorf("load state: only a ledger with Config.Log takes a state transfer")
	}
	release, err := l.lockStep("load state")
	if err != nil {
		return err
	}
	defer release()
	net := []byte(fmt.Sprintf("%s/%s/%d", l.net.ID, l.net.Currency.Code, l.net.Currency.Exponent))
	set, err := newNoteSet(l.cfg.Shards)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	defer func() { set.close() }()
	// Pass 1: check everything, building the unspent set aside.
	m, err := decodeState(f, l.net, func(m *meta) error {
		if m.seq < at {
			return fmt.Errorf("state: of batch %d, the snapshot is of batch %d", m.seq, at)
		}
		return nil
	}, func(k [24]byte, v uint64) error {
		var id money.NoteID
		copy(id[:], k[:])
		sh := &set.shards[l.shardOf(&id)]
		if sh.getKey(k) != 0 {
			return fmt.Errorf("state: note %x twice", k[:8])
		}
		return sh.putKey(k, v)
	}, func(k, v []byte) error {
		switch {
		case string(k) == keyNetwork && string(v) != string(net):
			return fmt.Errorf("state: of network %s, this ledger's is %s", v, net)
		case len(k) == 9 && k[0] == prefixBatch && binary.BigEndian.Uint64(k[1:]) == at:
			h, _, _ := decodeBatch(v)
			if hh := l.net.HeaderHash(&h); hh != atHead {
				return fmt.Errorf("state: batch %d is %x, %x in the snapshot: replicas diverged", at, hh[:8], atHead[:8])
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	if at > 0 && m.seq < at {
		return fmt.Errorf("load state: no batch %d", at)
	}
	// A snapshot in flight finishes first: it holds the staging buffer.
	if l.copying != nil {
		l.notes.shards[l.copyJob.shard].cow = nil
		l.copying, l.snapBusy = nil, false
	} else if l.snapBusy {
		j := <-l.snapDone
		l.snapBusy = false
		l.finishSnapshot(j)
	}
	// Pass 2: mark, write the store and the snapshots, unmark (synced).
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	b := l.db.NewBatch()
	b.Set([]byte(keyTransfer), nil)
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	b = l.db.NewBatch()
	b.DeleteRange([]byte{0}, []byte{0xff, 0xff, 0xff, 0xff})
	b.Set([]byte(keyTransfer), nil)
	_, err = decodeState(f, l.net, func(*meta) error { return nil }, func([24]byte, uint64) error { return nil }, func(k, v []byte) error {
		b.Set(k, v)
		if b.Len() > 32<<20 {
			if err := b.Commit(false); err != nil {
				return err
			}
			b = l.db.NewBatch()
		}
		return nil
	})
	if err == nil {
		err = b.Commit(false)
	}
	if err != nil {
		l.stop(err)
		return fmt.Errorf("load state: %w", err)
	}
	seqs := make([]uint64, l.cfg.Shards)
	for i := range seqs {
		j, err := l.stage(set, i, m.seq)
		if err == nil {
			err = writeSnapshot(l.fs, l.snapPath, l.cfg.Shards, 0, &j)
		}
		if err != nil {
			l.stop(err)
			return fmt.Errorf("load state: %w", err)
		}
		seqs[i] = m.seq
	}
	b = l.db.NewBatch()
	b.Delete([]byte(keyTransfer))
	if err := b.Commit(true); err != nil {
		l.stop(err)
		return fmt.Errorf("load state: %w", err)
	}
	// Swap the new unspent set in, shard by shard, under the readers' locks.
	for i := range l.notes.shards {
		old, nw := &l.notes.shards[i], &set.shards[i]
		old.mu.Lock()
		old.slots, nw.slots = nw.slots, old.slots
		old.mem, nw.mem = nw.mem, old.mem
		old.count, nw.count = nw.count, old.count
		old.seed, nw.seed = nw.seed, old.seed
		old.cow = nil
		old.mu.Unlock()
	}
	stale := make([]string, 0, len(l.snapSeq))
	for i, s := range l.snapSeq {
		if s > 0 && s != m.seq {
			stale = append(stale, snapName(i, s))
		}
	}
	l.removeSnapshots(stale)
	l.snapSeq = seqs
	l.mu.Lock()
	l.meta = m
	l.mu.Unlock()
	l.durable.Store(m.seq)
	if err := l.loadKeySets(); err != nil {
		l.stop(err)
		return fmt.Errorf("load state: %w", err)
	}
	return nil
}
