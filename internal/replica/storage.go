package replica

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/specie/specie/internal/store"
)

// raftLog is the Raft log and hard state of one replica, durable in a
// Pebble store of its own (dir/raft) and mirrored in raft's MemoryStorage,
// which raft reads from. Keys:
//
//	"h"                   -> HardState (protobuf)
//	"e" + index (u64 BE)  -> Entry (protobuf)
//
// The log is never compacted yet: a replica that falls behind, or comes
// back with an empty directory, catches up from the leader's log, entry by
// entry, from the first. (Raft snapshots are the next step; see
// docs/architecture.md, "Replication".)
type raftLog struct {
	db  *store.DB
	mem *raft.MemoryStorage
}

const (
	keyHardState = "h"
	prefixEntry  = 'e'
)

func entryKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixEntry}, i)
}

// openRaftLog opens the store in dir and loads what it holds into memory.
// fresh is true when it held nothing: the replica has never run (or its
// data was wiped) and bootstraps.
func openRaftLog(dir string) (l *raftLog, fresh bool, err error) {
	db, err := store.Open(dir, store.Options{CacheBytes: 16 << 20})
	if err != nil {
		return nil, false, fmt.Errorf("open raft log: %w", err)
	}
	l = &raftLog{db: db, mem: raft.NewMemoryStorage()}
	var ents []*pb.Entry
	err = db.Scan([]byte{prefixEntry}, nil, func(_, v []byte) error {
		e := &pb.Entry{}
		if err := proto.Unmarshal(v, e); err != nil {
			return fmt.Errorf("entry: %w", err)
		}
		ents = append(ents, e)
		return nil
	})
	if err == nil && len(ents) > 0 {
		err = l.mem.Append(ents)
	}
	var hs []byte
	if err == nil {
		hs, err = db.Get([]byte(keyHardState))
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		} else if err == nil {
			st := &pb.HardState{}
			if err = proto.Unmarshal(hs, st); err == nil {
				err = l.mem.SetHardState(st)
			}
		}
	}
	if err != nil {
		db.Close()
		return nil, false, fmt.Errorf("open raft log: %w", err)
	}
	return l, len(ents) == 0 && hs == nil, nil
}

// save makes a Ready's hard state and entries durable (fsynced when raft
// says it must be: before the messages of the same Ready go out), then
// hands them to the memory mirror. New entries replace any the log held
// from their first index on: a new leader overwrote an uncommitted tail.
func (l *raftLog) save(st *pb.HardState, ents []*pb.Entry, sync bool) error {
	b := l.db.NewBatch()
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

func (l *raftLog) close() error { return l.db.Close() }
