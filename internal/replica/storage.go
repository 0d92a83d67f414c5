package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/specie/specie/internal/ledger"
	"github.com/specie/specie/internal/store"
)

// raftLog is the Raft log and hard state of one replica, durable in a
// Pebble store of its own (dir/raft). Keys:
//
//	"h"                   -> HardState (protobuf)
//	"e" + index (u64 BE)  -> Entry (protobuf)
//	"s"                   -> Snapshot (protobuf): the compaction point
//
// raft reads the log through raftLog's raft.Storage methods: the newest
// entries from a MemoryStorage that holds a bounded tail (cacheEntries
// behind the applied index, compacted as the replica applies), older ones
// from Pebble, which holds every entry after the compaction point (it is
// written first). So memory stays bounded however long the log grows.
//
// With Config.Log it is also the one durable log of the ledger's batches
// (Log, ledger.RecordLog): the ledger keeps none of its own and recovers
// from this one.
//
// The log on disk is compacted behind a retention (snapshot.go), never past
// the ledger's Durable batch: the entries up to a snapshot's index are
// deleted and the snapshot, which names the ledger's batch and head hash at
// that index and the membership then, takes their place. A follower that
// needs an entry behind it is sent the snapshot and fetches the batches it
// lacks from a peer, or the peer's whole state (state.go).
type raftLog struct {
	db    *store.DB
	mem   *raft.MemoryStorage
	cache uint64 // entries kept in memory behind the applied index

	// mu guards snap against raft's node goroutine, which calls the
	// raft.Storage methods while the Ready loop compacts.
	mu sync.RWMutex
	// snap is the compaction point: every entry up to its index is gone
	// from disk. Its metadata is empty (index 0) when nothing was ever
	// compacted.
	snap *pb.Snapshot
	// latest is the snapshot at the applied index as of the last Ready
	// applied (nil before one): what raft sends a follower behind the
	// compaction point, so that it resumes from the newest state (and
	// from a ConfState that names it, when it was just added).
	latest *pb.Snapshot
}

var _ raft.Storage = (*raftLog)(nil)

const (
	keyHardState = "h"
	keySnapshot  = "s"
	prefixEntry  = 'e'
)

func entryKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixEntry}, i)
}

// Log is a replica's raft log on disk, opened before the ledger so that
// the ledger's recovery can read its batches back (ledger.RecordLog): on a
// replicated ledger it is the one durable log of the batches. Hand it to
// both ledger.Config.Log and Config.Log; Start takes it over (Stop, or a
// failed Start, closes it).
type Log struct {
	db *store.DB
}

var _ ledger.RecordLog = (*Log)(nil)

// OpenLog opens the raft log of the replica whose directory is dir (the
// Config.Dir it will start with).
func OpenLog(dir string) (*Log, error) { return OpenLogOn(dir, nil) }

// OpenLogOn is OpenLog on filesystem fs (nil: the operating system's), the
// seam under the raft log's durability: tests crash a replica's disk with
// it (internal/crashtest.Disk), keeping only what raft synced.
func OpenLogOn(dir string, fs vfs.FS) (*Log, error) {
	db, err := store.Open(filepath.Join(dir, "raft"), store.Options{CacheBytes: 16 << 20, FS: fs})
	if err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	return &Log{db: db}, nil
}

// Close closes a log that was not handed to Start.
func (g *Log) Close() error { return g.db.Close() }

// Replay hands fn the ledger entry of every batch the log holds, in index
// order (ledger.RecordLog), committed when its index is at or before the
// saved commit index. It reads a point-in-time view, so the Ready loop may
// go on writing meanwhile.
func (g *Log) Replay(fn func(entry []byte, committed bool) error) error {
	var commit uint64
	switch v, err := g.db.Get([]byte(keyHardState)); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("raft log: hard state: %w", err)
	default:
		st := &pb.HardState{}
		if err := proto.Unmarshal(v, st); err != nil {
			return fmt.Errorf("raft log: hard state: %w", err)
		}
		commit = st.GetCommit()
	}
	return g.db.Scan([]byte{prefixEntry}, nil, func(k, v []byte) error {
		e := &pb.Entry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return fmt.Errorf("raft log: entry %d: %w", binary.BigEndian.Uint64(k[1:]), err)
		}
		if _, ok := proposalOf(e); !ok {
			return nil
		}
		return fn(e.GetData()[propIDSize:], e.GetIndex() <= commit)
	})
}

// openRaftLog opens the store in dir and loads it (loadRaftLog).
func openRaftLog(dir string, cache uint64) (*raftLog, bool, error) {
	db, err := store.Open(dir, store.Options{CacheBytes: 16 << 20})
	if err != nil {
		return nil, false, fmt.Errorf("open raft log: %w", err)
	}
	return loadRaftLog(db, cache)
}

// loadRaftLog loads a raft log store's hard state and its last cache
// entries into memory; on an error it closes db. fresh is true when it
// held nothing: the replica has never run (or its data was wiped).
func loadRaftLog(db *store.DB, cache uint64) (l *raftLog, fresh bool, err error) {
	l = &raftLog{db: db, mem: raft.NewMemoryStorage(), cache: cache, snap: emptySnap()}
	fail := func(err error) (*raftLog, bool, error) {
		db.Close()
		return nil, false, fmt.Errorf("open raft log: %w", err)
	}
	sv, err := db.Get([]byte(keySnapshot))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fail(err)
	default:
		sn := &pb.Snapshot{}
		if err := proto.Unmarshal(sv, sn); err != nil {
			return fail(fmt.Errorf("snapshot: %w", err))
		}
		l.snap = sn
	}
	c := l.snap.GetMetadata().GetIndex()
	// The last index on disk: the last key of the entry prefix.
	var last uint64
	err = db.Scan([]byte{prefixEntry}, nil, func(k, _ []byte) error {
		last = binary.BigEndian.Uint64(k[1:])
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if last < c {
		last = c // every entry was compacted: the log resumes after c
	}
	if c > 0 {
		if err := l.mem.ApplySnapshot(l.snap); err != nil {
			return fail(err)
		}
	}
	if last > c {
		first := c + 1
		if last-c > cache {
			// The memory tail starts after a dummy entry at first-1,
			// whose term raft may ask for.
			first = last - cache + 1
			term, err := l.diskTerm(first - 1)
			if err != nil {
				return fail(err)
			}
			if err := l.mem.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: ptr(first - 1), Term: ptr(term), ConfState: &pb.ConfState{}}}); err != nil {
				return fail(err)
			}
		}
		ents, err := l.diskEntries(first, last+1, ^uint64(0))
		if err != nil {
			return fail(err)
		}
		if err := l.mem.Append(ents); err != nil {
			return fail(err)
		}
	}
	hs, err := db.Get([]byte(keyHardState))
	switch {
	case errors.Is(err, store.ErrNotFound):
		hs = nil
	case err != nil:
		return fail(err)
	default:
		st := &pb.HardState{}
		if err := proto.Unmarshal(hs, st); err != nil {
			return fail(err)
		}
		if err := l.mem.SetHardState(st); err != nil {
			return fail(err)
		}
	}
	return l, last == 0 && hs == nil, nil
}

func emptySnap() *pb.Snapshot {
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: ptr(uint64(0)), Term: ptr(uint64(0)), ConfState: &pb.ConfState{}}}
}

// compacted is the index of the compaction point (0: none) and its term.
func (l *raftLog) compacted() (uint64, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.snap.GetMetadata().GetIndex(), l.snap.GetMetadata().GetTerm()
}

func ptr[T any](v T) *T { return &v }

// diskEntries reads entries [lo, hi) from Pebble, at most maxSize bytes
// of them but at least one, as raft.Storage.Entries promises.
func (l *raftLog) diskEntries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	var out []*pb.Entry
	var size uint64
	err := l.db.Scan([]byte{prefixEntry}, entryKey(lo), func(k, v []byte) error {
		i := binary.BigEndian.Uint64(k[1:])
		if i >= hi {
			return store.ErrStop
		}
		if i != lo+uint64(len(out)) {
			return fmt.Errorf("raft log: entry %d missing", lo+uint64(len(out)))
		}
		size += uint64(len(v))
		if len(out) > 0 && size > maxSize {
			return store.ErrStop
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return fmt.Errorf("raft log: entry %d: %w", i, err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 && lo < hi {
		return nil, raft.ErrUnavailable
	}
	return out, nil
}

func (l *raftLog) diskTerm(i uint64) (uint64, error) {
	c, ct := l.compacted()
	switch {
	case i == c:
		return ct, nil
	case i < c:
		return 0, raft.ErrCompacted
	}
	v, err := l.db.Get(entryKey(i))
	if errors.Is(err, store.ErrNotFound) {
		return 0, raft.ErrUnavailable
	}
	if err != nil {
		return 0, fmt.Errorf("raft log: entry %d: %w", i, err)
	}
	e := &pb.Entry{}
	if err := proto.Unmarshal(v, e); err != nil {
		return 0, fmt.Errorf("raft log: entry %d: %w", i, err)
	}
	return e.GetTerm(), nil
}

// InitialState is the saved hard state and the membership at the
// compaction point (empty when nothing was compacted). raft starts applying
// after the compaction point; conf changes after it are applied again from
// the log.
func (l *raftLog) InitialState() (*pb.HardState, *pb.ConfState, error) {
	hs, _, err := l.mem.InitialState()
	l.mu.RLock()
	defer l.mu.RUnlock()
	cs := proto.Clone(l.snap.GetMetadata().GetConfState()).(*pb.ConfState)
	return hs, cs, err
}

// Entries serves [lo, hi) from memory when the tail holds lo, else from
// disk. Entries at or behind the compaction point are ErrCompacted: raft
// then sends the follower the snapshot.
func (l *raftLog) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	first, _ := l.mem.FirstIndex()
	if lo >= first {
		return l.mem.Entries(lo, hi, maxSize)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if lo <= l.snap.GetMetadata().GetIndex() {
		return nil, raft.ErrCompacted
	}
	return l.diskEntries(lo, hi, maxSize)
}

// Term serves from memory when the tail holds i (or the dummy entry before
// it), else from disk.
func (l *raftLog) Term(i uint64) (uint64, error) {
	first, _ := l.mem.FirstIndex()
	if i+1 >= first {
		return l.mem.Term(i)
	}
	return l.diskTerm(i)
}

func (l *raftLog) LastIndex() (uint64, error) { return l.mem.LastIndex() }

// FirstIndex is the first entry after the compaction point.
func (l *raftLog) FirstIndex() (uint64, error) {
	c, _ := l.compacted()
	return c + 1, nil
}

// Snapshot is what raft sends a follower that needs an entry behind the
// compaction point (snapshot.go: what its Data holds): the snapshot at
// the applied index, or the compaction point when none is newer.
func (l *raftLog) Snapshot() (*pb.Snapshot, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.latest != nil && l.latest.GetMetadata().GetIndex() > l.snap.GetMetadata().GetIndex() {
		return l.latest, nil // never modified once set
	}
	return proto.Clone(l.snap).(*pb.Snapshot), nil
}

// setLatest publishes the snapshot at the applied index for Snapshot.
func (l *raftLog) setLatest(s *pb.Snapshot) {
	l.mu.Lock()
	l.latest = s
	l.mu.Unlock()
}

// compact makes snap the compaction point: it is stored and every entry up
// to its index deleted from disk, in one synced batch, then dropped from
// memory. Caller: the Ready loop, with snap at or behind the index this
// replica's ledger has durably applied.
func (l *raftLog) compact(snap *pb.Snapshot) error {
	i := snap.GetMetadata().GetIndex()
	v, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("compact raft log at %d: %w", i, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if i <= l.snap.GetMetadata().GetIndex() {
		return nil
	}
	b := l.db.NewBatch()
	b.Set([]byte(keySnapshot), v)
	b.DeleteRange(entryKey(0), entryKey(i+1))
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("compact raft log at %d: %w", i, err)
	}
	l.snap = snap
	if first, _ := l.mem.FirstIndex(); i >= first {
		if err := l.mem.Compact(i); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("compact raft log at %d: %w", i, err)
		}
	}
	return nil
}

// save makes a Ready's hard state and entries durable (fsynced when raft
// says it must be: before the messages of the same Ready go out), then
// hands them to the memory tail. New entries replace any the log held from
// their first index on: a new leader overwrote an uncommitted tail.
//
// A snapshot from the leader (not empty; its ledger state already applied
// by the caller) replaces the whole log in the same batch: it becomes the
// compaction point and every entry on disk goes, the Ready's entries (all
// after it) then written.
func (l *raftLog) save(st *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot, sync bool) error {
	b := l.db.NewBatch()
	if !raft.IsEmptySnap(snap) {
		v, err := proto.Marshal(snap)
		if err != nil {
			b.Discard()
			return fmt.Errorf("save raft snapshot: %w", err)
		}
		b.Set([]byte(keySnapshot), v)
		b.DeleteRange(entryKey(0), []byte{prefixEntry + 1})
		sync = true
	}
	if len(ents) > 0 {
		last, err := l.mem.LastIndex()
		if err != nil {
			b.Discard()
			return fmt.Errorf("save raft log: %w", err)
		}
		newLast := ents[len(ents)-1].GetIndex()
		if newLast < last {
			b.DeleteRange(entryKey(newLast+1), entryKey(last+1))
		}
		for _, e := range ents {
			v, err := proto.Marshal(e)
			if err != nil {
				b.Discard()
				return fmt.Errorf("save raft log: entry %d: %w", e.GetIndex(), err)
			}
			b.Set(entryKey(e.GetIndex()), v)
		}
	}
	if !raft.IsEmptyHardState(st) {
		v, err := proto.Marshal(st)
		if err != nil {
			b.Discard()
			return fmt.Errorf("save raft log: hard state: %w", err)
		}
		b.Set([]byte(keyHardState), v)
	}
	if err := b.Commit(sync); err != nil {
		return fmt.Errorf("save raft log: %w", err)
	}
	if !raft.IsEmptySnap(snap) {
		l.mu.Lock()
		l.snap = snap
		err := l.mem.ApplySnapshot(snap)
		l.mu.Unlock()
		if err != nil {
			return fmt.Errorf("save raft snapshot: %w", err)
		}
	}
	if !raft.IsEmptyHardState(st) {
		if err := l.mem.SetHardState(st); err != nil {
			return fmt.Errorf("save raft log: %w", err)
		}
	}
	if err := l.mem.Append(ents); err != nil {
		return fmt.Errorf("save raft log: %w", err)
	}
	return nil
}

// trim drops from memory what lies more than cache entries behind the
// applied index (raft may compact only what is applied); disk keeps it.
func (l *raftLog) trim(applied uint64) error {
	first, _ := l.mem.FirstIndex()
	if applied < l.cache || applied-l.cache < first+l.cache {
		return nil // trim in steps of cache entries, not every Ready
	}
	if err := l.mem.Compact(applied - l.cache); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return fmt.Errorf("trim raft log: %w", err)
	}
	return nil
}

func (l *raftLog) close() error { return l.db.Close() }
